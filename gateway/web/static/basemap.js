// The background drawn where no layer has data, all served by the gateway (works offline):
// land and country borders from Natural Earth 1:50m (world-atlas), and a labelled graticule.

const STEPS = [30, 10, 5, 2, 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005];
const LINES_ACROSS = 6;

function pane(map, name, zIndex) {
  map.createPane(name).style.zIndex = String(zIndex);
  map.getPane(name).style.pointerEvents = "none";
  return name;
}

const TILE = 256;
const MAX_LAT = 85.0511287798;
const LAND = { fill: "#f1eee4", outline: "#b3aa95", border: "#9a8f78" };

// Lines of a GeoJSON geometry as [[lon, lat], ...] arrays with their bounding boxes.
function parts(geometry, rings) {
  const lists = geometry.type.startsWith("Multi") ? geometry.coordinates : [geometry.coordinates];
  return lists.map((part) => {
    const lines = rings ? part : [part];
    const points = lines.flat();
    const lons = points.map((p) => p[0]);
    const lats = points.map((p) => p[1]);
    const box = [Math.min(...lons), Math.min(...lats), Math.max(...lons), Math.max(...lats)];
    return { lines, box };
  });
}

// Web Mercator pixel of a lon/lat at a zoom level.
function pixel(lon, lat, size) {
  const phi = (Math.max(-MAX_LAT, Math.min(MAX_LAT, lat)) * Math.PI) / 180;
  const y = (1 - Math.log(Math.tan(phi) + 1 / Math.cos(phi)) / Math.PI) / 2;
  return [((lon + 180) / 360) * size, y * size];
}

function tileBox(x, y, z) {
  const n = 2 ** z;
  const lat = (row) => (Math.atan(Math.sinh(Math.PI * (1 - (2 * row) / n))) * 180) / Math.PI;
  return [(x / n) * 360 - 180, lat(y + 1), ((x + 1) / n) * 360 - 180, lat(y)];
}

// Adds the segments of a line (tile pixels) that may cross the tile to the path.
function traceNear(context, points) {
  const margin = 8;
  const low = -margin;
  const high = TILE + margin;
  // Which sides of the tile a point is beyond, as bits: two points beyond a common side
  // cannot draw a segment across the tile.
  const outside = ([px, py]) =>
    (px < low) | ((px > high) << 1) | ((py < low) << 2) | ((py > high) << 3);
  let drawing = false;
  for (let i = 1; i < points.length; i += 1) {
    if (outside(points[i - 1]) & outside(points[i])) {
      drawing = false; // both ends beyond the same edge
      continue;
    }
    if (!drawing) context.moveTo(...points[i - 1]);
    context.lineTo(...points[i]);
    drawing = true;
  }
}

const touches = (a, b) => a[0] <= b[2] && b[0] <= a[2] && a[1] <= b[3] && b[1] <= a[3];

// Land and borders drawn into canvas tiles, each from the parts touching it: a zoom or a pan
// projects only what it shows, and tiles are kept as Leaflet keeps any tile.
const LandLayer = L.GridLayer.extend({
  initialize(land, borders, options) {
    L.GridLayer.prototype.initialize.call(this, options);
    this.land = land;
    this.borders = borders;
  },

  createTile(coords) {
    const tile = document.createElement("canvas");
    tile.width = TILE;
    tile.height = TILE;
    const n = 2 ** coords.z;
    const x = ((coords.x % n) + n) % n; // the world copy this tile shows
    const box = tileBox(x, coords.y, coords.z);
    const context = tile.getContext("2d");
    const at = ([lon, lat]) => {
      const [px, py] = pixel(lon, lat, TILE * n);
      return [px - x * TILE, py - coords.y * TILE];
    };
    const near = this.land.filter((part) => touches(part.box, box));
    // Fill whole rings (a fill needs them closed) ...
    context.beginPath();
    for (const ring of near.flatMap((part) => part.lines)) {
      ring.forEach((point, i) => (i ? context.lineTo(...at(point)) : context.moveTo(...at(point))));
    }
    context.fillStyle = LAND.fill;
    context.fill("evenodd");
    // ... but stroke only the segments near the tile: a dashed line is laid out along its
    // whole length, millions of pixels for a border at high zooms.
    const stroke = (lines, colour, width, dash) => {
      context.beginPath();
      for (const line of lines) traceNear(context, line.map(at));
      context.setLineDash(dash);
      context.strokeStyle = colour;
      context.lineWidth = width;
      context.stroke();
    };
    stroke(near.flatMap((part) => part.lines), LAND.outline, 0.7, []);
    const borders = this.borders.filter((part) => touches(part.box, box));
    stroke(borders.flatMap((part) => part.lines), LAND.border, 0.8, [4, 3]);
    return tile;
  },
});

async function addLand(map, name) {
  const response = await fetch("viewer/world-atlas/countries-50m.json");
  if (!response.ok) throw new Error(`land: HTTP ${response.status}`);
  const world = await response.json();
  const land = topojson
    .feature(world, world.objects.land)
    .features.flatMap((feature) => parts(feature.geometry, true));
  const borders = parts(topojson.mesh(world, world.objects.countries, (a, b) => a !== b), false);
  new LandLayer(land, borders, { pane: name, tileSize: TILE }).addTo(map);
}

function degrees(value, step, positive, negative) {
  const digits = Math.max(0, Math.ceil(-Math.log10(step) - 1e-9));
  const hemisphere = value > 0 ? positive : value < 0 ? negative : "";
  return `${Math.abs(value).toFixed(digits)}°${hemisphere ? ` ${hemisphere}` : ""}`;
}

function drawGraticule(map, group, name) {
  group.clearLayers();
  const bounds = map.getBounds();
  const west = Math.max(-180, bounds.getWest());
  const east = Math.min(180, bounds.getEast());
  const south = Math.max(-85, bounds.getSouth());
  const north = Math.min(85, bounds.getNorth());
  const span = Math.max(east - west, north - south);
  const step = STEPS.find((s) => span / s >= LINES_ACROSS - 2) || STEPS[STEPS.length - 1];
  const line = { pane: name, color: "#7d97ad", weight: 0.6, opacity: 0.7, interactive: false };
  const labelAt = (latlng, text, anchor) =>
    L.marker(latlng, {
      pane: name, interactive: false, keyboard: false,
      icon: L.divIcon({
        className: "graticule-label", html: text, iconSize: null, iconAnchor: anchor,
      }),
    }).addTo(group);
  const inset = (north - south) * 0.01;
  for (let lon = Math.ceil(west / step) * step; lon <= east; lon += step) {
    L.polyline([[south, lon], [north, lon]], line).addTo(group);
    labelAt([north - inset, lon], degrees(lon, step, "E", "W"), [-3, 0]);
  }
  for (let lat = Math.ceil(south / step) * step; lat <= north; lat += step) {
    L.polyline([[lat, west], [lat, east]], line).addTo(group);
    labelAt([lat, west], degrees(lat, step, "N", "S"), [-3, 13]);
  }
}

// Adds the background under every tile layer; resolves when the land is drawn.
export function addBasemap(map) {
  const landPane = pane(map, "land", 150);
  const gridPane = pane(map, "graticule", 160);
  const graticule = L.layerGroup().addTo(map);
  const redraw = () => drawGraticule(map, graticule, gridPane);
  map.on("moveend", redraw);
  map.whenReady(redraw);
  return addLand(map, landPane);
}
