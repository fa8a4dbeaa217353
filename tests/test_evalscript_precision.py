"""Which translated outputs are computed in float32 (gateway/evalscript/precision.py), and that
they stay within float32 rounding of V8's float64 value; the rest stays float64, exactly."""

from __future__ import annotations

import numexpr
import numpy as np
import pytest

from gateway.evalscript import compile_evalscript
from gateway.evalscript.kernels import segment_left, segment_right
from gateway.evalscript.precision import single_precision
from gateway.evalscript.samples import DTYPES, clamp, clamped, convert, template
from tests.support.evalscript_node import assert_matches_node, needs_node, sample_bands

HEADER = (
    "//VERSION=3\nfunction setup() { return { input: ['B04', 'B08', 'dataMask'], "
    "output: { bands: 1, sampleType: 'FLOAT32' } }; }\n"
)
SINGLE = {  # evaluatePixel's value -> its float64 reference over float32 b4, b8 and mask m
    "(s.B08 - s.B04) / (s.B08 + s.B04)": lambda b4, b8, m: (b8 - b4) / (b8 + b4),
    "index(s.B08, s.B04)": lambda b4, b8, m: np.where(b8 + b4 != 0, (b8 - b4) / (b8 + b4), 0),
    "s.B04 * 2.5": lambda b4, b8, m: b4 * 2.5,
    "s.B08 * s.dataMask / 0.3": lambda b4, b8, m: b8 * m / 0.3,
    "s.B04 > 0 ? s.B08 - s.B04 : 0.1": lambda b4, b8, m: np.where(b4 > 0, b8 - b4, 0.1),
    # a condition computed before (in float64) selects float32 values
    "s.B04 > 0.3 ? s.B08 / s.B04 : s.B04": lambda b4, b8, m: np.where(b4 > 0.3, b8 / b4, b4),
}
DOUBLE = {  # cancellation, functions, comparisons with other than 0: float64, then rounded
    "(s.B08 - 0.3 * s.B04) / (s.B08 + s.B04)": lambda b4, b8: (b8 - 0.3 * b4) / (b8 + b4),
    "Math.sqrt(s.B08 * s.B04)": lambda b4, b8: np.sqrt(b8 * b4),
    "Math.abs(s.B08 - s.B04)": lambda b4, b8: np.abs(b8 - b4),
    "(s.B08 - s.B04) / (s.B08 + s.B04) * 2.5": lambda b4, b8: (b8 - b4) / (b8 + b4) * 2.5,
}


def script(value: str) -> str:
    return HEADER + f"function evaluatePixel(s) {{ return [{value}]; }}"


def reflectances(shape: tuple[int, int] = (512, 512)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    b4, b8 = (rng.uniform(0, 0.6, shape).astype(np.float32) for _ in range(2))
    b4.reshape(-1)[:50] = 0  # zero sums with b8's zeros
    b8.reshape(-1)[:25] = 0
    b8.reshape(-1)[50:80] = b4.reshape(-1)[50:80]  # zero differences
    return b4, b8


def float32_programme(value: str) -> bool:
    """Whether the script's output runs as a float32 programme."""
    evalscript = compile_evalscript(script(value))
    (expr,) = evalscript.programme.outputs["default"]
    bands = frozenset(evalscript.programme.inputs)
    masks = frozenset(s.name for s in evalscript.programme.steps if s.kind == "b")
    return not expr.constant and single_precision(expr.text, bands, masks) is not None


@pytest.mark.parametrize("value", list(SINGLE))
def test_short_arithmetic_is_float32_within_two_ulp_of_v8(value):
    assert float32_programme(value)
    b4, b8 = reflectances()
    valid = np.ones(b4.shape, dtype=bool)
    got = compile_evalscript(script(value)).evaluate({"B04": b4, "B08": b8}, valid)
    data = got["default"].data[0]
    assert data.dtype == np.float32
    with np.errstate(all="ignore"):
        want = SINGLE[value](b4.astype(np.float64), b8.astype(np.float64), 1.0).astype(np.float32)
    finite = np.isfinite(want)
    assert (np.isnan(data) == np.isnan(want)).all()
    np.testing.assert_array_equal(data[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)])
    ulps = np.abs(data[finite].view(np.int32).astype(np.int64) - want[finite].view(np.int32))
    assert ulps.max() <= 2
    np.testing.assert_allclose(data[finite], want[finite], rtol=2.4e-7, atol=0)


@pytest.mark.parametrize("value", list(DOUBLE))
def test_other_arithmetic_stays_float64_exactly(value):
    assert not float32_programme(value)
    b4, b8 = reflectances((128, 128))
    valid = np.ones(b4.shape, dtype=bool)
    got = compile_evalscript(script(value)).evaluate({"B04": b4, "B08": b8}, valid)
    with np.errstate(all="ignore"):
        want = DOUBLE[value](b4.astype(np.float64), b8.astype(np.float64)).astype(np.float32)
    np.testing.assert_array_equal(got["default"].data[0], want)


@needs_node
@pytest.mark.parametrize("value", list(SINGLE))
def test_float32_programmes_equal_node(value):
    bands, valid = sample_bands(("B04", "B08"), shape=(40, 40), seed=3)
    assert_matches_node(script(value), bands, valid)


def test_inputs_are_read_as_they_are_when_valid_and_masked_in_one_pass_otherwise():
    evalscript = compile_evalscript(script("s.B04"))
    b4, b8 = reflectances((16, 16))
    valid = np.ones(b4.shape, dtype=bool)
    inputs = evalscript._inputs({"B04": b4, "B08": b8}, valid, 10000.0)
    assert inputs["B04"] is b4 and inputs["dataMask"].dtype == np.float32
    b4 = b4.copy()
    b4.reshape(-1)[:4] = (-0.0, -0.5, np.nan, 0.25)
    valid.reshape(-1)[3] = False
    inputs = evalscript._inputs({"B04": b4, "B08": b8}, valid, 10000.0)
    want = np.where(valid, np.maximum(b4, np.float32(0)), np.float32(0))
    assert inputs["B04"].dtype == np.float32
    np.testing.assert_array_equal(inputs["B04"], want)
    assert not np.signbit(inputs["B04"].reshape(-1)[0])  # -0 becomes 0, as np.maximum


@pytest.mark.parametrize("sample_type", ["AUTO", "UINT8", "UINT16", "INT8", "INT16", "FLOAT32"])
def test_each_conversion_template_is_the_numpy_conversion(sample_type):
    """The conversion of an output (numexpr fused into its expression, then numpy's clamp and
    the cast) and the numpy one (constants): halves up, clamped, NaN 0, on the edges."""
    edges = [np.nan, np.inf, -np.inf, -0.0, 0.0, -0.5, 0.5, 0.49999999999999994, 254.5,
             255.49999999999997, 255.5, 256, 65534.5, 65535.5, -128.5, -128.50000000000003,
             127.5, 32767.5, -32768.5, 1e300, -1e300]  # fmt: skip
    rng = np.random.default_rng(5)
    values = np.concatenate([edges, rng.uniform(-40000, 70000, 4000), rng.uniform(-1, 2, 4000)])
    out = np.empty(values.shape, dtype=DTYPES[sample_type])
    program = numexpr.NumExpr(template(sample_type).format("v"), [("v", np.float64)])
    with np.errstate(all="ignore"):
        if clamped(sample_type):
            clamp(program(values, ex_uses_vml=False), sample_type, out)
        else:
            program(values, out=out, casting="unsafe", ex_uses_vml=False)
    np.testing.assert_array_equal(out, convert(values, sample_type))


def test_segments_compare_in_float64_as_the_sorted_search():
    """The interval of each pixel (colour ramps, valueMap): float32 pixels compared with the
    float64 limits, NaN past the last, as a sorted search of the float64 values finds."""
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.uniform(-1, 1.2, 5000), [np.nan, np.inf, -np.inf, -0.0, 0.2, 1]])
    edges = (-0.5, -0.1, 0.0, 0.025, 0.2, 0.2, 0.3, 1.0)
    for values in (x, x.astype(np.float32)):
        for kernel, side in ((segment_left, "left"), (segment_right, "right")):
            truth = np.searchsorted(np.asarray(edges), values.astype(np.float64), side=side)
            np.testing.assert_array_equal(kernel(values, edges), truth)
