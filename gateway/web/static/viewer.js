// The gateway's viewer. Tiles: WMTS KVP GetTile (TIME only when a date is chosen, MAXCC and
// EXPRESSION as vendor parameters) over the MOSAIC_TRUE_COLOR backdrop and an offline basemap;
// the legend: WMS GetLegendGraphic; the date list: the acquisitions over the visible area
// (OGC API Features); a click: the point's values over time (the `statistics` process).
// The view lives in the URL's hash.

import { addBasemap } from "./basemap.js";
import { readLayers } from "./capabilities.js";
import { drawChart } from "./chart.js";
import { acquisitions, boundsBox, describeList, renderDates } from "./dates.js";
import { pointSeries } from "./timeseries.js";
import { parsePoint, readHash, writeHash } from "./urlstate.js";

const DEFAULT_LAYER = "NDVI";
const MOVE_DEBOUNCE_MS = 350;
const MIN_ZOOM = 2;
const MAX_ZOOM = 18;
const $ = (id) => document.getElementById(id);

const state = {
  layers: [],
  backdropId: null,
  time: "", // "" = no date chosen: TIME is left out
  tiles: null,
  backdrop: null,
  extent: null, // the outline of the layer's data
  point: null,
  marker: null,
  days: null, // the last date list: {days, returned, matched, cut}
  lastSeries: null, // the chart's last series
  loaded: 0,
  errors: 0,
  datesRequest: null,
  chartRequest: null,
};

function status(node, message, error = false) {
  node.textContent = message;
  node.classList.toggle("error", error);
}

function currentLayer() {
  return state.layers.find((l) => l.id === $("layer").value);
}

function currentView() {
  return { maxcc: $("maxcc").value, expression: $("expression").value.trim() };
}

function tileUrl(layer, time, maxcc, expression) {
  const query = new URLSearchParams({
    SERVICE: "WMTS", REQUEST: "GetTile", VERSION: "1.0.0", LAYER: layer, STYLE: "default",
    TILEMATRIXSET: "WebMercatorQuad", FORMAT: "image/png",
  });
  if (time) query.set("TIME", time);
  if (maxcc !== "" && Number(maxcc) < 100) query.set("MAXCC", maxcc);
  if (expression) query.set("EXPRESSION", expression);
  return `wmts?${query}&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}`;
}

function legendUrl(layer) {
  const query = new URLSearchParams({
    SERVICE: "WMS", VERSION: "1.3.0", REQUEST: "GetLegendGraphic", LAYER: layer,
    FORMAT: "image/png", SLD_VERSION: "1.1.0",
  });
  return `wms?${query}`;
}

function saveView(map) {
  const centre = map.getCenter();
  const { maxcc, expression } = currentView();
  writeHash({
    layer: $("layer").value,
    time: state.time,
    maxcc: maxcc !== "" && Number(maxcc) < 100 ? maxcc : "",
    expression,
    lat: centre.lat.toFixed(5),
    lon: centre.lng.toFixed(5),
    zoom: map.getZoom(),
    point: state.point ? `${state.point.lat.toFixed(6)},${state.point.lng.toFixed(6)}` : "",
  });
}

function addLegend(map) {
  const legend = L.control({ position: "bottomright" });
  legend.onAdd = () => {
    const box = L.DomUtil.create("div", "legend");
    box.id = "legend";
    L.DomEvent.disableClickPropagation(box);
    const image = L.DomUtil.create("img", "", box);
    image.addEventListener("load", () => { document.body.dataset.legend = "loaded"; });
    image.addEventListener("error", () => { document.body.dataset.legend = "error"; });
    return box;
  };
  legend.addTo(map);
}

function showLegend(layer) {
  const image = document.querySelector("#legend img");
  document.body.dataset.legend = "loading";
  image.alt = `Legend of ${layer.title}`;
  image.src = legendUrl(layer.id);
}

function showExtent(map, layer) {
  if (state.extent) map.removeLayer(state.extent);
  state.extent = null;
  if (!layer.bounds) return;
  const [[west, south], [east, north]] = layer.bounds;
  state.extent = L.rectangle([[south, west], [north, east]], {
    color: "#1565c0", weight: 1, dashArray: "4 4", fill: false, interactive: false,
  }).addTo(map);
}

function showBackdrop(map, layer) {
  const wanted = state.backdropId && state.backdropId !== layer.id ? state.backdropId : null;
  if (state.backdrop && state.backdrop.options.layerId === wanted) return;
  if (state.backdrop) map.removeLayer(state.backdrop);
  state.backdrop = null;
  if (!wanted) return;
  state.backdrop = L.tileLayer(tileUrl(wanted, "", "", ""), {
    layerId: wanted, maxZoom: MAX_ZOOM, minZoom: MIN_ZOOM, zIndex: 1, opacity: 0.85,
    crossOrigin: true,
  }).addTo(map);
}

function show(map) {
  const layer = currentLayer();
  const { maxcc, expression } = currentView();
  if (state.tiles) map.removeLayer(state.tiles);
  state.loaded = 0;
  state.errors = 0;
  document.body.dataset.tiles = "loading";
  state.tiles = L.tileLayer(tileUrl(layer.id, state.time, maxcc, expression), {
    maxZoom: MAX_ZOOM, minZoom: MIN_ZOOM, zIndex: 2, crossOrigin: true,
    attribution: "Copernicus Sentinel data · Natural Earth",
  });
  state.tiles.on("tileload", () => { state.loaded += 1; });
  state.tiles.on("tileerror", () => {
    state.errors += 1;
    status($("status"), "some tiles failed: check the expression", true);
  });
  state.tiles.on("load", () => {
    document.body.dataset.tiles = "loaded";
    const when = state.time || "latest of all dates";
    if (!state.errors) status($("status"), `${layer.title} · ${when} · ${state.loaded} tiles`);
  });
  state.tiles.addTo(map);
  showBackdrop(map, layer);
  showExtent(map, layer);
  showLegend(layer);
  saveView(map);
}

function chooseDate(map, date) {
  state.time = date;
  for (const button of document.querySelectorAll("#dates button")) {
    button.setAttribute("aria-pressed", String(button.dataset.date === date));
  }
  if (state.days) status($("dates-note"), describeList(state.days, state.time));
  show(map);
  if (state.lastSeries) drawSeries(map, state.lastSeries);
}

async function refreshDates(map) {
  const layer = currentLayer();
  const { maxcc } = currentView();
  if (state.datesRequest) state.datesRequest.abort();
  const request = new AbortController();
  state.datesRequest = request;
  document.body.dataset.dates = "loading";
  try {
    const found = await acquisitions(layer.collection, boundsBox(map.getBounds()), maxcc, {
      signal: request.signal,
    });
    state.days = found;
    renderDates($("dates"), found.days, state.time);
    status($("dates-note"), describeList(found, state.time));
    document.body.dataset.dates = "loaded";
  } catch (error) {
    if (error.name === "AbortError") return;
    status($("dates-note"), String(error.message || error), true);
    document.body.dataset.dates = "error";
  }
}

function drawSeries(map, series) {
  drawChart($("chart"), series, { chosen: state.time, onPick: (date) => chooseDate(map, date) });
}

function chartNote(series, layer) {
  if (!series.points.length) return "No value at this point on the dates of its acquisitions.";
  const count = series.points.length;
  const cloudy = series.points.filter((p) => p.cloudy).length;
  let note = `${count} date${count === 1 ? "" : "s"} with data`;
  note += layer.cloudMask ? `, ${cloudy} cloudy (marked ☁).` : " (no cloud mask for this layer).";
  if (series.cut) note += " Only the latest acquisitions (one year at most) are shown.";
  return note;
}

async function openChart(map, latlng) {
  const layer = currentLayer();
  state.point = L.latLng(latlng);
  if (state.marker) state.marker.setLatLng(state.point);
  else {
    state.marker = L.circleMarker(state.point, {
      radius: 6, color: "#1565c0", weight: 2, fillColor: "#fff", fillOpacity: 0.8,
    }).addTo(map);
  }
  saveView(map);
  const panel = $("chart-panel");
  panel.hidden = false;
  const { maxcc, expression } = currentView();
  const where = `${state.point.lat.toFixed(5)}° N, ${state.point.lng.toFixed(5)}° E`;
  $("chart-title").textContent = `${expression || layer.title} at ${where}`;
  status($("chart-note"), "computing the values of this point over time…");
  state.lastSeries = null;
  drawSeries(map, { names: [], points: [] });
  if (state.chartRequest) state.chartRequest.abort();
  const request = new AbortController();
  state.chartRequest = request;
  document.body.dataset.chart = "loading";
  try {
    const series = await pointSeries({
      layer, expression, maxcc, latlng: state.point, signal: request.signal,
    });
    state.lastSeries = series;
    drawSeries(map, series);
    status($("chart-note"), chartNote(series, layer));
    document.body.dataset.chart = "loaded";
  } catch (error) {
    if (error.name === "AbortError") return;
    status($("chart-note"), String(error.message || error), true);
    document.body.dataset.chart = "error";
  }
}

function closeChart(map) {
  $("chart-panel").hidden = true;
  if (state.chartRequest) state.chartRequest.abort();
  if (state.marker) map.removeLayer(state.marker);
  state.marker = null;
  state.point = null;
  state.lastSeries = null;
  saveView(map);
}

function debounce(action, wait) {
  let timer = null;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(action, wait);
  };
}

function fillLayers(select, layers, chosen) {
  select.replaceChildren(...layers.map((layer) => new Option(layer.title, layer.id)));
  const known = layers.some((l) => l.id === chosen) ? chosen : DEFAULT_LAYER;
  select.value = layers.some((l) => l.id === known) ? known : layers[0].id;
}

function restoreView(map, saved) {
  const lat = Number(saved.lat);
  const lon = Number(saved.lon);
  const zoom = Number(saved.zoom);
  const onEarth = Math.abs(lat) <= 90 && Math.abs(lon) <= 180;
  if (saved.lat && saved.lon && saved.zoom && onEarth && zoom >= MIN_ZOOM && zoom <= MAX_ZOOM) {
    map.setView([lat, lon], Math.round(zoom));
    return;
  }
  const [[west, south], [east, north]] = currentLayer().bounds || [[-10, 35], [30, 60]];
  map.fitBounds([[south, west], [north, east]]);
}

async function main() {
  const map = L.map("map", { worldCopyJump: true, minZoom: MIN_ZOOM, maxZoom: MAX_ZOOM });
  window.viewer = { map, state };
  // The controls' height changes with the status text: keep Leaflet's size in step.
  new ResizeObserver(() => map.invalidateSize({ animate: false })).observe($("map"));
  const saved = readHash();
  addBasemap(map).catch((error) => status($("status"), String(error), true));
  addLegend(map);
  ({ layers: state.layers, backdrop: state.backdropId } = await readLayers());
  fillLayers($("layer"), state.layers, saved.layer);
  state.time = /^\d{4}-\d{2}-\d{2}$/.test(saved.time || "") ? saved.time : "";
  if (saved.maxcc) $("maxcc").value = saved.maxcc;
  if (saved.expression) $("expression").value = saved.expression;
  restoreView(map, saved);

  const refresh = () => {
    show(map);
    refreshDates(map);
    if (state.point) openChart(map, state.point);
  };
  $("layer").addEventListener("change", refresh);
  $("controls").addEventListener("submit", (event) => {
    event.preventDefault();
    refresh();
  });
  $("dates").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-date]");
    if (button) chooseDate(map, button.dataset.date);
  });
  $("chart-close").addEventListener("click", () => closeChart(map));
  map.on("click", (event) => openChart(map, event.latlng));
  const moved = debounce(() => refreshDates(map), MOVE_DEBOUNCE_MS);
  map.on("moveend", () => {
    saveView(map);
    moved();
  });
  show(map);
  refreshDates(map);
  const point = parsePoint(saved.point);
  if (point) openChart(map, point);
}

main().catch((error) => status($("status"), String(error), true));
