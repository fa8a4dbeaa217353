"""The evalscript translator, construct by construct: each script runs in Node pixel by pixel
and through the translator on the same arrays, and the outputs must agree (exactly for
integer sample types, within float32 rounding for FLOAT32)."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.core.bandmath import parse_expression
from gateway.evalscript import compile_evalscript
from tests.support.evalscript_node import assert_matches_node, needs_node, sample_bands

pytestmark = needs_node

SETUP_RGB = """//VERSION=3
function setup() {
  return { input: ["B02", "B03", "B04", "B08", "B11", "dataMask"], output: { bands: 3 } };
}
"""
SETUP_FLOAT = """//VERSION=3
function setup() {
  return {
    input: ["B02", "B03", "B04", "B08", "B11", "dataMask"],
    output: { bands: 3, sampleType: "FLOAT32" }
  };
}
"""

SCRIPTS: dict[str, str] = {
    "arithmetic and Math": SETUP_FLOAT
    + """
function evaluatePixel(s) {
  const a = Math.abs(s.B04 - s.B08) * Math.sqrt(s.B02) + Math.pow(s.B03, 2.5) - s.B11 ** 3;
  const b = Math.exp(-s.B04) + Math.log(s.B08 + 1) + Math.log10(s.B02 + 0.5) + Math.PI * Math.E
    + Math.min(s.B02, s.B03, s.B04) - Math.max(s.B08, s.B11) + Math.atan2(s.B03, s.B04)
    + Math.hypot(s.B02, s.B03) + Math.cbrt(s.B04 - 0.3) + Math.sign(s.B08 - 0.3)
    + Math.sin(s.B02) * Math.cos(s.B03) - Math.tan(s.B04) + Math.atan(s.B11) + Math.asin(s.B02)
    + Math.acos(s.B03) + Math.tanh(s.B08) + Math.log1p(s.B11) + Math.expm1(s.B02);
  const c = Math.floor(s.B08 * 10) + Math.ceil(s.B04 * 10) + Math.round(s.B03 * 10 - 0.5)
    + Math.trunc(s.B02 * 10 - 3) + (s.B08 * 100) % 7 + (-s.B04 * 100) % 3 + +s.B02 - -s.B03;
  return [a, b, c];
}""",
    "division by zero, NaN and Infinity": SETUP_FLOAT
    + """
function evaluatePixel(s) {
  const ratio = s.B08 / s.B04;
  const nan = (s.B02 - s.B02) / (s.B02 - s.B02);
  const big = isFinite(ratio) ? ratio : -1;
  return [isNaN(ratio) ? 42 : big, isNaN(nan) ? Infinity : 0, Math.max(nan, 1) || 7];
}""",
    "variables: let, const, var, compound assignment, ++": SETUP_FLOAT
    + """
var scale = 2;
function evaluatePixel(s) {
  let x = s.B04;
  x += s.B08; x *= scale; x -= 0.1; x /= 3; x **= 2;
  var n = 0;
  n++; n++; ++n; n--;
  let y, z = 1;
  y = z = x + n;
  return [x, y, z + n];
}""",
    "if/else chains and early returns": SETUP_RGB
    + """
function evaluatePixel(s) {
  if (s.dataMask == 0) return [0, 0, 0];
  const ndvi = (s.B08 - s.B04) / (s.B08 + s.B04);
  if (ndvi < -0.2) {
    return [0, 0, 1];
  } else if (ndvi < 0.1) {
    if (s.B02 > 0.3) return [1, 1, 1];
    return [0.5, 0.5, 0.5];
  } else if (ndvi < 0.4) {
    return [0.8, 0.9, 0.2];
  }
  return [0, ndvi, 0];
}""",
    "assignments inside branches, then used": SETUP_RGB
    + """
function evaluatePixel(s) {
  let r = 0, g = 0, b;
  if (s.B04 > 0.3) { r = 1; b = s.B02; } else if (s.B08 > 0.2) { g = s.B08 * 2; }
  else { r = 0.5; g = 0.5; }
  var late;
  if (s.B11 < 0.2) late = 0.25;
  return [r, g + (late || 0), b === undefined ? 0.75 : b];
}""",
    "ternaries, && and || giving operands": SETUP_FLOAT
    + """
function evaluatePixel(s) {
  const t = s.B04 > 0.3 ? (s.B08 > 0.3 ? 1 : 2) : s.B02 < 0.1 ? 3 : 4;
  const u = (s.B04 > 0.2 && s.B08) || (s.B02 - 0.25) || 9;
  const v = !(s.B03 > 0.3) && !(s.B11 > 0.3) ? 1 : 0;
  return [t, u, v + (s.B04 > 0.2) + (s.B08 >= 0.25 == true)];
}""",
    "arrays: index, length, push, spread, map, reduce, includes, indexOf": SETUP_FLOAT
    + """
const WEIGHTS = [0.2, 0.3, 0.5];
function evaluatePixel(s) {
  const bands = [s.B02, s.B03, s.B04];
  const scaled = bands.map((v, i) => v * WEIGHTS[i]);
  const total = scaled.reduce((a, b) => a + b, 0);
  const out = [];
  out.push(total);
  out.push(bands.length + WEIGHTS.indexOf(0.3));
  const classes = [1, 2, 5];
  const cls = Math.floor(s.B08 * 10);
  out.push(classes.includes(cls) ? classes.indexOf(cls) : Math.max(...bands));
  return out;
}""",
    "loops: for with break/continue on pixel values, while, for...of": SETUP_FLOAT
    + """
const THRESHOLDS = [0.1, 0.2, 0.3, 0.4, 0.5];
function evaluatePixel(s) {
  let level = 0;
  for (let i = 0; i < THRESHOLDS.length; i++) {
    if (s.B08 < THRESHOLDS[i]) break;
    level = i + 1;
  }
  let odd = 0;
  for (let i = 0; i < 6; i++) {
    if (i % 2 == 0) continue;
    if (s.B04 * 10 < i) continue;
    odd += i;
  }
  let k = 0, acc = 0;
  while (k < 4) { acc += s.B02 * k; k++; }
  do { acc -= 0.01; } while (false);
  for (const t of THRESHOLDS) { if (s.B03 > t) acc += t; }
  return [level, odd, acc];
}""",
    "functions: helpers, arrow functions, defaults, destructuring, closures": SETUP_FLOAT
    + """
function stretch(v, lo = 0, hi = 0.5) { return (v - lo) / (hi - lo); }
const norm = (a, b) => (a - b) / (a + b);
function pick(s) {
  const { B04, B08 } = s;
  if (B08 > B04) return [B08, B04];
  return [B04, B08];
}
function makeGain(g) { return v => v * g; }
function evaluatePixel(s) {
  const [hi, lo] = pick(s);
  const gain = makeGain(3);
  return [stretch(hi), norm(hi, lo), gain(stretch(s.B02, 0.1))];
}""",
    "switch with fall-through and default": SETUP_RGB
    + """
function evaluatePixel(s) {
  const c = Math.floor(s.B08 * 10);
  let r = 0;
  switch (c) {
    case 0: r = 0.1; break;
    case 1:
    case 2: r = 0.5;
    case 3: r += 0.25; break;
    case 4: return [1, 0, 1];
    default: r = 1;
  }
  return [r, c / 10, 0];
}""",
    "strings and typeof known at translation": SETUP_RGB
    + """
const MODE = "ndwi";
const label = `mode-${MODE}`;
function evaluatePixel(s) {
  let v;
  if (MODE === "ndvi") v = index(s.B08, s.B04);
  else if (label == "mode-ndwi" && typeof s.B03 === "number") v = index(s.B03, s.B08);
  if (typeof s.missing === "undefined" && s.missing === undefined) v = v * 2;
  return [v, -v, MODE.length / 10];
}""",
    "integer sample types and clamping": """//VERSION=3
function setup() {
  return {
    input: ["B04", "B08"],
    output: [
      { id: "u8", bands: 2, sampleType: "UINT8" },
      { id: "u16", bands: 1, sampleType: "UINT16" },
      { id: "auto", bands: 1, sampleType: "AUTO" },
      { id: "f", bands: 1, sampleType: "FLOAT32" }
    ]
  };
}
function evaluatePixel(s) {
  const v = index(s.B08, s.B04);
  return {
    u8: [v * 300 + 100, s.B04 * 255],
    u16: [s.B08 * 65535 * 1.2],
    auto: [v < 0 ? NaN : v * 1.5],
    f: [v]
  };
}""",
    "DN units": """//VERSION=3
function setup() {
  return {
    input: [{ bands: ["B04", "B08"], units: ["DN", "REFLECTANCE"] }],
    output: { bands: 2, sampleType: "UINT16" }
  };
}
function evaluatePixel(s) { return [s.B04, s.B08 * 10000]; }""",
    "try/catch around code that cannot throw": SETUP_FLOAT
    + """
const LIMIT = 0.2;
function wet(g, n) {
  let w = 0;
  try {
    var ndwi = index(g, n), mndwi = (g - n) / (g + n);
    if (ndwi > LIMIT || mndwi > 2 * LIMIT) { w = 1; }
  } catch (err) { w = -1; }
  return w;
}
function evaluatePixel(s) {
  try { if (s.B04 > 0.4) return [wet(s.B03, s.B08), 1, 2]; } catch (e) { return [9, 9, 9]; }
  return [wet(s.B02, s.B11), s.B04, 0];
}""",
    "bitwise operators between comparisons": SETUP_FLOAT
    + """
function evaluatePixel(s) {
  const both = (s.B04 > 0.2) & (s.B08 > 0.3), either = (s.B02 < 0.1) | (s.B03 >= 0.25);
  const one = (s.B11 > 0.3) ^ (s.B04 > 0.3);
  if ((s.B04 > 0.3) & (s.B02 > 0.05)) return [both + 10, either, one];
  return [both - 1, either * 2, one + ((s.B02 > 0.4) & true)];
}""",
    "constructors: new, this, new Array": SETUP_FLOAT
    + """
var Scaler = function (gain) {
  var offset = 0.1;
  this.gain = gain;
  this.apply = function (x) { return x * gain + offset; };
  this.half = () => this.gain / 2;
};
function Pair(a, b) { this.a = a; this.b = b; return 5; }
function Boxed(v) { return [v, v * 2]; }
function evaluatePixel(s) {
  const sc = new Scaler(2.5), p = new Pair(s.B04, s.B08), box = new Boxed(s.B03);
  const counts = new Array(3);
  if (s.B04 > 0.3) { counts[0] = 1; counts[1] = s.B08; } else { counts[0] = 2; counts[1] = s.B02; }
  const hole = counts[2] === undefined ? 1 : 0;
  return [sc.apply(p.a) + sc.half(), counts[0] + counts[1] + hole, box[1] + new Array(2, 3)[1]];
}""",
    "SampleType constants": """//VERSION=3
function setup() {
  return {
    input: ["B04", "B08"],
    output: [
      { id: "u16", bands: 1, sampleType: SampleType.UINT16 },
      { id: "f", bands: 1, sampleType: SampleType.FLOAT32 }
    ]
  };
}
function evaluatePixel(s) {
  const wide = SampleType.UINT16 === "UINT16" && SampleType.AUTO === "AUTO";
  return { u16: [wide ? s.B08 * 60000 : 0], f: [SampleType.INT8 == "INT8" ? s.B04 : -1] };
}""",
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_construct_matches_node(name: str) -> None:
    script = SCRIPTS[name]
    compiled = compile_evalscript(script)
    assert compiled.engine == "translated", compiled.javascript and compiled.javascript.reason
    bands, valid = sample_bands(compiled.setup.bands, seed=len(name))
    assert_matches_node(script, bands, valid)


def test_branches_become_masks_not_recompilation() -> None:
    """if/else and early returns translate into a few numexpr steps: the script runs on whole
    arrays, not per pixel."""
    es = compile_evalscript(SCRIPTS["if/else chains and early returns"])
    assert len(es.programme.steps) < 40
    assert any("where(" in e.text for e in es.programme.outputs["default"])


def test_ndvi_script_is_one_numexpr_pass_like_the_expression() -> None:
    """A translated NDVI script evaluates one numexpr expression per output band, the one the
    EXPRESSION parameter's NDVI compiles to, up to float64."""
    script = """//VERSION=3
function setup() { return { input: ["B04", "B08"], output: { bands: 1, sampleType: "FLOAT32" } }; }
function evaluatePixel(s) { return [(s.B08 - s.B04) / (s.B08 + s.B04)]; }"""
    es = compile_evalscript(script)
    assert es.programme.steps == ()
    (band,) = es.programme.outputs["default"]
    assert band.text == "((b1 - b0) / (b1 + b0))"
    bands, valid = sample_bands(["B04", "B08"])
    valid[:] = True
    got = es.evaluate(bands, valid)["default"].data[0]
    want, _ = parse_expression("(B08-B04)/(B08+B04)", ["B04", "B08"]).evaluate(bands, valid)
    np.testing.assert_allclose(got, want[0], rtol=1e-6, equal_nan=True)


def test_invalid_pixels_read_zero_and_data_mask_is_returned() -> None:
    script = SCRIPTS["if/else chains and early returns"]
    bands, valid = sample_bands(["B02", "B03", "B04", "B08", "B11"])
    out = compile_evalscript(script).evaluate(bands, valid)["default"]
    assert out.data.dtype == np.uint8
    assert (out.mask == valid).all()
    assert (out.data[:, ~valid] == 0).all()  # dataMask == 0 returns [0, 0, 0]


CLASSES_AS_DN = """//VERSION=3
function setup() {
  return {
    input: [{ bands: ["SCL", "B04"], units: "DN" }],
    output: { bands: 2, sampleType: "UINT16" }
  };
}
function evaluatePixel(s) {
  %s
  return [s.SCL, s.B04];
}"""


@pytest.mark.parametrize(
    ("body", "engine"),
    [("", "translated"), ("let k = 0; while (k < s.SCL) k++;", "javascript")],
)
def test_class_bands_read_as_dn_are_their_classes(body: str, engine: str) -> None:
    """SCL (a categorical band, read as its classes) in DN is its classes, as in Sentinel Hub,
    not 10000 times them; other bands' DN are 10000 x reflectance."""
    script = CLASSES_AS_DN % body
    assert compile_evalscript(script).engine == engine
    bands, valid = sample_bands(["B04"], seed=5)
    bands["SCL"] = np.random.default_rng(2).integers(0, 12, valid.shape).astype(np.float32)
    got = assert_matches_node(script, bands, valid, classes=("SCL",))["default"]
    np.testing.assert_array_equal(got[0], np.where(valid, bands["SCL"], 0))
    np.testing.assert_array_equal(got[1], np.where(valid, np.rint(bands["B04"] * 1e4), 0))
