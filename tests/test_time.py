"""TIME means the same thing in every door (``gateway.core.dates``).

No TIME is the advertised default period, in WMS, WMTS, WCS and OGC API alike; a single value
between acquisitions is moved to the nearest one and says so; open and overlong periods are
bounded. The sample's L2A acquisitions are 2025-05-29, 06-03, 06-13 and 06-23. The live tests
run on a configuration whose default period is 11 days (2025-06-13--2025-06-23: two dates of
four), so that the default differs from both the latest date and the whole archive.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import httpx
import numpy as np
import pytest
from lxml import etree

from gateway.config import load_config
from gateway.core.catalog.summary import CollectionSummary, ListingScope
from gateway.core.dates import TimePolicy, parse_time
from gateway.core.request import build_request
from gateway.errors import InvalidParameterValue, LimitExceeded
from gateway.runtime import build_runtime
from tests.support.mapproxy_live import LiveServer
from tests.support.pictures import assert_same_picture, engine_tile, rgba
from tests.support.wcs_checks import geotiff, same

L2A = "sentinel-2-l2a"
DEFAULT = "2025-06-13--2025-06-23"
EXPLICIT = "2025-06-13/2025-06-23"
ALL_DATES = "2025-05-29/2025-06-23"
BBOX_3857 = (662350.0, 6905684.0, 684614.0, 6920353.0)
SIZE = (600, 400)  # 23 m ground pixels: the scenes (coarser than 40 m, NDVI reads the mosaic)
Z, X, Y = 12, 2116, 1341
ALL_DOORS = (
    "gateway.ogcapi.door:build_door",
    "gateway.ows.mapproxy.door:build_door",
    "gateway.ows.wcs.door:build_door",
)
WMS_NS = {"w": "http://www.opengis.net/wms"}
WMTS_NS = {"w": "http://www.opengis.net/wmts/1.0", "ows": "http://www.opengis.net/ows/1.1"}


def _config(default_days: int):
    base = load_config()
    collections = tuple(
        c.model_copy(update={"default_time_days": default_days}) if c.id == L2A else c
        for c in base.collections
    )
    return base.model_copy(update={"collections": collections})


# The policy on its own ---------------------------------------------------------------------


def _at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


class _Listed:
    """Catalog summaries of one collection, as ``CatalogSummaries`` gives them."""

    version = 0

    def __init__(self, summary: CollectionSummary) -> None:
        self.summary = summary

    def get(self, collection: str) -> CollectionSummary:
        return self.summary


def _policy(summary: CollectionSummary, days: int = 11) -> TimePolicy:
    now = datetime(2025, 7, 1, tzinfo=UTC)
    return TimePolicy(_config(days), _Listed(summary), now=lambda: now)  # type: ignore[arg-type]


SAMPLE = CollectionSummary(
    tuple(_at(d) for d in ("2025-05-29", "2025-06-03", "2025-06-13", "2025-06-23")),
    (5.6, 52.5, 6.3, 52.7),
)


def test_no_time_is_the_default_period_up_to_the_latest_acquisition():
    policy = _policy(SAMPLE)
    for text in (None, "", "default", "CURRENT"):
        choice = policy.resolve(L2A, text)
        assert choice.period == parse_time(EXPLICIT)
        assert choice.used == DEFAULT and choice.default
    assert policy.default_text(L2A) == DEFAULT
    assert parse_time(DEFAULT) == parse_time(EXPLICIT)  # ISO 8601's "--" is a period too


@pytest.mark.parametrize(
    ("text", "nearest"),
    [
        ("2025-06-01", "2025-06-03"),  # QGIS's temporal controller: the start of June
        ("2025-06-01T00:00:00Z", "2025-06-03"),
        ("2025-06-08", "2025-06-03"),  # a tie goes to the earlier acquisition
        ("2025-06-09", "2025-06-13"),
        ("2025-04", "2025-05-29"),  # a month with no acquisition
        ("2025-06-30", "2025-06-23"),  # after the latest, before today
    ],
)
def test_a_single_value_between_acquisitions_takes_the_nearest(text, nearest):
    choice = _policy(SAMPLE).resolve(L2A, text)
    assert choice.nearest and choice.used == nearest
    assert choice.period == parse_time(nearest)


@pytest.mark.parametrize("text", ["2025-06-13", "2025-06", "2025-06-13T10:00:00Z"])
def test_a_value_with_an_acquisition_in_it_stands(text):
    choice = _policy(SAMPLE).resolve(L2A, text)
    assert choice.used is None and choice.period == parse_time(text)


def test_no_nearest_value_where_the_listing_is_not_the_whole_catalog():
    scoped = CollectionSummary(SAMPLE.times, SAMPLE.bbox, authoritative_since=None)  # an area
    assert _policy(scoped).resolve(L2A, "2025-06-01").period == parse_time("2025-06-01")
    # A listing cut at its scan limit holds everything after its oldest day only.
    cut = CollectionSummary(
        SAMPLE.times[2:], SAMPLE.bbox, complete=False, authoritative_since=_at("2025-06-14", 0)
    )
    assert _policy(cut).resolve(L2A, "2025-06-01").period == parse_time("2025-06-01")
    assert _policy(cut).resolve(L2A, "2025-06-20").used == "2025-06-23"
    # Older than a listing of the last N days: the listing cannot say there is nothing.
    recent = CollectionSummary(SAMPLE.times, SAMPLE.bbox, authoritative_since=_at("2025-06-01"))
    assert _policy(recent).resolve(L2A, "2025-05-20").period == parse_time("2025-05-20")


@pytest.mark.parametrize("text", ["../..", "/", "1900-01-01/..", "../2025-06-30"])
def test_open_periods_do_not_bypass_the_span_limit(text):
    with pytest.raises(LimitExceeded) as info:
        _policy(SAMPLE).resolve(L2A, text)
    assert info.value.locator == "time"


def test_an_open_end_is_now():
    choice = _policy(SAMPLE).resolve(L2A, "2025-06-01/..")
    assert choice.period.start == datetime(2025, 6, 1, tzinfo=UTC)
    assert choice.period.end == datetime(2025, 7, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "9999-12-31",  # the last day there is: no overflow, and nothing acquired then
        "9999-12",
        "9999",
        "2030-01-01",
        "9999-12-31/9999-12-31",
        "9999-12-31T23:00:00-01:00",  # year 10000 in UTC
        "0001-01-01/9999-12-31",
        "..",
    ],
)
def test_extreme_times_are_client_errors(text):
    with pytest.raises(InvalidParameterValue):
        _policy(SAMPLE).resolve(L2A, text)


def test_empty_listing_defaults_to_the_last_days():
    empty = CollectionSummary((), (-180.0, -90.0, 180.0, 90.0))
    choice = _policy(empty).resolve(L2A, None)
    assert choice.period.end is not None and choice.period.end.date() == date(2025, 7, 1)
    assert choice.used == "2025-06-21--2025-07-01"


def test_listing_scope_knows_its_start():
    now = datetime(2025, 7, 1, tzinfo=UTC)
    assert ListingScope(days=10).since(now) == datetime(2025, 6, 21, tzinfo=UTC)
    assert ListingScope().since(now) is None


# Every door, live ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(sample_settings):
    runtime = build_runtime(sample_settings, _config(11))
    server = LiveServer(runtime, doors=ALL_DOORS).start()
    yield server
    server.stop()
    runtime.close()


def _values(response: httpx.Response) -> np.ndarray:
    assert response.status_code == 200, response.text[:300]
    return geotiff(response.content)[0]


def _assert_same(actual: np.ndarray, expected: np.ndarray, data: float = 0.3) -> None:
    assert actual.shape == expected.shape
    assert same(actual, expected).all()
    assert np.isfinite(actual).mean() > data  # there is data in it


def _engine(live, time: str, **kwargs):
    """The engine's own render of ``kwargs`` for an explicit period (no door, no policy)."""
    kwargs.setdefault("layer", "NDVI")
    request = build_request(live.runtime.config, time=time, **kwargs)
    return live.runtime.engine.render(request).content


def _wms(live, **params) -> httpx.Response:
    base = {
        "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "NDVI",
        "STYLES": "", "CRS": "EPSG:3857", "BBOX": ",".join(map(str, BBOX_3857)),
        "WIDTH": str(SIZE[0]), "HEIGHT": str(SIZE[1]), "FORMAT": "image/png",
        "TRANSPARENT": "TRUE",
    }  # fmt: skip
    merged = {k: v for k, v in {**base, **params}.items() if v is not None}
    return httpx.get(f"{live.url}/wms", params=merged, timeout=120)


def test_capabilities_advertise_the_default_and_nearest_values(live):
    wms = etree.fromstring(
        httpx.get(f"{live.url}/wms?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0").content
    )
    dimension = wms.xpath("//w:Layer[w:Name='NDVI']/w:Dimension[@name='time']", namespaces=WMS_NS)
    assert dimension[0].get("default") == DEFAULT and dimension[0].get("nearestValue") == "1"
    wms111 = etree.fromstring(
        httpx.get(f"{live.url}/wms?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.1.1").content
    )
    extent = wms111.xpath("//Layer[Name='NDVI']/Extent[@name='time']")[0]
    assert extent.get("default") == DEFAULT and extent.get("nearestValue") == "1"
    wmts = etree.fromstring(httpx.get(f"{live.url}/wmts/1.0.0/WMTSCapabilities.xml").content)
    default = wmts.xpath(
        "//w:Layer[ows:Identifier='NDVI']/w:Dimension/w:Default/text()", namespaces=WMTS_NS
    )
    assert default == [DEFAULT]


def test_wms_without_time_is_the_default(live):
    missing, given = _wms(live), _wms(live, TIME=DEFAULT)
    assert missing.status_code == given.status_code == 200, missing.text[:300]
    assert missing.content == given.content
    assert missing.headers["warning"] == f"99 Default value used: time={DEFAULT} ISO8601 (NDVI)"
    assert "warning" not in given.headers
    area = dict(bbox=BBOX_3857, crs="EPSG:3857", width=SIZE[0], height=SIZE[1])
    expected = _engine(live, EXPLICIT, **area)
    assert_same_picture(rgba(missing.content), rgba(expected))
    everything = _engine(live, ALL_DATES, **area)
    assert not np.array_equal(rgba(expected), rgba(everything))  # the default is a choice
    # Float values (the door's own GeoTIFF path) agree too.
    request = build_request(
        live.runtime.config, layer="NDVI", time=EXPLICIT, **area
    )  # fmt: skip
    expected_values = live.runtime.engine.compute(request).data[0]
    _assert_same(_values(_wms(live, FORMAT="image/tiff"))[0], expected_values)


def test_wmts_and_ogcapi_tiles_without_time_are_the_default(live):
    template = f"{live.url}/wmts/1.0.0/NDVI/WebMercatorQuad/{{}}/{Z}/{X}/{Y}.png"
    rest = httpx.get(template.format(DEFAULT), timeout=120)
    kvp = httpx.get(
        f"{live.url}/wmts",
        params={
            "SERVICE": "WMTS", "REQUEST": "GetTile", "VERSION": "1.0.0", "LAYER": "NDVI",
            "STYLE": "default", "TILEMATRIXSET": "WebMercatorQuad", "TILEMATRIX": str(Z),
            "TILECOL": str(X), "TILEROW": str(Y), "FORMAT": "image/png",
        },
        timeout=120,
    )  # fmt: skip
    ogcapi = httpx.get(
        f"{live.url}/ogcapi/collections/NDVI/tiles/WebMercatorQuad/{Z}/{Y}/{X}",
        params={"f": "png"},
        timeout=120,
    )
    assert rest.status_code == kvp.status_code == ogcapi.status_code == 200, ogcapi.text[:300]
    assert rest.content == kvp.content == ogcapi.content
    expected = engine_tile(live.runtime, "WebMercatorQuad", Z, X, Y, time=EXPLICIT)
    assert_same_picture(rgba(rest.content), expected)


def test_wcs_and_ogcapi_coverages_without_time_are_the_default(live):
    box = "5.95,52.58,6.0,52.62"
    common = {"SERVICE": "WCS", "VERSION": "2.0.1", "REQUEST": "GetCoverage",
              "COVERAGEID": f"{L2A}__NDVI", "FORMAT": "image/tiff",
              "SUBSET": ["Long(5.95,6.0)", "Lat(52.58,52.62)"]}  # fmt: skip
    missing = _values(httpx.get(f"{live.url}/wcs", params=common, timeout=120))
    given = _values(httpx.get(f"{live.url}/wcs", params={**common, "TIME": DEFAULT}, timeout=120))
    _assert_same(missing, given)
    request = build_request(
        live.runtime.config, layer="NDVI", bbox=(5.95, 52.58, 6.0, 52.62), crs="EPSG:4326",
        width=missing.shape[2], height=missing.shape[1], time=EXPLICIT,
    )  # fmt: skip
    _assert_same(missing[0], live.runtime.engine.compute(request).data[0])
    coverage = httpx.get(
        f"{live.url}/ogcapi/collections/NDVI/coverage",
        params={"bbox": box, "width": "80", "height": "64", "f": "GTiff"},
        timeout=120,
    )
    request = build_request(
        live.runtime.config, layer="NDVI", bbox=(5.95, 52.58, 6.0, 52.62), crs="EPSG:4326",
        width=80, height=64, time=EXPLICIT,
    )  # fmt: skip
    _assert_same(_values(coverage)[0], live.runtime.engine.compute(request).data[0])


@pytest.mark.parametrize("asked", ["2025-06-01", "2025-06-01T00:00:00Z"])
def test_a_time_between_acquisitions_shows_the_nearest_and_says_so(live, asked):
    """QGIS's temporal controller asks for the start of the chosen month."""
    got = _wms(live, TIME=asked)
    assert got.status_code == 200
    assert got.headers["warning"] == "99 Nearest value used: time=2025-06-03 ISO8601 (NDVI)"
    nearest = _wms(live, TIME="2025-06-03")
    assert got.content == nearest.content
    assert (rgba(got.content)[..., 3] > 0).mean() > 0.05  # imagery, not an empty picture
    template = f"{live.url}/wmts/1.0.0/NDVI/WebMercatorQuad/{{}}/{Z}/{X}/{Y}.png"
    tile = httpx.get(template.format(asked), timeout=120)
    assert tile.status_code == 200
    assert tile.content == httpx.get(template.format("2025-06-03"), timeout=120).content


def test_wcs_time_between_acquisitions_takes_the_nearest(live):
    params = {"SERVICE": "WCS", "VERSION": "1.0.0", "REQUEST": "GetCoverage",
              "COVERAGE": f"{L2A}__NDVI", "CRS": "EPSG:4326", "BBOX": "5.95,52.58,6.0,52.62",
              "WIDTH": "50", "HEIGHT": "40", "FORMAT": "GeoTIFF"}  # fmt: skip
    got = httpx.get(f"{live.url}/wcs", params={**params, "TIME": "2025-06-01"}, timeout=120)
    nearest = httpx.get(f"{live.url}/wcs", params={**params, "TIME": "2025-06-03"}, timeout=120)
    _assert_same(_values(got), _values(nearest), data=0.1)  # 2025-06-03 is cloudy


@pytest.mark.parametrize("time", ["../..", "1900-01-01/..", "9999-12-31/9999-12-31"])
def test_open_and_extreme_times_are_wms_exceptions(live, time):
    got = _wms(live, TIME=time)
    assert got.status_code == 400, got.text[:300]
    assert b"ServiceExceptionReport" in got.content
    assert b'code="InvalidDimensionValue"' in got.content
