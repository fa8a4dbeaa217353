"""PRIORITY=leastTimeDifference inside the one day TIME reads: of three overlapping scenes of
2025-06-13 (10:00, 10:40 and the sample's 10:56:19 UTC, each with its own files), the scene
nearest TIME's time of day is drawn, through WMS GetMap (a float GeoTIFF of NDVI), WMTS
GetTile (KVP and REST, TRUE_COLOR) and an OGC API coverage (B04), compared with rasterio +
numpy reads of that scene's files; PRIORITY=mostRecent draws the day's latest whatever the
time of day."""

from __future__ import annotations

from pathlib import Path

import httpx
import morecantile
import numpy as np
import pytest

from gateway.app import DOORS
from tests.support.expected import ndvi, pixel_centres, read_band
from tests.support.ogcapi_checks import near
from tests.support.ows_live import live_gateway
from tests.support.pictures import rgba
from tests.support.same_day import DAY, same_day_archive
from tests.support.wcs_checks import geotiff, same, scene_item

UTM31 = (700000.0, 5832000.0, 702000.0, 5834000.0)  # 2 km of T31UFU, on its 10 m grid
# TIME -> the sample day whose files the scene nearest it reads (10:35 -> 10:40's, 10:05 ->
# 10:00's, 10:50 -> the sample's own 10:56:19, nearer than 10:40).
NEAREST = {"10:35": "2025-06-23", "10:05": "2025-05-29", "10:50": DAY}
TILE = morecantile.tms.get("WebMercatorQuad").tile(5.955, 52.60, 13)  # inside T31UFU only


@pytest.fixture(scope="module")
def gateway(sample_archive, sample_settings, tmp_path_factory):
    root = same_day_archive(sample_archive, tmp_path_factory.mktemp("same-day"))
    with live_gateway(sample_settings.model_copy(update={"data_dir": root}), doors=DOORS) as url:
        yield url


def _ndvi_map(gateway: str, time: str, priority: str) -> np.ndarray:
    params = dict(
        SERVICE="WMS", VERSION="1.3.0", REQUEST="GetMap", LAYERS="TRUE_COLOR", STYLES="",
        CRS="EPSG:32631", BBOX=",".join(map(str, UTM31)), WIDTH="200", HEIGHT="200",
        FORMAT="image/tiff", EXPRESSION="(B08-B04)/(B08+B04)", TIME=time, PRIORITY=priority,
    )  # fmt: skip
    response = httpx.get(f"{gateway}/wms", params=params, timeout=60)
    assert response.status_code == 200, response.text[:400]
    return geotiff(response.content)[0][0]


def _scene_ndvi(archive: Path, day: str) -> np.ndarray:
    """NDVI of the sample's T31UFU scene of ``day`` at the map's 10 m pixel centres."""
    item = scene_item(archive, "31UFU", day)
    xs, ys = pixel_centres(UTM31, 200, 200)
    nir = read_band(archive, item, "B08_10m").sample(xs, ys, "EPSG:32631")
    red = read_band(archive, item, "B04_10m").sample(xs, ys, "EPSG:32631")
    return ndvi(nir, red)


@pytest.mark.parametrize("clock", list(NEAREST))
def test_wms_getmap_draws_the_scene_nearest_the_time_of_day(gateway, sample_archive, clock):
    time = f"{DAY}T{clock}:00Z"
    data = _ndvi_map(gateway, time, "leastTimeDifference")
    expected = _scene_ndvi(sample_archive, NEAREST[clock])
    assert np.isfinite(expected).mean() > 0.95
    assert same(data, expected).all()
    others = {day for day in NEAREST.values() if day != NEAREST[clock]}
    for day in others:  # the three scenes' pixels differ: the test tells them apart
        assert same(data, _scene_ndvi(sample_archive, day)).mean() < 0.5
    # mostRecent draws the day's latest scene, the sample's own, at any time of day
    assert same(_ndvi_map(gateway, time, "mostRecent"), _scene_ndvi(sample_archive, DAY)).all()


def _tile_reference(archive: Path, day: str):
    """TRUE_COLOR's stretch (reflectance 0-0.3 onto 0-255) of the scene of ``day`` at
    points in EPSG:3857, per channel."""
    item = scene_item(archive, "31UFU", day)
    sources = [read_band(archive, item, key) for key in ("B04_10m", "B03_10m", "B02_10m")]
    return [lambda x, y, s=s: np.clip(s.sample(x, y, "EPSG:3857") / 0.3, 0, 1) * 255
            for s in sources]  # fmt: skip


def _matches(picture: np.ndarray, archive: Path, day: str) -> float:
    """The share of opaque pixels whose three channels are the scene of ``day``'s (at the
    centre or a neighbouring source pixel: GDAL's approximate warp)."""
    bounds = morecantile.tms.get("WebMercatorQuad").xy_bounds(TILE)
    xs, ys = pixel_centres((bounds.left, bounds.bottom, bounds.right, bounds.top), 256, 256)
    ok = np.ones(picture.shape[:2], dtype=bool)
    for channel, reference in enumerate(_tile_reference(archive, day)):
        ok &= near(picture[..., channel].astype(float), reference, xs, ys, 3.3, atol=1.0)
    opaque = picture[..., 3] == 255
    assert opaque.mean() > 0.95
    return float(ok[opaque].mean())


@pytest.mark.parametrize("door", ["kvp", "rest"])
def test_wmts_tile_draws_the_scene_nearest_the_time_of_day(gateway, sample_archive, door):
    nearest = {"kvp": "10:35", "rest": "10:05"}[door]
    time = f"{DAY}T{nearest}:00Z"
    sampling = {"UPSAMPLING": "NEAREST", "DOWNSAMPLING": "NEAREST"}
    if door == "kvp":
        params = dict(
            SERVICE="WMTS", VERSION="1.0.0", REQUEST="GetTile", LAYER="TRUE_COLOR",
            STYLE="default", FORMAT="image/png", TILEMATRIXSET="WebMercatorQuad",
            TILEMATRIX=str(TILE.z), TILECOL=str(TILE.x), TILEROW=str(TILE.y), TIME=time,
            PRIORITY="leastTimeDifference", **sampling,
        )  # fmt: skip
        response = httpx.get(f"{gateway}/wmts", params=params, timeout=60)
    else:
        path = f"TRUE_COLOR/WebMercatorQuad/{time}/{TILE.z}/{TILE.x}/{TILE.y}.png"
        response = httpx.get(
            f"{gateway}/wmts/1.0.0/{path}",
            params={"PRIORITY": "leastTimeDifference", **sampling}, timeout=60,
        )  # fmt: skip
    assert response.status_code == 200, response.text[:400]
    picture = rgba(response.content)
    assert _matches(picture, sample_archive, NEAREST[nearest]) > 0.999
    assert _matches(picture, sample_archive, DAY) < 0.5  # not the day's latest scene


LONLAT = (5.94, 52.58, 5.99, 52.62)  # inside T31UFU only


def test_ogcapi_coverage_reads_the_scene_nearest_the_time_of_day(gateway, sample_archive):
    """OGC API's ``order`` (the same parser): B04 of the 10:40 scene for 10:35."""
    answer = httpx.get(f"{gateway}/ogcapi/collections/sentinel-2-l2a/coverage", params={
        "f": "GTiff", "properties": "B04", "bbox": ",".join(map(str, LONLAT)),
        "datetime": f"{DAY}T10:35:00Z", "order": "leastTimeDifference",
        "scale-size": "Lon(300),Lat(320)", "resampling": "nearest",
    }, timeout=60)  # fmt: skip
    assert answer.status_code == 200, answer.text[:400]
    data = geotiff(answer.content)[0][0]
    xs, ys = pixel_centres(LONLAT, 300, 320)

    def share(day: str) -> float:
        band = read_band(sample_archive, scene_item(sample_archive, "31UFU", day), "B04_10m")
        return float(near(data, lambda x, y: band.sample(x, y, "EPSG:4326"), xs, ys, 3e-5).mean())

    assert share(NEAREST["10:35"]) > 0.999 and share(DAY) < 0.5
