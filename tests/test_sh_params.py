"""Sentinel Hub's map parameters on the classic doors: GEOMETRY crops, UPSAMPLING and
DOWNSAMPLING choose the interpolation by direction, QUALITY sets a JPEG's compression,
WARNINGS the Warning headers saying how a map was drawn, PRIORITY=leastTimeDifference and SH's
TIME forms; decoded values are compared with rasterio + numpy reads of the scene's files."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import httpx
import morecantile
import numpy as np
import pytest
from PIL import Image

from gateway.app import DOORS
from gateway.core.catalog import NearestTo
from gateway.core.request import build_request, warning_header
from gateway.core.shparams import MAX_GEOMETRY_VERTICES, parse_geometry
from gateway.errors import LimitExceeded
from tests.support.expected import ndvi, pixel_centres, read_band
from tests.support.ows_live import live_gateway
from tests.support.pictures import rgba
from tests.support.wcs_checks import geotiff, same, scene_item

UTM31 = (700000.0, 5832000.0, 702000.0, 5834000.0)  # 2 km of T31UFU, on its 10 m grid
DAY = "2025-06-13"
# A triangle over the box's lower-left half (coordinates in EPSG:32631).
# Its long side runs 1 m off the pixel centres: each centre is clearly in or out.
TRIANGLE = "POLYGON ((700000 5832000, 702001 5832000, 700000 5834001, 700000 5832000))"


@pytest.fixture(scope="module")
def gateway(sample_settings):
    with live_gateway(sample_settings, doors=DOORS) as url:
        yield url


def _coverage(gateway: str, size: int, **extra: str) -> np.ndarray:
    params = {
        "SERVICE": "WCS", "VERSION": "1.0.0", "REQUEST": "GetCoverage",
        "COVERAGE": "sentinel-2-l2a", "EXPRESSION": "(B08-B04)/(B08+B04)", "CRS": "EPSG:32631",
        "BBOX": ",".join(map(str, UTM31)), "WIDTH": str(size), "HEIGHT": str(size),
        "FORMAT": "GeoTIFF", "TIME": DAY, **extra,
    }  # fmt: skip
    response = httpx.get(f"{gateway}/wcs", params=params, timeout=60)
    assert response.status_code == 200, response.text[:400]
    return geotiff(response.content)[0][0]


def _nearest_ndvi(archive, size: int) -> np.ndarray:
    """NDVI of the scene's 10 m pixels under each output pixel's centre."""
    item = scene_item(archive, "31UFU", DAY)
    xs, ys = pixel_centres(UTM31, size, size)
    nir = read_band(archive, item, "B08_10m").sample(xs, ys, "EPSG:32631")
    red = read_band(archive, item, "B04_10m").sample(xs, ys, "EPSG:32631")
    return ndvi(nir, red)


def test_geometry_crops_the_coverage_to_nodata(gateway, sample_archive):
    data = _coverage(gateway, 200, GEOMETRY=TRIANGLE)
    expected = _nearest_ndvi(sample_archive, 200)
    xs, ys = pixel_centres(UTM31, 200, 200)
    inside = (xs - 700000) + (ys - 5832000) < 2001  # the triangle's pixel centres
    expected[~inside] = np.nan
    assert same(data, expected).all()
    assert np.isnan(data[~inside]).all() and np.isfinite(data[inside]).mean() > 0.9


def test_geometry_makes_the_map_transparent_outside(gateway):
    params = dict(
        SERVICE="WMS", VERSION="1.3.0", REQUEST="GetMap", LAYERS="NDVI", STYLES="",
        CRS="EPSG:32631", BBOX=",".join(map(str, UTM31)), WIDTH="100", HEIGHT="100",
        FORMAT="image/png", TRANSPARENT="TRUE", TIME=DAY,
    )  # fmt: skip
    plain = httpx.get(f"{gateway}/wms", params=params, timeout=60)
    cropped = httpx.get(f"{gateway}/wms", params={**params, "GEOMETRY": TRIANGLE}, timeout=60)
    assert cropped.status_code == 200, cropped.text[:300]
    before, after = (
        np.asarray(Image.open(io.BytesIO(r.content)).convert("RGBA")) for r in (plain, cropped)
    )
    xs, ys = pixel_centres(UTM31, 100, 100)
    inside = (xs - 700000) + (ys - 5832000) < 2001
    assert (after[~inside, 3] == 0).all()
    assert (after[inside] == before[inside]).all()


def test_upsampling_nearest_is_the_source_pixels(gateway, sample_archive):
    """5 m output pixels (finer than the 10 m native ones): UPSAMPLING applies."""
    nearest = _coverage(gateway, 400, UPSAMPLING="NEAREST", DOWNSAMPLING="BILINEAR")
    assert same(nearest, _nearest_ndvi(sample_archive, 400)).all()
    bilinear = _coverage(gateway, 400, UPSAMPLING="BILINEAR", DOWNSAMPLING="NEAREST")
    assert not same(bilinear, nearest).all()


def test_downsampling_nearest_and_box(gateway, sample_archive):
    """13.3 m output pixels (coarser than the 10 m native ones, read from the 10 m level):
    DOWNSAMPLING applies; NEAREST is the pixel under each centre."""
    nearest = _coverage(gateway, 150, DOWNSAMPLING="NEAREST", UPSAMPLING="BICUBIC")
    assert same(nearest, _nearest_ndvi(sample_archive, 150)).all()
    assert not same(_coverage(gateway, 150, DOWNSAMPLING="BILINEAR"), nearest).all()
    box = _coverage(gateway, 150, DOWNSAMPLING="BOX")  # the engine's "average"
    assert not same(box, nearest).all() and np.isfinite(box).mean() > 0.9


def test_least_time_difference_and_sh_time_forms(gateway):
    base = _coverage(gateway, 50, TIME="2025-06-01/2025-06-30", PRIORITY="mostRecent")
    least = _coverage(gateway, 50, TIME="2025-06-01/2025-06-30/P1D", PRIORITY="leastTimeDifference")
    assert same(least, base).all()
    day = _coverage(gateway, 50, TIME="2025-06-13")
    assert same(_coverage(gateway, 50, TIME="2025-06-13T00:00:00Z/2025-06-13T23:59:59Z"), day).all()


@pytest.mark.parametrize(
    ("param", "value", "message"),
    [
        ("GEOMETRY", "POLYGON ((0 0, 1", "GEOMETRY must be WKT"),
        ("GEOMETRY", "POINT (700000 5832000)", "POLYGON or MULTIPOLYGON"),
        ("GEOMETRY", "POLYGON ((0 0, 1 0, nan 1, 0 0))", "finite"),
        ("UPSAMPLING", "LANCZOS", "UPSAMPLING must be one of NEAREST, BILINEAR, BICUBIC, BOX"),
        ("DOWNSAMPLING", "nearest neighbour", "DOWNSAMPLING must be one of"),
        ("QUALITY", "101", "QUALITY must be an integer 0-100"),
        ("QUALITY", "\uff18\uff10", "QUALITY must be an integer 0-100"),
        ("WARNINGS", "MAYBE", "WARNINGS must be YES or NO"),
    ],
)
def test_bad_values_get_the_door_s_exception(gateway, param, value, message):
    params = {
        "SERVICE": "WCS", "VERSION": "1.0.0", "REQUEST": "GetCoverage",
        "COVERAGE": "sentinel-2-l2a", "EXPRESSION": "B04", "CRS": "EPSG:32631",
        "BBOX": ",".join(map(str, UTM31)), "WIDTH": "20", "HEIGHT": "20", "FORMAT": "GeoTIFF",
        "TIME": DAY, param: value,
    }  # fmt: skip
    response = httpx.get(f"{gateway}/wcs", params=params, timeout=60)
    assert response.status_code == 400 and message in response.text, response.text[:400]


def test_geometry_on_a_wmts_tile(gateway):
    """GEOMETRY in the tile matrix set's CRS: the tile's western half kept, the rest clear;
    the tile without it is another cached tile."""
    west, south, east, north = morecantile.tms.get("WebMercatorQuad").xy_bounds(2116, 1341, 12)
    middle = (west + east) / 2 + 1.0  # 1 m off the pixel centres
    ring = [(west, south), (middle, south), (middle, north), (west, north), (west, south)]
    half = "POLYGON ((" + ", ".join(f"{x} {y}" for x, y in ring) + "))"
    params = dict(
        SERVICE="WMTS", VERSION="1.0.0", REQUEST="GetTile", LAYER="NDVI", STYLE="default",
        FORMAT="image/png", TILEMATRIXSET="WebMercatorQuad", TILEMATRIX="12", TILECOL="2116",
        TILEROW="1341", TIME=DAY,
    )  # fmt: skip
    plain = httpx.get(f"{gateway}/wmts", params=params, timeout=60)
    cropped = httpx.get(f"{gateway}/wmts", params={**params, "GEOMETRY": half}, timeout=60)
    assert cropped.status_code == 200, cropped.text[:300]
    before, after = (rgba(r.content) for r in (plain, cropped))
    assert (after[:, 128:, 3] == 0).all()
    assert (after[:, :128] == before[:, :128]).all() and (before[:, :128, 3] > 0).mean() > 0.5


def test_geometry_size_limits():
    """Bounded before any parsing cost grows: characters, then vertices (a URL cannot carry
    that many: POST bodies can)."""
    with pytest.raises(LimitExceeded, match="longer than"):
        parse_geometry("POLYGON ((" + "0 0, " * 30_000 + "0 0))")
    with pytest.raises(LimitExceeded, match="vertices"):
        parse_geometry("POLYGON ((" + "0 0," * (MAX_GEOMETRY_VERTICES + 1) + "0 0))")
    assert parse_geometry("POLYGON ((0 0, 1 0, 1 1, 0 0))") == "POLYGON ((0 0, 1 0, 1 1, 0 0))"


# T31UFU's 12 km sample window at 120 m a pixel: NDVI is drawn from its overview source (the
# quarterly mosaics, beyond 40 m) there.
WINDOW = (697780.0, 5828020.0, 709780.0, 5840020.0)


def _wms_map(gateway: str, fmt: str, **extra: str) -> httpx.Response:
    params = dict(
        SERVICE="WMS", VERSION="1.3.0", REQUEST="GetMap", LAYERS="NDVI", STYLES="",
        CRS="EPSG:32631", BBOX=",".join(map(str, UTM31)), WIDTH="200", HEIGHT="200",
        FORMAT=fmt, TRANSPARENT="TRUE", TIME=DAY,
    ) | extra  # fmt: skip
    response = httpx.get(f"{gateway}/wms", params=params, timeout=60)
    assert response.status_code == 200, response.text[:300]
    return response


def _rgb(content: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(content)).convert("RGB")).astype(np.int16)


def test_quality_sets_the_jpeg_compression(gateway):
    """QUALITY=10 and 95 of one map: other quantization tables, fewer bytes at 10, and both
    the PNG of the same map within JPEG's error (the 10 m map is opaque: no background)."""
    png = _rgb(_wms_map(gateway, "image/png").content)
    low, high = (_wms_map(gateway, "image/jpeg", QUALITY=q) for q in ("10", "95"))
    assert low.headers["content-type"] == "image/jpeg"
    tables = [Image.open(io.BytesIO(r.content)).quantization for r in (low, high)]
    assert np.mean(tables[0][0]) > 4 * np.mean(tables[1][0])  # luminance: coarser steps
    assert len(low.content) < len(high.content) / 2
    error_high = np.abs(_rgb(high.content) - png).mean()
    error_low = np.abs(_rgb(low.content) - png).mean()
    assert error_high < 4.0 and error_high < error_low < 12.0, (error_high, error_low)


def test_quality_of_a_map_mapproxy_composes(gateway):
    """Two layers (composed by MapProxy, losslessly, then encoded at QUALITY): the JPEG
    within JPEG's error of MapProxy's PNG of the map (a palette PNG: its own error too)."""
    both = dict(LAYERS="NDVI,TRUE_COLOR", TRANSPARENT="FALSE")
    png = _rgb(_wms_map(gateway, "image/png", **both).content)
    low, high = (_wms_map(gateway, "image/jpeg", **both, QUALITY=q) for q in ("10", "95"))
    assert high.headers["content-type"] == "image/jpeg" and len(low.content) < len(high.content)
    tables = [Image.open(io.BytesIO(r.content)).quantization for r in (low, high)]
    assert np.mean(tables[0][0]) > 4 * np.mean(tables[1][0])
    error_high = np.abs(_rgb(high.content) - png).mean()
    assert error_high < 4.0 and error_high < np.abs(_rgb(low.content) - png).mean()


def test_quality_of_tiles_and_of_the_map_answered_from_the_tile_cache(gateway):
    """WMTS tiles of two QUALITY values are two cached tiles; a WMS GetMap that is exactly
    that tile (TRANSPARENT, no BGCOLOR) gets the same bytes as the tile of its QUALITY."""
    west, south, east, north = morecantile.tms.get("WebMercatorQuad").xy_bounds(2116, 1341, 12)
    tile = dict(
        SERVICE="WMTS", VERSION="1.0.0", REQUEST="GetTile", LAYER="NDVI", STYLE="default",
        FORMAT="image/jpeg", TILEMATRIXSET="WebMercatorQuad", TILEMATRIX="12", TILECOL="2116",
        TILEROW="1341", TIME=DAY,
    )  # fmt: skip
    q20, q90, again = (
        httpx.get(f"{gateway}/wmts", params={**tile, "QUALITY": q}, timeout=60)
        for q in ("20", "90", "20")
    )
    assert q20.content != q90.content and again.content == q20.content
    assert np.abs(_rgb(q20.content) - _rgb(q90.content)).mean() < 8.0
    wms = dict(
        SERVICE="WMS", VERSION="1.3.0", REQUEST="GetMap", LAYERS="NDVI", STYLES="",
        CRS="EPSG:3857", BBOX=f"{west},{south},{east},{north}", WIDTH="256", HEIGHT="256",
        FORMAT="image/jpeg", TRANSPARENT="TRUE", TIME=DAY, QUALITY="20",
    )  # fmt: skip
    answer = httpx.get(f"{gateway}/wms", params=wms, timeout=60)
    assert answer.content == q20.content


def test_warnings_say_how_the_map_was_drawn(gateway):
    """120 m pixels of NDVI: drawn from its overview source, said in a Warning header with
    WARNINGS=YES (the default), not with WARNINGS=NO; the pixels are the same."""
    params = dict(BBOX=",".join(map(str, WINDOW)), WIDTH="100", HEIGHT="100")
    said, quiet = (_wms_map(gateway, "image/png", **params, WARNINGS=w) for w in ("YES", "NO"))
    assert said.headers["warning"] == (
        '199 - "NDVI: drawn from the overview source sentinel-2-global-mosaics'
        ' (pixels of 120 m, beyond 40 m)"'
    )
    assert "warning" not in quiet.headers and said.content == quiet.content
    # The same on WMTS tiles and WCS coverages (the default TIME noted too).
    tile = httpx.get(f"{gateway}/wmts/1.0.0/NDVI/WebMercatorQuad/{DAY}/9/264/167.png", timeout=60)
    assert "overview source" in tile.headers["warning"]
    wcs = {
        "SERVICE": "WCS", "VERSION": "1.0.0", "REQUEST": "GetCoverage",
        "COVERAGE": "sentinel-2-l2a__NDVI", "CRS": "EPSG:32631", "BBOX": params["BBOX"],
        "WIDTH": "100", "HEIGHT": "100", "FORMAT": "GeoTIFF",
    }  # fmt: skip
    coverage = httpx.get(f"{gateway}/wcs", params=wcs, timeout=60)
    assert coverage.status_code == 200, coverage.text[:300]
    notes = coverage.headers["warning"]
    assert notes.startswith("99 Default value used: time=") and "overview source" in notes


def test_warnings_of_previews(runtime):
    """A preview's bound on scenes, and PREVIEW=2's last days, said; nothing at 10 m."""
    config = runtime.config
    wide = dict(bbox=(5.9, 52.5, 6.3, 52.7), crs="EPSG:4326", layer="NDWI")
    preview = build_request(config, width=96, height=96, time="2025-06", **wide)
    assert warning_header([preview]) == (
        '199 - "NDWI: a preview of at most 16 scenes (pixels of 232 m, beyond 200 m)"'
    )
    far = build_request(
        config, width=12, height=12, time="2025-01-01/2025-06-30", preview="2", **wide
    )
    assert "the last 31 days of TIME only (PREVIEW=2)" in str(warning_header([far]))
    near = build_request(config, bbox=UTM31, crs="EPSG:32631", width=200, height=200,
                         layer="NDWI", time=DAY)  # fmt: skip
    assert warning_header([near]) is None
    off = build_request(config, width=96, height=96, time="2025-06", warnings="NO", **wide)
    assert off.notes and warning_header([off]) is None


@pytest.mark.parametrize(
    ("time", "order"),
    [
        ("2025-06-01/2025-06-30", "mostRecent"),  # a period: its scenes all end before TIME's
        ("2025-06-13", "mostRecent"),  # a day with acquisitions
        ("2025-06-05", "mostRecent"),  # no acquisition: moved to 06-03, before it
        ("2025-06-11", "leastRecent"),  # moved to 06-13, after it: earliest first
        # an instant: by time distance to it, in the day it is moved to too
        ("2025-06-13T10:56:19.024Z", NearestTo(datetime(2025, 6, 13, 10, 56, 19, 24000, UTC))),
        ("2025-06-13T10:35:00Z", NearestTo(datetime(2025, 6, 13, 10, 35, tzinfo=UTC))),
        ("2025-06-11T08:00:00Z", NearestTo(datetime(2025, 6, 11, 8, tzinfo=UTC))),
    ],
)
def test_least_time_difference_puts_the_nearest_scenes_first(runtime, time, order):
    request = build_request(
        runtime.config, bbox=UTM31, crs="EPSG:32631", width=20, height=20, layer="NDVI",
        time=time, order="leastTimeDifference", times=runtime.times,
    )  # fmt: skip
    assert request.order == order
    scenes = runtime.engine.search(request)
    if request.time_choice is not None and request.time_choice.nearest:
        asked = datetime.fromisoformat(time if "T" in time else time + "T00:00:00+00:00")
        gaps = [abs(scene.datetime - asked) for scene in scenes]
        assert gaps == sorted(gaps) and scenes  # nearest first
