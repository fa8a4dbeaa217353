"""Multi-temporal evalscripts (ORBIT) through WMS GetMap, WMTS GetTile (REST and KVP), WCS
GetCoverage and OGC API tiles and coverages over a TIME range: the answer, decoded, equals
Node's run of the script on the engine's mosaic of each day of the range (most recent first),
read one day at a time."""

from __future__ import annotations

import io
from dataclasses import replace

import httpx
import morecantile
import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.transform import array_bounds

from gateway.core.request import build_request
from gateway.runtime import build_runtime
from tests.support.evalscript_node import needs_node, node_reference
from tests.support.mapproxy_live import DOORS, LiveServer
from tests.support.ows_live import OWS_DOORS
from tests.support.published_scripts import published_script
from tests.test_evalscript_doors import X, Y, Z, b64
from tests.test_evalscript_ogcapi import OGCAPI
from tests.test_wcs import NDVI_COVERAGE, UTM_SUBSET, UTM_SUBSETS

RANGE = ("2025-05-25", "2025-06-30")
DAYS = ("2025-06-23", "2025-06-13", "2025-06-03", "2025-05-29")  # the range's, newest first

MAX_NDVI = """//VERSION=3
function setup() {
  return {
    input: ["B04", "B08", "dataMask"],
    output: [{ id: "default", bands: 1, sampleType: "FLOAT32" },
             { id: "count", bands: 1, sampleType: "UINT8" }],
    mosaicking: "ORBIT"
  };
}
function evaluatePixel(samples) {
  let max = -1, count = 0;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i];
    if (!s.dataMask) continue;
    count++;
    max = Math.max(max, (s.B08 - s.B04) / (s.B08 + s.B04));
  }
  return { default: [max], count: [count] };
}"""

PICTURE = """//VERSION=3
function setup() {
  return { input: ["B04", "B08", "dataMask"], output: { bands: 2 }, mosaicking: "ORBIT" };
}
function evaluatePixel(samples) {
  let max = -1, seen = 0;
  samples.forEach(s => {
    if (s.dataMask === 1) { seen = 1; max = Math.max(max, index(s.B08, s.B04)); }
  });
  return [(max + 1) / 2, seen];
}"""


@pytest.fixture(scope="module")
def live(sample_settings, redis_server, tmp_path_factory):
    """WMS/WMTS, WCS and OGC API on one runtime (redis as the tile cache)."""
    redis_server.start()
    settings = sample_settings.model_copy(
        update={"redis_url": redis_server.url, "dask_scheduler": None,
                "output_dir": tmp_path_factory.mktemp("temporal-outputs")}
    )  # fmt: skip
    runtime = build_runtime(settings)
    server = LiveServer(runtime, doors=(*DOORS, *OWS_DOORS, OGCAPI)).start()
    yield server
    server.stop()
    runtime.close()


def node_on_days(
    runtime, script, *, size, resampling=None, days=DAYS, bbox=UTM_SUBSET, crs="EPSG:32631"
):
    """Node's outputs of ``script`` on each day's mosaic of the grid (days without data left
    out, as Sentinel Hub leaves out acquisitions that miss the area); evaluatePixel's
    ``scenes``: ``{orbits: [{dateFrom, dateTo}...]}`` of those days."""
    rasters, kept = [], []
    for day in days:
        request = build_request(
            runtime.config, layer="NDVI", bbox=bbox, crs=crs, width=size[0],
            height=size[1], time=day, resampling=resampling,
        )  # fmt: skip
        raster = runtime.engine.mosaic(replace(request, cloud_mask=False), ("B04", "B08"))
        if raster.valid.any():
            rasters.append(raster)
            kept.append(day)
    assert len(rasters) >= 2, "the sample area needs two days of data in the range"
    bands = {b: np.stack([r.band(b).astype(np.float64) for r in rasters]) for b in ("B04", "B08")}
    valid = np.stack([r.valid for r in rasters])
    orbits = [{"dateFrom": f"{d}T00:00:00Z", "dateTo": f"{d}T23:59:59Z"} for d in kept]
    return node_reference(script, bands, valid, scenes={"orbits": orbits}), valid


def wms_over_range(server, script: str, mode: str) -> np.ndarray:
    """WMS GetMap's 100 x 100 picture of ``script`` over the sample subset and the whole
    RANGE, decoded as ``mode`` (PIL's: "LA", "RGB")."""
    params = {
        "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "NDVI",
        "STYLES": "", "CRS": "EPSG:32631", "BBOX": ",".join(map(str, UTM_SUBSET)),
        "WIDTH": "100", "HEIGHT": "100", "TIME": "/".join(RANGE), "FORMAT": "image/png",
        "EVALSCRIPT": b64(script),
    }  # fmt: skip
    response = httpx.get(f"{server.url}/wms", params=params, timeout=120)
    assert response.status_code == 200, response.text[:300]
    return np.asarray(Image.open(io.BytesIO(response.content)).convert(mode))


@needs_node
def test_wms_getmap_of_an_orbit_script_equals_node(live):
    got = wms_over_range(live, PICTURE, "LA")
    outputs, _ = node_on_days(live.runtime, PICTURE, size=(100, 100))
    expected = np.moveaxis(outputs["default"].astype(np.uint8), 0, -1)
    assert (got == expected).all()
    assert len(np.unique(got[..., 0])) > 20  # a real picture


@needs_node
def test_wms_getmap_of_the_published_max_ndvi_equals_node(live):
    """The published max_ndvi.js (ORBIT, preProcessScenes keeping the last three months, a
    colour ramp of the maximum NDVI, no dataMask) through WMS GetMap over RANGE."""
    script = published_script("max_ndvi.js")
    got = wms_over_range(live, script, "RGB")
    outputs, _ = node_on_days(live.runtime, script, size=(100, 100))  # all within 3 months
    expected = np.moveaxis(outputs["default"].astype(np.uint8), 0, -1)
    assert (got == expected).all()
    # the older days matter: the newest day's samples alone give another picture
    assert "i<samples.length" in script
    newest = node_on_days(live.runtime, script.replace("i<samples.length", "i<1"), size=(100, 100))
    alone = np.moveaxis(newest[0]["default"].astype(np.uint8), 0, -1)
    assert (got != alone).any(axis=-1).mean() > 0.1
    assert len(np.unique(got.reshape(-1, 3), axis=0)) >= 5  # several steps of the ramp


@needs_node
@pytest.mark.parametrize("version", ["2.0.1", "1.0.0"])
def test_wcs_orbit_script_every_output_equals_node(live, version):
    if version == "2.0.1":
        params = {"coverageId": NDVI_COVERAGE, "subsettingCrs": "EPSG:32631",
                  "subset": [*UTM_SUBSETS, f'time("{RANGE[0]}","{RANGE[1]}")'],
                  "interpolation": "nearest"}  # fmt: skip
    else:
        params = {"coverage": NDVI_COVERAGE, "crs": "EPSG:32631", "time": "/".join(RANGE),
                  "bbox": ",".join(map(str, UTM_SUBSET)), "width": "200", "height": "200",
                  "interpolation": "nearest neighbor", "format": "GeoTIFF"}  # fmt: skip
    response = httpx.get(f"{live.url}/wcs", params={
        "service": "WCS", "version": version, "request": "GetCoverage",
        "evalscript": b64(MAX_NDVI), **params}, timeout=120)  # fmt: skip
    assert response.status_code == 200, response.text[:500]
    with rasterio.MemoryFile(response.content) as memory, memory.open() as src:
        data, names = src.read(), src.descriptions
    assert names == ("default_b1", "count_b1")
    outputs, valid = node_on_days(live.runtime, MAX_NDVI, size=(200, 200), resampling="nearest")
    seen = valid.any(axis=0)
    assert seen.mean() > 0.9
    np.testing.assert_allclose(data[0][seen], outputs["default"][0][seen], rtol=2e-7)
    assert (data[1][seen] == outputs["count"][0][seen]).all()
    # an independent count: the days with data at each pixel
    assert (data[1][seen] == valid.sum(axis=0)[seen]).all()
    assert data[1][seen].max() >= 2


# preProcessScenes keeps June; evaluatePixel reads its scenes (so the JavaScript engine runs
# it) and takes the median of the valid red values (sort: the JavaScript engine again).
JUNE_MEDIAN = """//VERSION=3
const OUTPUTS = [["default", 1, "FLOAT32"], ["days", 2, "UINT16"]];
function setup() {
  const output = OUTPUTS.map(([id, bands, sampleType]) => ({ id, bands, sampleType }));
  return { input: ["B04", "B08", "dataMask"], output, mosaicking: "ORBIT" };
}
function preProcessScenes(collections) {
  collections.scenes.orbits = collections.scenes.orbits.filter(
    orbit => orbit.dateFrom.split("T")[0] >= "2025-06-01");
  return collections;
}
function updateOutputMetadata(scenes, inputMetadata, outputMetadata) {
  outputMetadata.userData = { orbits: scenes.orbits.length };
}
function evaluatePixel(samples, scenes) {
  const values = samples.filter(s => s.dataMask).map(s => s.B04).sort((a, b) => a - b);
  const m = values.length >> 1;
  const median = values.length === 0 ? NaN
    : values.length % 2 ? values[m] : (values[m - 1] + values[m]) / 2;
  const day = Date.parse(scenes.orbits[0].dateFrom) / 86400000 - 20000;
  return { default: [median], days: [scenes.orbits.length, day] };
}"""


def wcs_over_range(server, script: str) -> np.ndarray:
    """WCS 2.0.1's coverage of ``script`` over the sample subset and the whole RANGE."""
    response = httpx.get(f"{server.url}/wcs", params={
        "service": "WCS", "version": "2.0.1", "request": "GetCoverage",
        "coverageId": NDVI_COVERAGE, "subsettingCrs": "EPSG:32631",
        "subset": [*UTM_SUBSETS, f'time("{RANGE[0]}","{RANGE[1]}")'],
        "interpolation": "nearest", "evalscript": b64(script)}, timeout=120)  # fmt: skip
    assert response.status_code == 200, response.text[:500]
    with rasterio.MemoryFile(response.content) as memory, memory.open() as src:
        return src.read()


@needs_node
def test_wcs_preprocessed_scenes_and_the_javascript_engine_equal_node(live):
    from gateway.evalscript import compile_evalscript

    assert compile_evalscript(JUNE_MEDIAN).engine == "javascript"
    data = wcs_over_range(live, JUNE_MEDIAN)
    june = tuple(d for d in DAYS if d >= "2025-06-01")
    outputs, valid = node_on_days(
        live.runtime, JUNE_MEDIAN, size=data.shape[1:][::-1], resampling="nearest", days=june
    )
    seen = valid.any(axis=0)
    np.testing.assert_allclose(data[0][seen], outputs["default"][0][seen], rtol=2e-7)
    assert (data[1:][:, seen] == outputs["days"][:, seen]).all()
    assert set(np.unique(data[1][seen])) == {float(len(valid))}  # May's orbit left out


TILE_COUNT = """//VERSION=3
function setup() {
  return { input: ["B04", "dataMask"], output: { bands: 2, sampleType: "FLOAT32" },
           mosaicking: "TILE" };
}
function evaluatePixel(samples) {
  let seen = 0, red = 0;
  for (const s of samples) { seen += s.dataMask; red = Math.max(red, s.B04); }
  return [seen, red];
}"""


def node_on_scenes(runtime, script, *, size, resampling=None, bbox=UTM_SUBSET, crs="EPSG:32631"):
    """Node's outputs of the TILE ``script`` on each scene of RANGE read alone on the grid
    (most recent first, scenes without data left out), and the scenes' valid masks."""
    from gateway.core.mosaic import mosaic

    request = build_request(
        runtime.config, layer="NDVI", bbox=bbox, crs=crs, width=size[0], height=size[1],
        time="/".join(RANGE), resampling=resampling,
    )  # fmt: skip
    request = replace(request, cloud_mask=False)
    collection = runtime.config.collection(request.collection)
    scenes = sorted(
        runtime.engine.search(request, ("B04",)), key=lambda s: s.datetime, reverse=True
    )
    rasters = [mosaic([s], ("B04",), request.grid, collection, runtime.engine.reader,
                      resampling=request.resampling) for s in scenes]  # fmt: skip
    rasters = [r for r in rasters if r.valid.any()]
    assert len(rasters) > len(DAYS) // 2
    bands = {"B04": np.stack([r.band("B04").astype(np.float64) for r in rasters])}
    valid = np.stack([r.valid for r in rasters])
    return node_reference(script, bands, valid), valid


@needs_node
def test_wcs_tile_script_sees_each_scene_equal_to_node(live):
    """TILE: one sample per scene (two tiles of a day are two samples), most recent first;
    the reference reads each scene alone."""
    data = wcs_over_range(live, TILE_COUNT)
    outputs, valid = node_on_scenes(
        live.runtime, TILE_COUNT, size=data.shape[1:][::-1], resampling="nearest"
    )
    seen = valid.any(axis=0)
    np.testing.assert_array_equal(data[0][seen], valid.sum(axis=0)[seen])
    np.testing.assert_allclose(data[:, seen], outputs["default"][:, seen], rtol=2e-7)


def picture_of_tile(runtime) -> np.ndarray:
    """Node's PICTURE (grey and alpha) of the WebMercatorQuad tile Z/X/Y over RANGE."""
    bounds = tuple(morecantile.tms.get("WebMercatorQuad").xy_bounds(X, Y, Z))
    outputs, _ = node_on_days(runtime, PICTURE, size=(256, 256), bbox=bounds, crs="EPSG:3857")
    return np.moveaxis(outputs["default"].astype(np.uint8), 0, -1)


def ogcapi_coverage(live, script: str) -> tuple[np.ndarray, tuple, tuple[int, int], tuple]:
    """OGC API's 40 x 30 GeoTIFF coverage of ``script`` over a lon/lat box and the whole
    RANGE (nearest): its bands, bounds, size and band descriptions."""
    answer = httpx.get(f"{live.url}/ogcapi/collections/NDVI/coverage", params={
        "f": "GTiff", "bbox": "5.95,52.60,5.96,52.608", "datetime": "/".join(RANGE),
        "evalscript": b64(script), "scale-size": "x(40),y(30)", "resampling": "nearest",
    }, timeout=120)  # fmt: skip
    assert answer.status_code == 200, answer.text[:300]
    with rasterio.MemoryFile(answer.content) as memory, memory.open() as src:
        bounds = array_bounds(src.height, src.width, src.transform)
        return src.read(), bounds, (src.width, src.height), src.descriptions


def grey_alpha(content: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(content)).convert("LA"))


@needs_node
def test_wmts_tiles_of_an_orbit_script_rest_and_kvp_equal_node(live):
    expected = picture_of_tile(live.runtime)
    assert len(np.unique(expected[..., 0])) > 20  # a real picture
    period = "--".join(RANGE)  # the period's form without a solidus, for the REST path
    rest = httpx.get(
        f"{live.url}/wmts/1.0.0/NDVI/WebMercatorQuad/{period}/{Z}/{X}/{Y}.png",
        params={"EVALSCRIPT": b64(PICTURE)}, timeout=120,
    )  # fmt: skip
    assert rest.status_code == 200, rest.text[:300]
    assert (grey_alpha(rest.content) == expected).all()
    kvp = httpx.get(f"{live.url}/wmts", params={
        "SERVICE": "WMTS", "REQUEST": "GetTile", "VERSION": "1.0.0", "LAYER": "NDVI",
        "STYLE": "default", "TILEMATRIXSET": "WebMercatorQuad", "TILEMATRIX": str(Z),
        "TILEROW": str(Y), "TILECOL": str(X), "FORMAT": "image/png", "TIME": "/".join(RANGE),
        "EVALSCRIPT": b64(PICTURE)}, timeout=120)  # fmt: skip
    assert kvp.status_code == 200, kvp.text[:300]
    assert (grey_alpha(kvp.content) == expected).all()


@needs_node
def test_ogcapi_tile_of_an_orbit_script_equals_node(live):
    answer = httpx.get(
        f"{live.url}/ogcapi/collections/NDVI/tiles/WebMercatorQuad/{Z}/{Y}/{X}",
        params={"f": "png", "datetime": "/".join(RANGE), "evalscript": b64(PICTURE)},
        timeout=120,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text[:300]
    assert (grey_alpha(answer.content) == picture_of_tile(live.runtime)).all()


@needs_node
def test_ogcapi_coverage_of_an_orbit_script_is_every_output_equal_to_node(live):
    data, bounds, size, names = ogcapi_coverage(live, MAX_NDVI)
    assert names == ("default_b1", "count_b1")
    outputs, valid = node_on_days(
        live.runtime, MAX_NDVI, size=size, resampling="nearest", bbox=bounds, crs="EPSG:4326"
    )
    seen = valid.any(axis=0)
    assert seen.mean() > 0.9
    np.testing.assert_allclose(data[0][seen], outputs["default"][0][seen], rtol=2e-7)
    assert (data[1][seen] == valid.sum(axis=0)[seen]).all()
    assert (data[1][seen] == outputs["count"][0][seen]).all()
    assert data[1][seen].max() >= 2


@needs_node
def test_ogcapi_coverage_of_preprocessed_scenes_equals_node(live):
    """preProcessScenes keeps June, evaluatePixel reads its scenes (the JavaScript engine)."""
    data, bounds, size, _ = ogcapi_coverage(live, JUNE_MEDIAN)
    june = tuple(d for d in DAYS if d >= "2025-06-01")
    outputs, valid = node_on_days(
        live.runtime, JUNE_MEDIAN, size=size, resampling="nearest", days=june,
        bbox=(bounds[0], bounds[1], bounds[2], bounds[3]), crs="EPSG:4326",
    )  # fmt: skip
    seen = valid.any(axis=0)
    np.testing.assert_allclose(data[0][seen], outputs["default"][0][seen], rtol=2e-7)
    assert (data[1:][:, seen] == outputs["days"][:, seen]).all()
    assert set(np.unique(data[1][seen])) == {float(len(valid))}  # May's orbit left out


TILE_PICTURE = """//VERSION=3
function setup() {
  return { input: ["B04", "dataMask"], output: { bands: 2 }, mosaicking: "TILE" };
}
function evaluatePixel(samples) {
  let seen = 0, red = 0;
  for (const s of samples) { seen += s.dataMask; red = Math.max(red, s.B04); }
  return [seen / 8 + red, seen > 0 ? 1 : 0];
}"""


def tile_script_picture(runtime, x: int, y: int) -> np.ndarray:
    """Node's TILE_PICTURE (grey and alpha) of the WebMercatorQuad tile Z/x/y over RANGE,
    run on each scene alone."""
    bounds = tuple(morecantile.tms.get("WebMercatorQuad").xy_bounds(x, y, Z))
    outputs, valid = node_on_scenes(
        runtime, TILE_PICTURE, size=(256, 256), bbox=bounds, crs="EPSG:3857"
    )
    expected = np.moveaxis(outputs["default"].astype(np.uint8), 0, -1)
    assert valid.sum(axis=0).max() >= 2 and len(np.unique(expected[..., 0])) > 20
    return expected


@needs_node
def test_wmts_tile_of_a_tile_script_equals_node_on_each_scene(live):
    """TILE through WMTS GetTile (REST): grey and alpha of Node's run on each scene alone."""
    period = "--".join(RANGE)
    rest = httpx.get(
        f"{live.url}/wmts/1.0.0/NDVI/WebMercatorQuad/{period}/{Z}/{X}/{Y}.png",
        params={"EVALSCRIPT": b64(TILE_PICTURE)}, timeout=120,
    )  # fmt: skip
    assert rest.status_code == 200, rest.text[:300]
    assert (grey_alpha(rest.content) == tile_script_picture(live.runtime, X, Y)).all()


@needs_node
def test_wmts_kvp_tile_of_a_tile_script_equals_node_on_each_scene(live):
    """TILE through WMTS GetTile (KVP), on the next tile south (also over both sample tiles,
    outside the REST test's metatile): rendered for this request, not from the cache."""
    kvp = httpx.get(f"{live.url}/wmts", params={
        "SERVICE": "WMTS", "REQUEST": "GetTile", "VERSION": "1.0.0", "LAYER": "NDVI",
        "STYLE": "default", "TILEMATRIXSET": "WebMercatorQuad", "TILEMATRIX": str(Z),
        "TILEROW": str(Y + 1), "TILECOL": str(X), "FORMAT": "image/png",
        "TIME": "/".join(RANGE), "EVALSCRIPT": b64(TILE_PICTURE)}, timeout=120)  # fmt: skip
    assert kvp.status_code == 200, kvp.text[:300]
    assert kvp.headers.get("x-cache") == "miss"
    assert (grey_alpha(kvp.content) == tile_script_picture(live.runtime, X, Y + 1)).all()


@needs_node
def test_ogcapi_coverage_of_a_tile_script_equals_node_on_each_scene(live):
    data, bounds, size, _ = ogcapi_coverage(live, TILE_COUNT)
    outputs, valid = node_on_scenes(
        live.runtime, TILE_COUNT, size=size, resampling="nearest",
        bbox=(bounds[0], bounds[1], bounds[2], bounds[3]), crs="EPSG:4326",
    )  # fmt: skip
    seen = valid.any(axis=0)
    assert seen.mean() > 0.9 and valid.sum(axis=0).max() >= 2
    np.testing.assert_array_equal(data[0][seen], valid.sum(axis=0)[seen])
    np.testing.assert_allclose(data[:, seen], outputs["default"][:, seen], rtol=2e-7)
