"""Sentinel Hub's evalscript helpers: the documented examples, and each helper against Node
(tests/support/evalscript_reference.js defines them from the documentation) on many pixels."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.evalscript import compile_evalscript
from tests.support.evalscript_node import assert_matches_node, needs_node, sample_bands


def _float_script(outputs: int, body: str, prelude: str = "") -> str:
    """A script of ``body`` over x = B04, y = B08 (harmonizeValues false: negative values as
    they are)."""
    return f"""//VERSION=3
function setup() {{
  return {{ input: [{{ bands: ["B04", "B08"], harmonizeValues: false }}],
           output: {{ bands: {outputs}, sampleType: "FLOAT32" }} }};
}}
{prelude}
function evaluatePixel(s) {{ const x = s.B04; const y = s.B08; {body} }}"""


def _run(script: str, xs: list[float], ys: list[float] | None = None) -> np.ndarray:
    """The FLOAT32 output for pixels with B04 = xs (B08 = ys), one row."""
    x = np.array([xs], dtype=np.float64)
    y = np.array([ys if ys is not None else xs], dtype=np.float64)
    out = compile_evalscript(script).evaluate({"B04": x, "B08": y}, np.ones(x.shape, bool))
    return out["default"].data[:, 0, :].astype(np.float64)


def test_documented_examples() -> None:
    """The examples of docs.sentinel-hub.com/api/latest/evalscript/functions."""
    ramp = _float_script(
        3,
        "return viz.process(x);",
        "const viz = new ColorRampVisualizer([[200, 0xFF0000], [300, [0, 0, 1]]]);",
    )
    got = _run(ramp, [199, 200, 250, 299, 300])
    np.testing.assert_allclose(
        got.T,
        [[1, 0, 0], [1, 0, 0], [127 / 255, 0, 127 / 255], [2 / 255, 0, 252 / 255], [0, 0, 1]],
    )
    colour_map = _float_script(
        3,
        "return viz.process(x);",
        "const viz = new ColorMapVisualizer([[200, 0xff0000], [300, 0x0000ff]]);",
    )
    np.testing.assert_allclose(
        _run(colour_map, [199, 200, 250, 299, 300]).T,
        [[1, 0, 0], [1, 0, 0], [1, 0, 0], [1, 0, 0], [0, 0, 1]],
    )
    highlight = _float_script(
        1, "return [viz.process(x)];", "const viz = new HighlightCompressVisualizer(0.1, 0.4);"
    )
    np.testing.assert_allclose(
        _run(highlight, [0, 0.1, 0.25, 0.376, 0.4, 0.7, 1.1])[0],
        [0, 0, 0.5, 0.92, 0.92592592, 1, 1],
        atol=1e-6,
    )
    gradient = _float_script(
        3, "return ColorGradientVisualizer.createWhiteGreen(0.0, 1.0).process(x);"
    )
    np.testing.assert_allclose(
        _run(gradient, [0.0, 0.3, 0.5, 0.8, 1.0]).T,
        [
            [0, 0, 0],
            [0, 0.2980392156862745, 0],
            [0.16862745098039217, 0.5019607843137255, 0],
            [0.6666666666666666, 0.8, 0.3333333333333333],
            [1, 1, 1],
        ],
    )
    interpolate = _float_script(
        2,
        "return [valueInterpolate(x, [-10, -5, 0, 5, 10], [-1000, -50, 0, 50, 1000]),"
        " valueMap(x, [1, 3, 5, 7, 10], [100, 300, 500, 700, 900])];",
    )
    got = _run(interpolate, [0, -10, 9, 5, 1, 2, 12])
    np.testing.assert_allclose(got[0], [0, -1000, 810, 50, 10, 20, 1000])
    np.testing.assert_allclose(got[1], [100, 100, 900, 500, 100, 300, 900])
    simple = _float_script(
        3,
        "return [index(x, y), inverse(x), combine([100, 0, 0], [0, 100, 0], x)[1]];",
    )
    got = _run(simple, [0.6, 0.5, 2.0, 0.0, 0.5], [0.4, -0.5, 2.0, 0.0, 0.5])
    np.testing.assert_allclose(got[0], [0.2, 0, 0, 0, 0], atol=1e-7)
    # inverse(0) is JAVA_DOUBLE_MAX_VAL, which a FLOAT32 output holds as infinity
    np.testing.assert_allclose(got[1], [1 / 0.6, 2, 0.5, np.inf, 2], rtol=1e-7)
    np.testing.assert_allclose(got[2], [40, 50, -100, 100, 50])
    colours = _float_script(
        3, "return [rgb2int([1, 0, 1]), int2rgb(65537)[2], normalizeRGB([255, 51, 0])[1]];"
    )
    np.testing.assert_allclose(_run(colours, [0]).T, [[65537, 1, 0.2]])


HELPER_SCRIPTS: dict[str, tuple[int, str, str]] = {
    "colorBlend and valueInterpolate": (
        4,
        "const c = colorBlend(index(y, x), [-0.5, 0, 0.3, 0.8], [[0, 0, 0.5], [1, 1, 1], "
        "[0.2, 0.8, 0.2], [0, 0.3, 0]]); "
        "return [...c, valueInterpolate(x * 2, [0.1, 0.5, 0.9], [3, -1, 7])];",
        "",
    ),
    "valueMap with colours": (
        3,
        "return valueMap(x * 12, [1, 3, 5, 7, 10], [[1, 0, 0], [0, 1, 0], [0, 0, 1], "
        "[1, 1, 0], [0, 1, 1]]);",
        "",
    ),
    "ColorRampVisualizer with min/max and inverse": (
        4,
        "return [...viz.process(index(y, x)), inv.process(x)[1]];",
        "const viz = new ColorRampVisualizer([[0, 0xFF8800], [0.5, [0.1, 0.9, 0.3]], "
        "[1, 0x0000FF]], -0.6, 0.8); const inv = viz.inverse();",
    ),
    "ColorMapVisualizer": (
        3,
        "return viz.process(index(y, x));",
        "const viz = new ColorMapVisualizer([[-1.0, 0x000000], [-0.2, 0xff0000],"
        " [0.0, 0x660000], [0.1, 0xffff33], [0.3, 0x666600], [0.6, 0x006666]]);",
    ),
    "ColorGradientVisualizer": (
        3,
        "const a = new ColorGradientVisualizer([[1.0, 0x000000], [0.5, 0xAE0000], "
        "[0.0, 0xFFFFFF]], 0.05, 0.5).process(x); "
        "const b = ColorGradientVisualizer.createBlueRed(0.1, 0.5).process(y); "
        "const c = ColorGradientVisualizer.createRedTemperature(0, 0.6).process(x); "
        "return [a[0], b[1], c[2]];",
        "",
    ),
    "HighlightCompressVisualizer, Single and DefaultVisualizer": (
        4,
        "return [h.process(x), ...single.process(y), g.process(x), d.process(y)];",
        "const h = new HighlightCompressVisualizer(0.05, 0.45, 1.2, 0.01); "
        "const single = new HighlightCompressVisualizerSingle(0, 0.3); "
        "const g = new HighlightCompressVisualizer(0, 0.5, 1, 0, 0.8); "
        "const d = new DefaultVisualizer(0, 0.4, 1.1, 0, 1.3);",
    ),
    "index, inverse, combine, normalizeRGB, rgb2int": (
        4,
        "const c = combine([x, 0.2, 1], [0.5, y, 0], index(x, y) + 0.5); "
        "return [index(x, y), Math.min(inverse(x - 0.25), 1e6), c[0] + c[1] + c[2], "
        "rgb2int(normalizeRGB([x * 255, y * 255, 1]))];",
        "",
    ),
}


@needs_node
@pytest.mark.parametrize("name", sorted(HELPER_SCRIPTS))
@pytest.mark.parametrize("sample_type", ["FLOAT32", "AUTO"])
def test_helper_matches_node(name: str, sample_type: str) -> None:
    outputs, body, prelude = HELPER_SCRIPTS[name]
    script = _float_script(outputs, body, prelude).replace('"FLOAT32"', f'"{sample_type}"')
    bands, valid = sample_bands(["B04", "B08"], shape=(32, 32), seed=len(name))
    assert_matches_node(script, bands, valid)
