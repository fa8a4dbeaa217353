// The values of one point over time: the acquisitions over the point (OGC API Features), then
// the `statistics` process over the ~10 m pixel under it, one interval per day, with the SCL
// cloud mask of the layer's collection so cloudy dates come back as cloud-masked.

import { acquisitions } from "./dates.js";

const PIXEL_M = 10; // ground size of the pixel sampled around the point
const MAX_SPAN_DAYS = 365; // one P1D interval per day: keep the request bounded
const MAX_SCENES = 400;
const DAY_MS = 86_400_000;

function pixelBox(latlng) {
  // A square of PIXEL_M on the ground in Web Mercator, centred on the point: the statistics
  // grid (snapped to the resolution) has exactly one cell centre inside it.
  const centre = L.CRS.EPSG3857.project(L.latLng(latlng));
  const size = PIXEL_M / Math.cos((latlng.lat * Math.PI) / 180);
  const half = size / 2;
  return { bbox: [centre.x - half, centre.y - half, centre.x + half, centre.y + half], size };
}

async function execute(inputs, signal) {
  const response = await fetch("ogcapi/processes/statistics/execution", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ inputs }),
    signal,
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.description || `statistics: HTTP ${response.status}`);
  return body;
}

// {names, points: [{date, values: {name: number|null}, cloudy}], dates, cut} for `layer`
// ({id, collection, cloudMask}) at `latlng`, with the map's expression and max cloud cover.
export async function pointSeries({ layer, expression, maxcc, latlng, signal }) {
  const e = 1e-6;
  const around = [latlng.lng - e, latlng.lat - e, latlng.lng + e, latlng.lat + e];
  const found = await acquisitions(layer.collection, around, maxcc, {
    limit: MAX_SCENES,
    signal,
  });
  if (!found.days.length) return { names: [], points: [], dates: 0, cut: found.cut };
  const newest = Date.parse(found.days[0].date);
  const kept = found.days
    .map((day) => day.date)
    .filter((date) => newest - Date.parse(date) <= MAX_SPAN_DAYS * DAY_MS)
    .reverse();
  const { bbox, size } = pixelBox(latlng);
  const inputs = {
    expression: expression || layer.id,
    collection: layer.collection,
    bbox,
    crs: "EPSG:3857",
    resolution: size,
    resampling: "nearest",
    time: `${kept[0]}/${kept[kept.length - 1]}`,
    aggregation_interval: "P1D",
    cloud_mask: layer.cloudMask,
    percentiles: [50],
    histogram: { bins: 1 },
  };
  if (maxcc !== "" && Number(maxcc) < 100) inputs.maxcc = Number(maxcc);
  const answer = await execute(inputs, signal);
  const wanted = new Set(kept);
  const points = [];
  let names = [];
  for (const row of answer.data || []) {
    const date = row.interval.from.slice(0, 10);
    if (!wanted.has(date)) continue;
    names = Object.keys(row.outputs);
    const cloudy = row.cloudMaskedCount > 0;
    if (!row.validCount && !cloudy) continue; // no data at the point that day
    const values = {};
    for (const name of names) values[name] = row.outputs[name].stats.mean;
    points.push({ date, values, cloudy });
  }
  const cut = found.cut || kept.length < found.days.length;
  return { names, points, dates: kept.length, cut };
}
