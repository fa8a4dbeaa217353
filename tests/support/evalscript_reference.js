// The JavaScript reference for the evalscript translator: runs a V3 script pixel by pixel
// in Node, with Sentinel Hub's helper functions defined as its documentation describes them
// (gateway/evalscript/sentinelhub.js, written independently of the Python translation). Input on stdin (JSON):
//   {script, bands: {name: [values...]}, valid: [0|1...], dnFactor, classes: [band...]}
// Output on stdout (JSON): {outputs: {id: [[band 0 values...], ...]}, setup}; non-finite
// numbers as the strings "NaN", "Infinity", "-Infinity".
"use strict";
const vm = require("vm");

const HELPERS = require("fs").readFileSync(
  require("path").join(__dirname, "..", "..", "gateway", "evalscript", "sentinelhub.js"), "utf8");

const RANGES = { UINT8: [0, 255], UINT16: [0, 65535], INT8: [-128, 127], INT16: [-32768, 32767] };

function convert(v, type) {
  if (type === "FLOAT32") return Math.fround(v);
  let range = RANGES[type];
  if (type === "AUTO") {
    v = Math.min(Math.max(v, 0), 1) * 255;
    range = RANGES.UINT8;
  }
  const r = Math.round(v);
  if (Number.isNaN(r)) return 0;
  return Math.min(Math.max(r, range[0]), range[1]);
}

function encode(x) {
  if (Number.isFinite(x)) return x;
  return Number.isNaN(x) ? "NaN" : x > 0 ? "Infinity" : "-Infinity";
}

function main(request) {
  const context = vm.createContext({});
  vm.runInContext(HELPERS + "\n" + request.script, context, { timeout: 10000 });
  const setup = context.setup();
  const outputs = [].concat(setup.output).map(o => ({
    id: o.id || "default", bands: o.bands, sampleType: (o.sampleType || "AUTO").toUpperCase(),
  }));
  const inputs = [];
  for (const input of [].concat(setup.input)) {
    if (typeof input === "string") inputs.push([input, "REFLECTANCE"]);
    else input.bands.forEach((b, i) => {
      const u = Array.isArray(input.units) ? input.units[i] : (input.units || "REFLECTANCE");
      inputs.push([b, u.toUpperCase()]);
    });
  }
  // request.scenes (ORBIT/TILE): a list of {bands, valid}, most recent first
  const scenes = request.scenes || [{ bands: request.bands, valid: request.valid, rawDn: request.rawDn }];
  const multi = request.scenes !== undefined;
  const n = scenes.length ? scenes[0].valid.length : request.pixels;
  const result = {};
  for (const o of outputs) result[o.id] = Array.from({ length: o.bands }, () => new Array(n));
  // harmonizeValues (true unless an input object says false): negative values read 0; false
  // and DN: request.rawDn[band] (per pixel) added, the source files' own DN
  const harmonize = [].concat(setup.input).every(i => typeof i === "string" || i.harmonizeValues !== false);
  const classes = new Set(request.classes || []);  // bands read as classes (SCL): DN as they are
  const sampleOf = (scene, p) => {
    const ok = scene.valid[p] === 1;
    const sample = {};
    for (const [band, unit] of inputs) {
      if (band === "dataMask") { sample[band] = ok ? 1 : 0; continue; }
      const v = ok ? (harmonize ? Math.max(scene.bands[band][p], 0) : scene.bands[band][p]) : 0;
      const raw = !harmonize && ok && scene.rawDn && scene.rawDn[band] ? scene.rawDn[band][p] : 0;
      const dn = classes.has(band) ? v : Math.round(v * request.dnFactor) + raw;
      sample[band] = unit === "DN" ? dn : v;
    }
    return sample;
  };
  const sceneInfo = multi ? (request.sceneInfo || {}) : {};
  for (let p = 0; p < n; p++) {
    const samples = multi ? scenes.map(s => sampleOf(s, p)) : sampleOf(scenes[0], p);
    const value = context.evaluatePixel(samples, multi ? sceneInfo : {}, { normalizationFactor: 1 / request.dnFactor }, {}, { userData: {} });
    for (const o of outputs) {
      const values = Array.isArray(value) ? value : value === undefined ? undefined : value[o.id];
      for (let k = 0; k < o.bands; k++) {
        result[o.id][k][p] = encode(convert(values === undefined ? undefined : values[k], o.sampleType));
      }
    }
  }
  return { outputs: result, setup: outputs };
}

let text = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", chunk => { text += chunk; });
process.stdin.on("end", () => { process.stdout.write(JSON.stringify(main(JSON.parse(text)))); });
