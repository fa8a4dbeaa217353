// Sentinel Hub's evalscript helper functions, as its documentation describes them
// (https://docs.sentinel-hub.com/api/latest/evalscript/functions). The gateway's JavaScript
// engine (gateway/evalscript/engine.py) defines them before a script it runs; the Node
// reference of the tests (tests/support/evalscript_reference.js) too. The translator
// (gateway/evalscript/helpers.py) is written independently of this file.
const JAVA_DOUBLE_MAX_VAL = 1.7976931348623157E308;
const SampleType = Object.freeze({
  AUTO: "AUTO", UINT8: "UINT8", UINT16: "UINT16", INT8: "INT8", INT16: "INT16", FLOAT32: "FLOAT32",
});

function index(x, y) { return x + y != 0 ? (x - y) / (x + y) : 0; }
function inverse(x) { return x != 0 ? 1.0 / x : JAVA_DOUBLE_MAX_VAL; }

function lerp__(a, b, t) {
  if (Array.isArray(a)) return a.map((x, k) => x * (1 - t) + b[k] * t);
  return a * (1 - t) + b * t;
}

function valueInterpolate(value, intervals, values) {
  if (!Array.isArray(intervals) || !Array.isArray(values)) return value;
  if (value <= intervals[0]) return values[0];
  for (let i = 1; i < intervals.length; i++) {
    if (value <= intervals[i]) {
      const t = (value - intervals[i - 1]) / (intervals[i] - intervals[i - 1]);
      return lerp__(values[i - 1], values[i], t);
    }
  }
  return values[values.length - 1];
}
const colorBlend = valueInterpolate;

function valueMap(value, intervals, values) {
  if (!Array.isArray(intervals) || !Array.isArray(values)) return value;
  for (let i = 0; i < intervals.length; i++) {
    if (value <= intervals[i]) return values[i];
  }
  return values[values.length - 1];
}

function combine(color1, color2, alpha) {
  if (Array.isArray(color1)) return color1.map((x, i) => x * alpha + color2[i] * (1 - alpha));
  return color1 * alpha + color2 * (1 - alpha);
}
function normalizeRGB(rgb) { return rgb.map(x => x / 255); }
function rgb2int(rgb) { return rgb[0] * 65536 + rgb[1] * 256 + rgb[2]; }
function int2rgb(c) { return [(c >>> 16) & 255, (c >>> 8) & 255, c & 255]; }

function colour255__(c) { return Array.isArray(c) ? c.map(x => x * 255) : int2rgb(c); }

class ColorRampVisualizer {
  constructor(ramps, minVal, maxVal) {
    let positions = ramps.map(r => r[0]);
    const lo = positions[0], hi = positions[positions.length - 1];
    if (hi !== lo && (minVal !== undefined || maxVal !== undefined)) {
      const a = minVal === undefined ? lo : minVal, z = maxVal === undefined ? hi : maxVal;
      positions = positions.map(p => a + (p - lo) / (hi - lo) * (z - a));
    }
    this.positions = positions;
    this.colors = ramps.map(r => colour255__(r[1]));
  }
  process(value) {
    const p = this.positions, c = this.colors;
    if (value <= p[0]) return c[0].map(x => x / 255);
    for (let i = 1; i < p.length; i++) {
      if (value <= p[i]) {
        const t = (value - p[i - 1]) / (p[i] - p[i - 1]);
        return c[i - 1].map((x, k) => Math.floor(x + (c[i][k] - x) * t) / 255);
      }
    }
    return c[c.length - 1].map(x => x / 255);
  }
  inverse() {
    const v = Object.create(ColorRampVisualizer.prototype);
    v.positions = this.positions;
    v.colors = this.colors.slice().reverse();
    return v;
  }
}

class ColorMapVisualizer {
  constructor(valColPairs) { this.pairs = valColPairs; }
  process(val) {
    let col = this.pairs[0][1];
    for (const [v, c] of this.pairs) {
      if (val < v) break;
      col = c;
    }
    return Array.isArray(col) ? col.slice() : int2rgb(col).map(x => x / 255);
  }
}

const GRADIENTS__ = {
  redTemperature: [[1.0, 0x000000], [0.525, 0xAE0000], [0.3, 0xFF6E00], [0.25, 0xFF8600], [0.0, 0xFFFFFF]],
  greenWhite: [[1.0, 0x000000], [0.6, 0x006600], [0.3, 0x80B300], [0.0, 0xFFFFFF]],
  blueRed: [[1.0, 0x000080], [0.875, 0x0000FF], [0.625, 0x00FFFF], [0.375, 0xFFFF00], [0.125, 0xFF0000], [0.0, 0x800000]],
};

class ColorGradientVisualizer {
  constructor(valColPairs, minVal = 0.0, maxVal = 1.0) {
    this.minVal = minVal;
    this.maxVal = maxVal;
    this.pairs = valColPairs.map(vc => [minVal * vc[0] + maxVal * (1 - vc[0]), colour255__(vc[1])]);
  }
  process(val) {
    const P = this.pairs, n = P.length;
    let c = P[n - 1][1];
    if (val <= this.minVal) c = P[0][1];
    else if (!(val >= this.maxVal)) {
      let pre = P[0][0];
      for (let i = 1; i < n; i++) {
        if (val > pre && val <= P[i][0]) {
          const alpha = (val - pre) / (P[i][0] - pre);
          c = P[i][1].map((x, k) => Math.round(x * alpha + P[i - 1][1][k] * (1 - alpha)));
          break;
        }
        pre = P[i][0];
      }
    }
    return c.map(x => x / 255);
  }
  static createRedTemperature(a, z) { return new ColorGradientVisualizer(GRADIENTS__.redTemperature, a, z); }
  static createWhiteGreen(a, z) { return new ColorGradientVisualizer(GRADIENTS__.greenWhite, a, z); }
  static createBlueRed(a, z) { return new ColorGradientVisualizer(GRADIENTS__.blueRed, a, z); }
}

function clamp__(num, min, max) { return Math.max(Math.min(num, max), min); }

class Stretch__ {
  constructor(minValue = 0.0, maxValue = 1.0, gain = 1.0, offset = 0.0, gamma = 1.0) {
    this.minValue = minValue;
    this.maxValue = maxValue;
    this.gain = gain;
    this.offset = offset;
    this.gamma = gamma;
    this.highlightAdjust = 0 < maxValue && maxValue < 1;
    this.factor = 1.0 / (maxValue - minValue);
    this.highlightFactor = (1.0 - 0.92) / (2.0 - 0.92);
  }
  stretch(val, highlight) {
    let v = this.gain * (val - this.minValue) * this.factor + this.offset;
    if (this.gamma != 1.0) {
      v = Math.pow(Math.max(0, v), this.gamma);
      if (!highlight) return v;
    }
    if (highlight && this.highlightAdjust && v > 0.92) {
      v = clamp__(0.92 + (v - 0.92) * this.highlightFactor, 0.0, 1.0);
    }
    return clamp__(v, 0.0, 1.0);
  }
  processList(values) { return values.map(v => this.process(v)); }
}
class HighlightCompressVisualizer extends Stretch__ { process(val) { return this.stretch(val, true); } }
class HighlightCompressVisualizerSingle extends Stretch__ { process(val) { return [this.stretch(val, true)]; } }
class Identity { process(val) { return Array.isArray(val) ? val : [val]; } }
class DefaultVisualizer extends Stretch__ { process(val) { return this.stretch(val, false); } }
