"""EVALSCRIPT on WMS GetMap: the script replaces the layer's expression and style over the
layer's collection; the decoded picture equals the script run pixel by pixel in Node on the
same reflectances (the engine's mosaic of the same request)."""

from __future__ import annotations

import base64
import io
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np
import pytest
from lxml import etree
from PIL import Image

from gateway.core.request import build_request
from tests.support.evalscript_node import needs_node, node_reference
from tests.support.mapproxy_live import live_server

UTM31 = (700000.0, 5832000.0, 703000.0, 5835000.0)
CLEAR_DAY = "2025-06-13"
NDVI_RAMP = Path(__file__).parents[1] / "config" / "evalscripts" / "ndvi_ramp.js"
THRESHOLDS = """//VERSION=3
function setup() { return { input: ["B03", "B04", "B08"], output: { bands: 3 } }; }
function evaluatePixel(s) {
  const ndvi = index(s.B08, s.B04);
  if (ndvi > 0.5) return [0, 0.6, 0];
  if (s.B03 > 0.15) return [1, 1, 1];
  return [2.5 * s.B04, 2.5 * s.B03, ndvi];
}"""


@pytest.fixture(scope="module")
def live(sample_settings):
    with live_server(sample_settings) as server:
        yield server


def _getmap(script: str | None, **extra: str) -> dict[str, str]:
    params = {
        "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "NDVI",
        "STYLES": "", "FORMAT": "image/png", "TRANSPARENT": "TRUE", "TIME": CLEAR_DAY,
        "CRS": "EPSG:32631", "BBOX": ",".join(map(str, UTM31)), "WIDTH": "96", "HEIGHT": "80",
    }  # fmt: skip
    if script is not None:
        params["EVALSCRIPT"] = base64.b64encode(script.encode()).decode()
    params.update(extra)
    return params


def _expected_rgba(runtime, script: str, bands: tuple[str, ...]) -> np.ndarray:
    """Node's pixels of ``script`` on the engine's mosaic of the same request, as RGBA."""
    request = build_request(
        runtime.config, layer="NDVI", bbox=UTM31, crs="EPSG:32631", width=96, height=80,
        time=CLEAR_DAY,
    )  # fmt: skip
    raster = runtime.engine.mosaic(replace(request, cloud_mask=False), bands)
    inputs = {b: raster.band(b).astype(np.float64) for b in bands}
    data = node_reference(script, inputs, raster.valid)["default"].astype(np.uint8)
    if len(data) == 3:
        data = np.concatenate([data, np.full((1, *data.shape[1:]), 255, np.uint8)])
    return np.moveaxis(data, 0, -1)


@needs_node
@pytest.mark.parametrize(
    ("script", "bands"),
    [
        (NDVI_RAMP.read_text(), ("B04", "B08")),
        (THRESHOLDS, ("B03", "B04", "B08")),
    ],
    ids=["the configured NDVI ramp with dataMask alpha", "thresholds and early returns, RGB"],
)
def test_getmap_evalscript_equals_node(live, script, bands):
    response = httpx.get(f"{live.url}/wms", params=_getmap(script), timeout=60)
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"] == "image/png"
    picture = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGBA"))
    expected = _expected_rgba(live.runtime, script, bands)
    assert picture.shape == expected.shape
    assert (picture == expected).all(), np.argwhere((picture != expected).any(axis=-1))[:5]
    assert len(np.unique(picture.reshape(-1, 4), axis=0)) > 20  # a real picture, not a fill


def test_getmap_evalscript_changes_the_cache_key(live):
    """The same map with another script (or none) is other pixels, not a cached answer."""
    layer = httpx.get(f"{live.url}/wms", params=_getmap(None), timeout=60)
    green = "//VERSION=3\nfunction setup() { return { input: ['B04'], output: { bands: 3 } }; }\n"
    first = httpx.get(
        f"{live.url}/wms",
        params=_getmap(green + "function evaluatePixel(s) { return [0, 1, 0]; }"),
        timeout=60,
    )
    second = httpx.get(
        f"{live.url}/wms",
        params=_getmap(green + "function evaluatePixel(s) { return [0, 0, 1]; }"),
        timeout=60,
    )
    pictures = [
        np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB")) for r in (first, second)
    ]
    assert (pictures[0] == (0, 255, 0)).all() and (pictures[1] == (0, 0, 255)).all()
    assert layer.content != first.content


@pytest.mark.parametrize(
    ("script", "raw", "message"),
    [
        (None, "not base64!", "base64"),
        ("//VERSION=3\nfunction setup() {\n  return {;\n}", None, "line 3, column"),
        (
            "//VERSION=3\nfunction setup() { return { input: ['B99'], output: { bands: 3 } }; }\n"
            "function evaluatePixel(s) { return [s.B99, 0, 0]; }",
            None,
            "'B99', which is not a band",
        ),
        (
            "//VERSION=3\nfunction setup() { return { input: ['B04'], output: { bands: 1, "
            "sampleType: 'FLOAT32' } }; }\nfunction evaluatePixel(s) { return [s.B04]; }",
            None,
            "sampleType AUTO or UINT8",
        ),
        (
            "//VERSION=3\nfunction setup() { return { input: ['B04'], output: { bands: 1 } }; }\n"
            "function evaluatePixel(s) {\n  while (s.B04 < 1) {}\n  return [1];\n}",
            None,
            "the script ran longer than 5000 ms",  # the JavaScript engine's time limit
        ),
    ],
)
def test_bad_evalscript_gets_a_service_exception(live, script, raw, message):
    params = _getmap(script)
    if raw is not None:
        params["EVALSCRIPT"] = raw
    response = httpx.get(f"{live.url}/wms", params=params, timeout=60)
    assert response.status_code == 400
    document = etree.fromstring(response.content)
    (found,) = document.findall("{http://www.opengis.net/ogc}ServiceException")
    assert found.get("code") == "InvalidParameterValue"
    assert found.get("locator") == "evalscript"
    assert message in found.text, found.text
