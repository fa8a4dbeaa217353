// The gateway's viewer: layers and dates come from the WMTS capabilities; tiles from the
// REST template /wmts/1.0.0/{layer}/WebMercatorQuad/{time}/{z}/{x}/{y}.png with MAXCC and
// EXPRESSION as query parameters.
"use strict";

const WMTS = "http://www.opengis.net/wmts/1.0";
const OWS = "http://www.opengis.net/ows/1.1";
const state = { layers: [], tiles: null, loaded: 0, errors: 0 };

function text(node, ns, name) {
  const found = node.getElementsByTagNameNS(ns, name)[0];
  return found ? found.textContent.trim() : "";
}

function children(node, ns, name) {
  return Array.from(node.childNodes).filter((c) => c.namespaceURI === ns && c.localName === name);
}

async function readCapabilities() {
  const response = await fetch("wmts/1.0.0/WMTSCapabilities.xml");
  if (!response.ok) throw new Error(`capabilities: HTTP ${response.status}`);
  const xml = new DOMParser().parseFromString(await response.text(), "application/xml");
  const contents = xml.getElementsByTagNameNS(WMTS, "Contents")[0];
  return children(contents, WMTS, "Layer").map((layer) => {
    const box = layer.getElementsByTagNameNS(OWS, "WGS84BoundingBox")[0];
    const corner = (name) => text(box, OWS, name).split(/\s+/).map(Number);
    const dimension = children(layer, WMTS, "Dimension")
      .find((d) => text(d, OWS, "Identifier").toLowerCase() === "time");
    return {
      id: text(layer, OWS, "Identifier"),
      title: text(layer, OWS, "Title"),
      bounds: box ? [corner("LowerCorner"), corner("UpperCorner")] : null,
      times: dimension ? children(dimension, WMTS, "Value").map((v) => v.textContent.trim()) : [],
      defaultTime: dimension ? text(dimension, WMTS, "Default") : "default",
    };
  });
}

function fillSelect(select, options, selected) {
  select.replaceChildren(...options.map(([value, label]) => {
    const option = new Option(label, value);
    option.selected = value === selected;
    return option;
  }));
}

function status(message, error = false) {
  const node = document.getElementById("status");
  node.textContent = message;
  node.className = error ? "error" : "";
}

function tileUrl(layer, time, maxcc, expression) {
  const query = new URLSearchParams();
  if (maxcc !== "" && Number(maxcc) < 100) query.set("MAXCC", maxcc);
  if (expression) query.set("EXPRESSION", expression);
  const suffix = query.toString() ? `?${query}` : "";
  const name = encodeURIComponent(layer);
  return `wmts/1.0.0/${name}/WebMercatorQuad/${encodeURIComponent(time)}/{z}/{x}/{y}.png${suffix}`;
}

function show(map) {
  const layer = state.layers.find((l) => l.id === document.getElementById("layer").value);
  const time = document.getElementById("time").value;
  const maxcc = document.getElementById("maxcc").value;
  const expression = document.getElementById("expression").value.trim();
  if (state.tiles) map.removeLayer(state.tiles);
  state.loaded = 0;
  state.errors = 0;
  document.body.dataset.tiles = "loading";
  state.tiles = L.tileLayer(tileUrl(layer.id, time, maxcc, expression), {
    maxZoom: 18, minZoom: 3, tileSize: 256, crossOrigin: true, attribution: "Copernicus Sentinel data",
  });
  state.tiles.on("tileload", () => { state.loaded += 1; });
  state.tiles.on("tileerror", () => {
    state.errors += 1;
    status("some tiles failed: check the expression", true);
  });
  state.tiles.on("load", () => {
    document.body.dataset.tiles = "loaded";
    if (!state.errors) status(`${layer.title} · ${time} · ${state.loaded} tiles`);
  });
  state.tiles.addTo(map);
}

async function main() {
  const map = L.map("map");
  window.viewer = { map, state };
  state.layers = await readCapabilities();
  fillSelect(document.getElementById("layer"), state.layers.map((l) => [l.id, l.title]), "NDVI");
  const layerSelect = document.getElementById("layer");
  const timeSelect = document.getElementById("time");
  const fillTimes = () => {
    const layer = state.layers.find((l) => l.id === layerSelect.value);
    const times = [...layer.times].reverse().map((t) => [t, t]);
    fillSelect(timeSelect, times, layer.defaultTime);
  };
  fillTimes();
  layerSelect.addEventListener("change", () => { fillTimes(); show(map); });
  timeSelect.addEventListener("change", () => show(map));
  document.getElementById("controls").addEventListener("submit", (event) => {
    event.preventDefault();
    show(map);
  });
  const first = state.layers.find((l) => l.id === layerSelect.value);
  const [[west, south], [east, north]] = first.bounds || [[-10, 35], [30, 60]];
  map.fitBounds([[south, west], [north, east]]);
  show(map);
}

main().catch((error) => status(String(error), true));
