// Acquisitions over an area, from the catalog through OGC API Features: scenes newest first,
// at most LIMIT of them, grouped by day with their cloud cover.

export const LIMIT = 500;

// [west, south, east, north] of Leaflet bounds, clamped to the globe.
export function boundsBox(bounds) {
  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
  return [
    clamp(bounds.getWest(), -180, 180),
    clamp(bounds.getSouth(), -90, 90),
    clamp(bounds.getEast(), -180, 180),
    clamp(bounds.getNorth(), -90, 90),
  ];
}

// The scenes of `collection` touching `bbox`, whose cloud cover is at most `maxcc` (if below
// 100; scenes without a cloud cover are kept): {days, returned, matched, cut}.
export async function acquisitions(collection, bbox, maxcc, { limit = LIMIT, signal } = {}) {
  const query = new URLSearchParams({
    f: "json",
    bbox: bbox.map((v) => v.toFixed(6)).join(","),
    limit: String(limit),
    offset: "0",
    sortby: "-datetime",
    properties: "datetime,eo:cloud_cover",
    skipGeometry: "true",
  });
  if (maxcc !== "" && Number(maxcc) < 100) {
    query.set("filter", `eo:cloud_cover <= ${Number(maxcc)} OR eo:cloud_cover IS NULL`);
  }
  const url = `ogcapi/collections/${encodeURIComponent(collection)}/items?${query}`;
  const response = await fetch(url, { signal, headers: { Accept: "application/geo+json" } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(body.description || `acquisitions: HTTP ${response.status}`);
  }
  const features = body.features || [];
  const matched = Number.isInteger(body.numberMatched) ? body.numberMatched : null;
  const cut = matched === null ? features.length >= limit : matched > features.length;
  return { days: groupByDay(features), returned: features.length, matched, cut };
}

// Scenes -> [{date: "YYYY-MM-DD", scenes, cloudMin, cloudMax}], newest day first.
export function groupByDay(features) {
  const days = new Map();
  for (const feature of features) {
    const when = feature.properties && feature.properties.datetime;
    if (!when) continue;
    const date = when.slice(0, 10);
    const cloud = feature.properties["eo:cloud_cover"];
    const day = days.get(date) || { date, scenes: 0, cloudMin: null, cloudMax: null };
    day.scenes += 1;
    if (typeof cloud === "number") {
      day.cloudMin = day.cloudMin === null ? cloud : Math.min(day.cloudMin, cloud);
      day.cloudMax = day.cloudMax === null ? cloud : Math.max(day.cloudMax, cloud);
    }
    days.set(date, day);
  }
  return [...days.values()].sort((a, b) => (a.date < b.date ? 1 : -1));
}

function cloudText(day) {
  if (day.cloudMin === null) return "cloud n/a";
  const round = (v) => (v < 10 ? v.toFixed(1) : v.toFixed(0));
  const low = round(day.cloudMin);
  const high = round(day.cloudMax);
  return low === high ? `☁ ${low} %` : `☁ ${low}–${high} %`;
}

function entry(date, label, detail, cloud, chosen, title = "") {
  const button = document.createElement("button");
  button.type = "button";
  button.title = title;
  button.dataset.date = date;
  button.setAttribute("aria-pressed", String(chosen));
  const name = document.createElement("span");
  name.textContent = label;
  const side = document.createElement("span");
  side.className = "cloud";
  side.textContent = detail;
  button.append(name, side);
  if (cloud !== null) {
    const bar = document.createElement("span");
    bar.className = "bar";
    const fill = document.createElement("span");
    fill.style.width = `${Math.min(100, Math.max(0, cloud))}%`;
    bar.append(fill);
    button.append(bar);
  }
  const item = document.createElement("li");
  item.append(button);
  return item;
}

// The list: "all dates" (no TIME), then one entry per day; `chosen` is pressed.
export function renderDates(list, days, chosen) {
  const items = [entry("", "All dates, latest on top", "", null, chosen === "")];
  for (const day of days) {
    const scenes = day.scenes === 1 ? "1 scene" : `${day.scenes} scenes`;
    const title = `${scenes}, cloud cover of the scenes: ${cloudText(day)}`;
    items.push(entry(day.date, day.date, cloudText(day), day.cloudMax, day.date === chosen, title));
  }
  list.replaceChildren(...items);
}

// The sentences under the title: how many dates, and whether the list was cut.
export function describeList(result, chosen) {
  const { days, returned, matched, cut } = result;
  if (!days.length) return "No acquisition over this area.";
  const sentences = [`${days.length} date${days.length === 1 ? "" : "s"}, ${returned} scenes.`];
  if (cut) {
    const of = matched === null ? "more" : matched.toLocaleString("en");
    sentences.push(`List cut: the latest ${returned} scenes of ${of}; zoom in for older dates.`);
  }
  if (chosen && !days.some((d) => d.date === chosen)) {
    sentences.push(`The chosen date ${chosen} has no acquisition here.`);
  }
  return sentences.join(" ");
}
