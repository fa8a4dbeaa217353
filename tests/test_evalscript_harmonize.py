"""harmonizeValues, as Sentinel Hub documents it (forum.sentinel-hub.com, "Sentinel-2
processing baseline changes and harmonizeValues"): true (the default) reads negative values as
0 and DN as 10000 x reflectance; false keeps negative reflectance and gives DN as the source
files hold them (baseline 04.00 and later: 1000 more). Translated and JavaScript-engine runs
equal Node, and an independent numpy computation."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from gateway.evalscript import EvalscriptError, compile_evalscript
from tests.support.evalscript_node import needs_node, node_reference
from tests.test_evalscript_doors import live  # noqa: F401  (the live gateway fixture)

pytestmark = needs_node


def script(harmonize: str, unit: str, engine_loop: bool = False) -> str:
    flag = f", harmonizeValues: {harmonize}" if harmonize else ""
    loop = "let x = v; while (x > 4) x /= 2; " if engine_loop else ""
    return (
        "//VERSION=3\nfunction setup() {\n  return {\n"
        f'    input: [{{ bands: ["B04", "dataMask"], units: "{unit}"{flag} }}],\n'
        '    output: { bands: 1, sampleType: "FLOAT32" } };\n}\n'
        f"function evaluatePixel(s) {{ const v = s.B04; {loop}return [v]; }}"
    )


def bands() -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(5)
    b04 = rng.uniform(-0.05, 0.3, (16, 16)).astype(np.float32)  # dark pixels: negative
    valid = rng.random((16, 16)) > 0.1
    raw = np.where(rng.random((16, 16)) > 0.5, 1000.0, 0.0)  # baseline >= 04.00 or older
    return {"B04": b04}, valid, {"B04": raw}


@pytest.mark.parametrize("engine_loop", [False, True], ids=["translated", "javascript"])
@pytest.mark.parametrize(
    ("harmonize", "unit"),
    [("", "REFLECTANCE"), ("true", "DN"), ("false", "REFLECTANCE"), ("false", "DN")],
)
def test_harmonize_values(harmonize: str, unit: str, engine_loop: bool) -> None:
    text = script(harmonize, unit, engine_loop)
    compiled = compile_evalscript(text)
    assert compiled.engine == ("javascript" if engine_loop else "translated")
    assert compiled.setup.harmonize is (harmonize != "false")
    data, valid, raw = bands()
    got = compiled.evaluate(data, valid, raw_dn=raw)["default"].data[0]
    want = node_reference(text, data, valid, raw_dn=raw)["default"][0]
    np.testing.assert_allclose(got, want, rtol=2e-7)
    b04 = np.where(valid, data["B04"].astype(np.float64), 0.0)
    if harmonize != "false":
        b04 = np.maximum(b04, 0.0)
    expected = np.rint(b04 * 10000) + (raw["B04"] if harmonize == "false" else 0) * valid
    expected = expected if unit == "DN" else b04
    if not engine_loop:
        np.testing.assert_allclose(got, expected.astype(np.float32), rtol=2e-7)
    assert (got < 0).any() == (harmonize == "false")


def test_harmonize_values_must_be_a_boolean() -> None:
    with pytest.raises(EvalscriptError, match="'harmonizeValues' must be true or false"):
        compile_evalscript(script("'no'", "DN"))


def test_wcs_reads_the_source_files_dn_with_harmonize_values_false(live):  # noqa: F811
    """The sample scenes are baseline 05.11 (N0511 in their ids): their files hold 10000 x
    reflectance + 1000; harmonized, the same pixels read 10000 x reflectance."""
    import rasterio

    from tests.test_evalscript_doors import b64, node_on_grid
    from tests.test_wcs import EXPRESSION_VERSIONS, UTM_SUBSET

    values = {}
    for flag in ("true", "false"):
        text = script(flag, "DN")
        params = {"service": "WCS", "version": "2.0.1", "request": "GetCoverage",
                  "evalscript": b64(text), **EXPRESSION_VERSIONS["2.0.1"]}  # fmt: skip
        response = httpx.get(f"{live.url}/wcs", params=params, timeout=60)
        assert response.status_code == 200, response.text[:300]
        with rasterio.MemoryFile(response.content) as memory, memory.open() as src:
            values[flag] = src.read(1)
    outputs, valid = node_on_grid(
        live.runtime, script("true", "DN"), ("B04",), bbox=UTM_SUBSET, crs="EPSG:32631",
        size=values["true"].shape[::-1], resampling="nearest",
    )  # fmt: skip
    assert valid.mean() > 0.9
    np.testing.assert_array_equal(values["true"][valid], outputs["default"][0][valid])
    np.testing.assert_array_equal(values["false"][valid], values["true"][valid] + 1000)


def scl_script(unit: str) -> str:
    units = f', units: "{unit}"' if unit else ""
    return (
        '//VERSION=3\nfunction setup() {\n  return { input: [{ bands: ["SCL"]'
        + units
        + ' }], output: { bands: 1, sampleType: "UINT8" } };\n}\n'
        "function evaluatePixel(s) { return [s.SCL]; }"
    )


@needs_node
def test_wcs_scene_classes_read_as_dn_are_the_classes(live):  # noqa: F811
    """SCL in DN (as Sentinel Hub gives it, e.g. the published cloudless mosaic) is its
    classes, as with the default unit: not 10000 times them."""
    import rasterio

    from tests.test_evalscript_doors import b64, node_on_grid
    from tests.test_wcs import EXPRESSION_VERSIONS, UTM_SUBSET

    values = {}
    for unit in ("DN", ""):
        params = {"service": "WCS", "version": "2.0.1", "request": "GetCoverage",
                  "evalscript": b64(scl_script(unit)), **EXPRESSION_VERSIONS["2.0.1"]}  # fmt: skip
        response = httpx.get(f"{live.url}/wcs", params=params, timeout=60)
        assert response.status_code == 200, response.text[:300]
        with rasterio.MemoryFile(response.content) as memory, memory.open() as src:
            values[unit] = src.read(1)
    outputs, valid = node_on_grid(
        live.runtime, scl_script(""), ("SCL",), bbox=UTM_SUBSET, crs="EPSG:32631",
        size=values["DN"].shape[::-1], resampling="nearest",
    )  # fmt: skip
    classes = outputs["default"][0][valid]
    assert valid.mean() > 0.9 and len(np.unique(classes)) > 1 and classes.max() <= 11
    np.testing.assert_array_equal(values[""][valid], classes)
    np.testing.assert_array_equal(values["DN"][valid], classes)
