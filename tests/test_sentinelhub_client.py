"""Sentinel Hub's own Python client (``sentinelhub``) against the gateway's instance URLs.

Its ``WmsRequest``/``WcsRequest`` with an ``SHConfig`` whose base URL is the test gateway list
acquisitions through ``/ogc/wfs/<instance>`` (type name ``DSS2``), then ask
``/ogc/wms/<instance>`` or ``/ogc/wcs/<instance>`` once per date, with the parameters the
client sends (no OAuth: OGC requests with an instance id need none). The decoded arrays are
compared with NDVI and reflectances computed with rasterio and numpy from the scene's files.
"""

from __future__ import annotations

import datetime as dt

import httpx
import numpy as np
import pytest

from gateway.app import DOORS
from tests.support.expected import ndvi, pixel_centres, read_band
from tests.support.ows_live import live_gateway
from tests.support.pictures import rgba
from tests.support.wcs_checks import geotiff, same, scene_item

sentinelhub = pytest.importorskip("sentinelhub", reason="sentinelhub is a test extra")

INSTANCE = "0d9e7e3a-5b1c-4c47-9f2e-5a0c0e7f1b2d"  # config/gateway.yaml's sample instance
UTM31 = (700000.0, 5832000.0, 702000.0, 5834000.0)  # 2 km of T31UFU, on its 10 m grid
CLEAR_DAY = "2025-06-13"
NDVI_FLOAT = """//VERSION=3
function setup() {
  return { input: ["B04", "B08", "dataMask"], output: { bands: 1, sampleType: "FLOAT32" } };
}
function evaluatePixel(s) { return [index(s.B08, s.B04)]; }"""


@pytest.fixture(scope="module")
def gateway(sample_settings):
    with live_gateway(sample_settings, doors=DOORS) as url:
        yield url


@pytest.fixture(scope="module")
def config(gateway):
    config = sentinelhub.SHConfig()
    config.sh_base_url = gateway
    config.instance_id = INSTANCE
    config.sh_client_id = config.sh_client_secret = ""  # no OAuth: never asked for
    config.max_download_attempts = 1
    return config


@pytest.fixture(scope="module")
def l2a():
    """Sentinel-2 L2A with no service URL of its own: the client's default sends L2A to
    Sentinel Hub's main deployment whatever ``sh_base_url`` says."""
    return sentinelhub.DataCollection.SENTINEL2_L2A.define_from("GATEWAY_L2A", service_url=None)


def _bbox():
    return sentinelhub.BBox(UTM31, crs=sentinelhub.CRS.UTM_31N)


def _expected_ndvi(archive, width: int, height: int) -> np.ndarray:
    item = scene_item(archive, "31UFU", CLEAR_DAY)
    xs, ys = pixel_centres(UTM31, width, height)
    nir = read_band(archive, item, "B08_10m").sample(xs, ys, "EPSG:32631")
    red = read_band(archive, item, "B04_10m").sample(xs, ys, "EPSG:32631")
    return ndvi(nir, red)


def test_wms_request_with_an_evalscript_equals_numpy_ndvi(config, l2a, sample_archive):
    request = sentinelhub.WmsRequest(
        data_collection=l2a,
        layer="NDVI",
        bbox=_bbox(),
        time=(CLEAR_DAY, CLEAR_DAY),
        width=200,
        height=200,
        image_format=sentinelhub.MimeType.TIFF,
        custom_url_params={sentinelhub.CustomUrlParam.EVALSCRIPT: NDVI_FLOAT},
        config=config,
    )
    (picture,) = request.get_data()
    (date,) = request.get_dates()
    assert date.date() == dt.date.fromisoformat(CLEAR_DAY)
    assert picture.shape == (200, 200) and picture.dtype == np.float32
    expected = _expected_ndvi(sample_archive, 200, 200)
    assert np.isfinite(expected).mean() > 0.9
    assert same(picture, np.where(np.isfinite(expected), expected, 0)).all()


def test_wcs_request_of_a_layer_equals_numpy_ndvi(config, l2a, sample_archive):
    """``COVERAGE=NDVI`` (the instance's layer), ``RESX=10m``, ``VERSION=1.1.2``: as the client
    sends them; the layer masks clouds (SCL 3, 8, 9, 10), as NaN."""
    request = sentinelhub.WcsRequest(
        data_collection=l2a,
        layer="NDVI",
        bbox=_bbox(),
        time=(CLEAR_DAY, CLEAR_DAY),
        resx="10m",
        resy="10m",
        image_format=sentinelhub.MimeType.TIFF,
        config=config,
    )
    (coverage,) = request.get_data()
    assert coverage.shape == (200, 200)
    expected = _expected_ndvi(sample_archive, 200, 200)
    item = scene_item(sample_archive, "31UFU", CLEAR_DAY)
    xs, ys = pixel_centres(UTM31, 200, 200)
    scl = read_band(sample_archive, item, "SCL_20m", reflectance=False)
    expected[np.isin(scl.sample(xs, ys, "EPSG:32631"), (3, 8, 9, 10))] = np.nan
    assert same(coverage, expected).all()


def test_wms_request_of_a_layer_outside_the_instance_fails_with_the_exception(config, l2a):
    request = sentinelhub.WmsRequest(
        data_collection=l2a,
        layer="NDWI",  # configured, not in the sample instance
        bbox=_bbox(),
        time=(CLEAR_DAY, CLEAR_DAY),
        width=32,
        height=32,
        config=config,
    )
    with pytest.raises(sentinelhub.exceptions.DownloadFailedException, match="not in this"):
        request.get_data()


def test_wfs_lists_the_acquisitions_with_dates(config, l2a):
    service = sentinelhub.WebFeatureService(
        _bbox(), ("2025-06-01", "2025-06-30"), data_collection=l2a, config=config
    )
    dates = service.get_dates()
    assert dt.date.fromisoformat(CLEAR_DAY) in {d.date() for d in dates}
    assert {d.strftime("%H:%M:%S") for d in dates} == {"10:56:19"}  # the scenes' own times


def test_wgs84_requests_mean_what_sentinel_hub_means(config, l2a, gateway):
    """The client reverses EPSG:4326 boxes (latitude first) for WMS 1.3.0, WCS and WFS alike:
    its WCS coverage equals the plain WCS 1.0.0 one (longitude first) of the same box."""
    box = (5.93, 52.61, 5.95, 52.62)  # west, south, east, north: over T31UFU
    bbox = sentinelhub.BBox(box, crs=sentinelhub.CRS.WGS84)
    dates = sentinelhub.WebFeatureService(
        bbox, ("2025-06-01", "2025-06-30"), data_collection=l2a, config=config
    ).get_dates()
    assert dt.date.fromisoformat(CLEAR_DAY) in {d.date() for d in dates}
    request = sentinelhub.WcsRequest(
        data_collection=l2a, layer="NDVI", bbox=bbox, time=(CLEAR_DAY, CLEAR_DAY),
        resx="0.0002", resy="0.0002", image_format=sentinelhub.MimeType.TIFF, config=config,
    )  # fmt: skip
    (coverage,) = request.get_data()
    plain = httpx.get(
        f"{gateway}/wcs",
        params=dict(
            SERVICE="WCS", VERSION="1.0.0", REQUEST="GetCoverage",
            COVERAGE="sentinel-2-l2a__NDVI", CRS="EPSG:4326", BBOX=",".join(map(str, box)),
            RESX="0.0002", RESY="0.0002", FORMAT="GeoTIFF", TIME=CLEAR_DAY,
        ),
        timeout=60,
    )  # fmt: skip
    expected = geotiff(plain.content)[0][0]
    assert coverage.shape == expected.shape == (50, 100)
    assert same(coverage, expected).all() and np.isfinite(expected).mean() > 0.5


def test_wms_request_of_a_png_layer_is_the_door_s_picture(config, l2a, gateway):
    """A picture through MapProxy (the client sends no STYLES): the plain door's pixels."""
    request = sentinelhub.WmsRequest(
        data_collection=l2a, layer="TRUE_COLOR", bbox=_bbox(), time=(CLEAR_DAY, CLEAR_DAY),
        width=64, height=64, image_format=sentinelhub.MimeType.PNG, config=config,
    )  # fmt: skip
    (picture,) = request.get_data()
    (date,) = request.get_dates()
    plain = httpx.get(
        f"{gateway}/wms",
        params=dict(
            SERVICE="WMS", VERSION="1.3.0", REQUEST="GetMap", LAYERS="TRUE_COLOR", STYLES="",
            CRS="EPSG:32631", BBOX=",".join(map(str, UTM31)), WIDTH="64", HEIGHT="64",
            FORMAT="image/png", TIME=date.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        ),
        timeout=60,
    )  # fmt: skip
    expected = rgba(plain.content)
    assert picture.shape[:2] == (64, 64)
    assert np.array_equal(picture[..., :3], expected[..., :3])
    assert len(np.unique(expected.reshape(-1, 4), axis=0)) > 20
