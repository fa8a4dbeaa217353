"""Sentinel Hub's map parameters on the classic doors: GEOMETRY crops, UPSAMPLING and
DOWNSAMPLING choose the interpolation by direction, PRIORITY=leastTimeDifference and SH's TIME
forms; decoded values are compared with rasterio + numpy reads of the scene's files."""

from __future__ import annotations

import io

import httpx
import morecantile
import numpy as np
import pytest
from PIL import Image

from gateway.app import DOORS
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
