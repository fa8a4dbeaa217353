"""EVALSCRIPT in every door that takes EXPRESSION, by GET and by form-encoded POST: the answer,
decoded, equals the script run pixel by pixel in Node on the engine's mosaic of the same grid;
two scripts never share a cached tile."""

from __future__ import annotations

import base64
import io
from dataclasses import replace

import httpx
import morecantile
import numpy as np
import pytest
import rasterio
from PIL import Image

from gateway.core.request import build_request
from gateway.runtime import build_runtime
from tests.support.evalscript_node import needs_node, node_reference
from tests.support.mapproxy_live import DOORS, LiveServer
from tests.support.ows_live import OWS_DOORS
from tests.support.wcs_checks import wcs111_coverage
from tests.test_wcs import EXPRESSION_VERSIONS, UTM_SUBSET

CLEAR_DAY = "2025-06-13"
Z, X, Y = 12, 2116, 1341  # a WebMercatorQuad tile over the sample area (as tests/test_wmts.py)
RAMP = """//VERSION=3
function setup() { return { input: ["B04", "B08", "dataMask"], output: { bands: 4 } }; }
function evaluatePixel(s) {
  const ndvi = index(s.B08, s.B04);
  if (ndvi > 0.6) return [0, 0.5, 0, s.dataMask];
  return [...valueInterpolate(ndvi, [-0.2, 0.6], [[1, 1, 0.8], [0.1, 0.8, 0.1]]), s.dataMask];
}"""
VALUES = """//VERSION=3
function setup() {
  return { input: ["B04", "B08", "dataMask"], output: [
    { id: "default", bands: 2, sampleType: "FLOAT32" },
    { id: "mask", bands: 1, sampleType: "UINT8" }] };
}
function evaluatePixel(s) {
  return { default: [index(s.B08, s.B04), s.B08 * 2], mask: [s.dataMask * (s.B04 > 0.05 ? 2 : 1)] };
}"""


def b64(script: str) -> str:
    return base64.b64encode(script.encode()).decode()


def solid(rgb: str) -> str:
    """A script painting every pixel one colour (two of them differ in the script only)."""
    return (
        "//VERSION=3\nfunction setup() { return { input: ['B04'], output: { bands: 3 } }; }\n"
        f"function evaluatePixel(s) {{ return [{rgb}]; }}"
    )


@pytest.fixture(scope="module")
def live(sample_settings, redis_server):
    redis_server.start()
    settings = sample_settings.model_copy(update={"redis_url": redis_server.url})
    runtime = build_runtime(settings)
    server = LiveServer(runtime, doors=(*DOORS, *OWS_DOORS)).start()
    yield server
    server.stop()
    runtime.close()


def node_on_grid(runtime, script, bands, *, bbox, crs, size, resampling=None):
    """Node's outputs of ``script`` on the engine's mosaic (no cloud mask) of this grid."""
    request = build_request(
        runtime.config, layer="NDVI", bbox=bbox, crs=crs, width=size[0], height=size[1],
        time=CLEAR_DAY, resampling=resampling,
    )  # fmt: skip
    raster = runtime.engine.mosaic(replace(request, cloud_mask=False), bands)
    inputs = {b: raster.band(b).astype(np.float64) for b in bands}
    return node_reference(script, inputs, raster.valid), raster.valid


def rgba(content: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(content)).convert("RGBA"))


def tile_expected(runtime, script) -> np.ndarray:
    bounds = tuple(morecantile.tms.get("WebMercatorQuad").xy_bounds(X, Y, Z))
    outputs, _ = node_on_grid(
        runtime, script, ("B04", "B08"), bbox=bounds, crs="EPSG:3857", size=(256, 256)
    )
    return np.moveaxis(outputs["default"].astype(np.uint8), 0, -1)


def rest_tile(live, script: str, method: str = "GET") -> httpx.Response:
    url = f"{live.url}/wmts/1.0.0/NDVI/WebMercatorQuad/{CLEAR_DAY}/{Z}/{X}/{Y}.png"
    if method == "POST":
        return httpx.post(url, data={"EVALSCRIPT": script}, timeout=60)
    return httpx.get(url, params={"EVALSCRIPT": b64(script)}, timeout=60)


# --- WMTS ----------------------------------------------------------------------------------


@needs_node
def test_wmts_tiles_rest_and_kvp_equal_node(live):
    expected = tile_expected(live.runtime, RAMP)
    rest = rest_tile(live, RAMP)
    assert rest.status_code == 200, rest.text[:300]
    assert (rgba(rest.content) == expected).all()
    kvp = httpx.get(f"{live.url}/wmts", params={
        "SERVICE": "WMTS", "REQUEST": "GetTile", "VERSION": "1.0.0", "LAYER": "NDVI",
        "STYLE": "default", "TILEMATRIXSET": "WebMercatorQuad", "TILEMATRIX": str(Z),
        "TILEROW": str(Y), "TILECOL": str(X), "FORMAT": "image/png", "TIME": CLEAR_DAY,
        "EVALSCRIPT": b64(RAMP)}, timeout=60)  # fmt: skip
    assert (rgba(kvp.content) == expected).all()
    # (OWSLib's gettile takes this WMTS's REST template and drops vendor parameters.)
    assert len(np.unique(expected.reshape(-1, 4), axis=0)) > 20  # a real picture


def test_two_scripts_never_share_a_tile(live):
    """Same tile, two scripts (and the layer): three pictures, three ETags; each script's
    second request is a hit of its own tile, by GET and by POST."""
    green, blue = solid("0, 1, 0"), solid("0, 0, 1")
    first = rest_tile(live, green)
    second = rest_tile(live, blue)
    layer = httpx.get(
        f"{live.url}/wmts/1.0.0/NDVI/WebMercatorQuad/{CLEAR_DAY}/{Z}/{X}/{Y}.png", timeout=60
    )
    assert (rgba(first.content)[..., :3] == (0, 255, 0)).all()
    assert (rgba(second.content)[..., :3] == (0, 0, 255)).all()
    assert len({first.headers["etag"], second.headers["etag"], layer.headers["etag"]}) == 3
    again = rest_tile(live, blue, method="POST")
    assert again.headers["x-cache"] == "hit" and again.content == second.content
    url = f"{live.url}/wmts/1.0.0/NDVI/WebMercatorQuad/{CLEAR_DAY}/{Z}/{X}/{Y}.png"
    validated = [
        httpx.get(url, params={"EVALSCRIPT": b64(script)}, timeout=60,
                  headers={"If-None-Match": second.headers["etag"]})
        for script in (blue, green)
    ]  # fmt: skip
    assert [r.status_code for r in validated] == [304, 200]  # the other script's ETag: no match
    posted = rest_tile(live, green, method="POST")
    assert posted.content == first.content


# --- WMS -----------------------------------------------------------------------------------


def wms_params(script: str, **extra: str) -> dict[str, str]:
    return {
        "SERVICE": "WMS", "VERSION": "1.3.0", "LAYERS": "NDVI", "STYLES": "",
        "CRS": "EPSG:32631", "BBOX": ",".join(map(str, UTM_SUBSET)), "WIDTH": "100",
        "HEIGHT": "100", "TIME": CLEAR_DAY, "EVALSCRIPT": script, **extra,
    }  # fmt: skip


@needs_node
def test_wms_getmap_by_post_with_a_plain_text_script(live):
    """A long script posted form-encoded, as its own text (not base64)."""
    long_script = RAMP + "\n" + "// padding past URL limits\n" * 400
    params = wms_params(long_script, REQUEST="GetMap", FORMAT="image/png", TRANSPARENT="TRUE")
    response = httpx.post(f"{live.url}/wms", data=params, timeout=60)
    assert response.status_code == 200, response.text[:300]
    outputs, _ = node_on_grid(
        live.runtime, RAMP, ("B04", "B08"), bbox=UTM_SUBSET, crs="EPSG:32631", size=(100, 100)
    )
    assert (rgba(response.content) == np.moveaxis(outputs["default"].astype(np.uint8), 0, -1)).all()


def node_at_pixel(runtime, script, *, bbox, size, pos, crs) -> np.ndarray:
    """Node's ``default`` output of ``script`` at map pixel ``pos``: on the source pixel under
    its centre (what feature info reads, as for an expression)."""
    from gateway.ows.mapproxy.sources import pixel_bounds, point_grid

    bounds = pixel_bounds(bbox, size, pos)
    x, y = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    box = point_grid(crs, x, y, bounds[2] - bounds[0])
    outputs, valid = node_on_grid(
        runtime, script, ("B04", "B08"), bbox=box, crs=crs, size=(1, 1), resampling="nearest"
    )
    assert valid[0, 0]
    return outputs["default"][:, 0, 0]


@needs_node
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_wms_getfeatureinfo_is_the_script_value(live, method):
    params = wms_params(
        b64(VALUES), REQUEST="GetFeatureInfo", QUERY_LAYERS="NDVI", INFO_FORMAT="application/json",
        FORMAT="image/png", I="37", J="61",
    )  # fmt: skip
    send = httpx.post if method == "POST" else httpx.get
    response = send(f"{live.url}/wms", **{"data" if method == "POST" else "params": params})
    assert response.status_code == 200, response.text[:300]
    values = response.json()["features"][0]["properties"]["values"]
    expected = node_at_pixel(
        live.runtime, VALUES, bbox=UTM_SUBSET, size=(100, 100), pos=(37, 61), crs="EPSG:32631"
    )
    assert list(values) == ["b1", "b2"]
    np.testing.assert_allclose([values["b1"], values["b2"]], expected, atol=1e-6)


@needs_node
def test_wmts_getfeatureinfo_is_the_script_value(live):
    """The values of the tile's picture (a WMTS feature info asks of a tile of FORMAT: the
    script's map output must be one a PNG shows, as for GetTile)."""
    response = httpx.get(f"{live.url}/wmts", params={
        "SERVICE": "WMTS", "REQUEST": "GetFeatureInfo", "VERSION": "1.0.0", "LAYER": "NDVI",
        "STYLE": "default", "TILEMATRIXSET": "WebMercatorQuad", "TILEMATRIX": str(Z),
        "TILEROW": str(Y), "TILECOL": str(X), "FORMAT": "image/png", "TIME": CLEAR_DAY,
        "INFOFORMAT": "application/json", "I": "100", "J": "140", "EVALSCRIPT": b64(RAMP),
    }, timeout=60)  # fmt: skip
    assert response.status_code == 200, response.text[:300]
    values = response.json()["features"][0]["properties"]["values"]
    bounds = tuple(morecantile.tms.get("WebMercatorQuad").xy_bounds(X, Y, Z))
    expected = node_at_pixel(
        live.runtime, RAMP, bbox=bounds, size=(256, 256), pos=(100, 140), crs="EPSG:3857"
    )
    assert [values[f"b{i}"] for i in range(1, 5)] == list(expected)  # UINT8: exactly


# --- WCS -----------------------------------------------------------------------------------


@needs_node
@pytest.mark.parametrize("version", list(EXPRESSION_VERSIONS))
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_wcs_every_output_as_float32(live, version, method):
    """Every output's bands, FLOAT32 as float32 and UINT8 exact, named after their output."""
    params = {"service": "WCS", "version": version, "request": "GetCoverage",
              "evalscript": b64(VALUES), **EXPRESSION_VERSIONS[version]}  # fmt: skip
    if method == "POST":
        response = httpx.post(f"{live.url}/wcs", data=params, timeout=60)
    else:
        response = httpx.get(f"{live.url}/wcs", params=params, timeout=60)
    assert response.status_code == 200, response.text[:500]
    content = wcs111_coverage(response)[1] if version == "1.1.1" else response.content
    with rasterio.MemoryFile(content) as memory, memory.open() as src:
        data, names, dtypes = src.read(), src.descriptions, src.dtypes
    assert names == ("default_b1", "default_b2", "mask_b1")
    assert set(dtypes) == {"float32"}
    outputs, valid = node_on_grid(
        live.runtime, VALUES, ("B04", "B08"), bbox=UTM_SUBSET, crs="EPSG:32631",
        size=(200, 200), resampling="nearest",
    )  # fmt: skip
    assert valid.mean() > 0.9
    np.testing.assert_allclose(data[:2][:, valid], outputs["default"][:, valid], rtol=2e-7)
    assert (data[2][valid] == outputs["mask"][0][valid]).all()
    assert set(np.unique(data[2][valid])) == {1.0, 2.0}


def test_gdal_wcs_driver_passes_the_script(live, tmp_path):
    """GDAL's WCS driver with the script in GetCoverageExtra: the script's values."""
    script = b64(
        "//VERSION=3\nfunction setup() { return { input: ['B04'], output: { bands: 1, "
        "sampleType: 'FLOAT32' } }; }\nfunction evaluatePixel(s) { return [s.B04 * 0 + 7]; }"
    )
    url = f"WCS:{live.url}/wcs?version=2.0.1&coverage=sentinel-2-l2a__NDVI"
    with rasterio.open(url, CACHE=str(tmp_path), GetCoverageExtra=f"&EVALSCRIPT={script}") as ds:
        got = ds.read(1, window=rasterio.windows.Window(500, 300, 50, 40))
    assert np.isin(got[np.isfinite(got)], [7.0]).all() and np.isfinite(got).mean() > 0.5


# --- layers defined by an evalscript (config/gateway.yaml) ----------------------------------


@needs_node
def test_configured_script_layers_equal_node(live):
    """NDVI_RAMP (a file next to the configuration) on WMS GetMap, TRUE_COLOR_GAIN (inline)
    as a WMTS tile: the scripts' pictures, as the same scripts given by EVALSCRIPT."""
    config = live.runtime.config
    ramp, gain = config.layer("NDVI_RAMP"), config.layer("TRUE_COLOR_GAIN")
    params = {**wms_params("", REQUEST="GetMap", FORMAT="image/png", TRANSPARENT="TRUE"),
              "LAYERS": "NDVI_RAMP"}  # fmt: skip
    del params["EVALSCRIPT"]
    response = httpx.get(f"{live.url}/wms", params=params, timeout=60)
    assert response.status_code == 200, response.text[:300]
    outputs, _ = node_on_grid(
        live.runtime, ramp.evalscript, ("B04", "B08"), bbox=UTM_SUBSET, crs="EPSG:32631",
        size=(100, 100),
    )  # fmt: skip
    assert (rgba(response.content) == np.moveaxis(outputs["default"].astype(np.uint8), 0, -1)).all()
    url = f"{live.url}/wmts/1.0.0/TRUE_COLOR_GAIN/WebMercatorQuad/{CLEAR_DAY}/{Z}/{X}/{Y}.png"
    tile = httpx.get(url, timeout=60)
    assert tile.status_code == 200, tile.text[:300]
    bounds = tuple(morecantile.tms.get("WebMercatorQuad").xy_bounds(X, Y, Z))
    outputs, _ = node_on_grid(
        live.runtime, gain.evalscript, ("B02", "B03", "B04"), bbox=bounds, crs="EPSG:3857",
        size=(256, 256),
    )  # fmt: skip
    assert (rgba(tile.content) == np.moveaxis(outputs["default"].astype(np.uint8), 0, -1)).all()
    legend = httpx.get(f"{live.url}/wms", params={
        "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetLegendGraphic",
        "LAYER": "NDVI_RAMP", "FORMAT": "image/png"}, timeout=60)  # fmt: skip
    assert legend.status_code == 200, legend.text[:300]


def test_the_cache_digest_is_of_the_normalised_script():
    """Comments, spacing, indentation and blank lines aside, one script is one key; a line
    break between two tokens (JavaScript may insert a semicolon there), or any other token,
    is another."""
    from gateway.evalscript import compile_evalscript

    def key(script: str) -> str:
        return compile_evalscript(script).digest

    spaced = (
        RAMP.replace("\n", "\n\n   // a comment\n    ").replace(", ", ", /* c */  ")
        + "\n/* end */\n"
    )
    assert key(spaced) == key(RAMP)
    base = "//VERSION=3\nfunction setup() { return { input: ['B04'], output: { bands: 1 } }; }\n"
    same_line = base + "function evaluatePixel(s) { if (s.B04 > 0.1) return [1]; return [0]; }"
    broken = base + "function evaluatePixel(s) { if (s.B04 > 0.1) return\n[1]; return [0]; }"
    assert key(same_line) != key(broken)
    assert key(RAMP) != key(RAMP.replace("0.5, 0", "0.5, 1"))
    assert key(RAMP) != key(RAMP.replace('"B04", "B08"', '"B08", "B04"'))
