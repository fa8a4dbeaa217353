// The view in the URL's hash, so that a view can be shared:
// #layer=NDVI&time=2025-06-13&maxcc=30&expression=...&lat=52.62&lon=6.07&zoom=14&point=52.6,6.0

const KEYS = ["layer", "time", "maxcc", "expression", "lat", "lon", "zoom", "point"];

// The state the hash holds: only the keys present and not empty.
export function readHash(hash = window.location.hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const state = {};
  for (const key of KEYS) {
    const value = params.get(key);
    if (value !== null && value !== "") state[key] = value;
  }
  return state;
}

// Writes the state into the hash without a history entry (moving the map would flood it).
export function writeHash(state) {
  const params = new URLSearchParams();
  for (const key of KEYS) {
    const value = state[key];
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  window.history.replaceState(null, "", `#${params}`);
}

// "lat,lon" -> {lat, lng} or null.
export function parsePoint(text) {
  const parts = (text || "").split(",").map(Number);
  if (parts.length !== 2 || !parts.every(Number.isFinite)) return null;
  return { lat: parts[0], lng: parts[1] };
}
