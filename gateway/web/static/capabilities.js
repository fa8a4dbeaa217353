// What the viewer knows about the layers: ids, titles and extents from the WMTS capabilities,
// and from /viewer/layers.json the catalog collection each layer's dates come from.

const WMTS = "http://www.opengis.net/wmts/1.0";
const OWS = "http://www.opengis.net/ows/1.1";

function text(node, ns, name) {
  const found = node.getElementsByTagNameNS(ns, name)[0];
  return found ? found.textContent.trim() : "";
}

function children(node, ns, name) {
  return Array.from(node.childNodes).filter((c) => c.namespaceURI === ns && c.localName === name);
}

async function json(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

async function wmtsLayers() {
  const response = await fetch("wmts/1.0.0/WMTSCapabilities.xml");
  if (!response.ok) throw new Error(`capabilities: HTTP ${response.status}`);
  const xml = new DOMParser().parseFromString(await response.text(), "application/xml");
  const contents = xml.getElementsByTagNameNS(WMTS, "Contents")[0];
  return children(contents, WMTS, "Layer").map((layer) => {
    const box = layer.getElementsByTagNameNS(OWS, "WGS84BoundingBox")[0];
    const corner = (name) => text(box, OWS, name).split(/\s+/).map(Number);
    return {
      id: text(layer, OWS, "Identifier"),
      title: text(layer, OWS, "Title"),
      bounds: box ? [corner("LowerCorner"), corner("UpperCorner")] : null,
    };
  });
}

// Layers as {id, title, bounds, collection, cloudMask}, and the backdrop layer's id (or null).
export async function readLayers() {
  const [layers, catalog] = await Promise.all([wmtsLayers(), json("viewer/layers.json")]);
  const known = layers.filter((layer) => catalog.layers[layer.id]);
  return {
    layers: known.map((layer) => ({ ...layer, ...catalog.layers[layer.id] })),
    backdrop: catalog.backdrop,
  };
}
