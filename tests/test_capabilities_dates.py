"""The TIME dimension of the WMS/WMTS capabilities: a complete listing, refreshed after a TTL.

The listing pages through the whole catalog (no cap: a static catalog of 1,200 scenes, and the
STAC API stand-in read in pages of 3). A scene added to the STAC API after the server
started shows up in every capabilities document once ``capabilities_ttl_s`` has passed (the
listing then runs in the background), and not before.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from lxml import etree

from gateway.core.catalog import CachedCatalog, StacApiCatalog, StaticCatalog
from gateway.core.catalog.summary import ListingScope, summarise
from tests.support.expected import load_items
from tests.support.mapproxy_live import assert_valid, live_server, schema
from tests.support.stac_api import start_stac_api

L2A = "sentinel-2-l2a"
TTL_S = 8.0
NEW_DAY = "2025-07-02"
WMS_NS = {"w": "http://www.opengis.net/wms"}
WMTS_NS = {"w": "http://www.opengis.net/wmts/1.0", "ows": "http://www.opengis.net/ows/1.1"}


def _sample_dates(archive) -> list[str]:
    return sorted({i["properties"]["datetime"][:10] for i in load_items(archive, L2A)})


def _copy(item: dict, when: datetime, index: int) -> dict:
    """A sample item moved to another acquisition time, under a new id."""
    moved = json.loads(json.dumps(item))
    stamp = when.strftime("%Y%m%dT%H%M%S")
    moved["id"] = f"S2B_MSIL2A_{stamp}_N0511_R094_T31UFU_{stamp}_{index}"
    moved["properties"]["datetime"] = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moved


def test_listing_has_no_cap(sample_archive, tmp_path):
    """1,200 scenes on 1,200 days (more than the old 1,000-scene search): every date."""
    item = load_items(sample_archive, L2A)[0]
    start = datetime(2021, 1, 1, 10, 56, tzinfo=UTC)
    folder = tmp_path / "stac" / "collections" / L2A
    folder.mkdir(parents=True)
    with (folder / "items.ndjson").open("w") as out:
        for day in range(1200):
            out.write(json.dumps(_copy(item, start + timedelta(days=day), day)) + "\n")
    summary = summarise(CachedCatalog(StaticCatalog(tmp_path / "stac")), L2A)
    assert len(summary.dates) == 1200
    assert summary.dates[0] == "2021-01-01" and summary.dates[-1] == "2024-04-14"
    assert summary.bbox == pytest.approx(item["bbox"])


# The scope of a listing (a global catalog cannot be listed whole) ----------------------------

WEST_TILE = (5.93, 52.6, 6.0, 52.65)  # T31UFU's scenes only: T32ULD starts at 6.04 E
NOW = datetime(2025, 6, 25, 12, 0, tzinfo=UTC)


def _expected(archive, bbox=None, since: str | None = None) -> tuple[list[str], tuple]:
    """Dates and extent of the sample scenes touching ``bbox`` acquired from ``since`` on
    (shapely on the items themselves)."""
    from shapely.geometry import box, shape

    items = [
        i
        for i in load_items(archive, L2A)
        if (bbox is None or shape(i["geometry"]).intersects(box(*bbox)))
        and (since is None or i["properties"]["datetime"] >= since)
    ]
    boxes = [i["bbox"] for i in items]
    extent = (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )
    return sorted({i["properties"]["datetime"][:10] for i in items}), extent


@pytest.mark.parametrize("backend", ["static", "stac-api"])
def test_listing_keeps_to_the_scope_area_and_period(backend, sample_archive, request):
    catalog = (
        CachedCatalog(StaticCatalog(sample_archive / "stac"))
        if backend == "static"
        else StacApiCatalog(request.getfixturevalue("stac").url, page_size=3)
    )
    scope = ListingScope(bbox=WEST_TILE)
    summary = summarise(catalog, L2A, scope, now=lambda: NOW)
    dates, extent = _expected(sample_archive, WEST_TILE)
    assert list(summary.dates) == dates and summary.complete
    assert summary.bbox == pytest.approx(extent)
    assert extent[2] < 6.11  # T31UFU's extent only, not T32ULD's (to 6.23 E)
    recent = summarise(catalog, L2A, ListingScope(days=15), now=lambda: NOW)
    assert list(recent.dates) == _expected(sample_archive, since="2025-06-10")[0]
    assert list(recent.dates) == ["2025-06-13", "2025-06-23"]


def test_listing_stops_at_its_scan_limit_with_the_newest_dates(sample_archive, caplog):
    catalog = CachedCatalog(StaticCatalog(sample_archive / "stac"))
    with caplog.at_level(logging.WARNING, logger="gateway.core.catalog.summary"):
        summary = summarise(catalog, L2A, ListingScope(scan_limit=3))
    assert not summary.complete
    assert list(summary.dates) == ["2025-06-13", "2025-06-23"]  # 2 scenes on the 23rd, 1 more
    assert "newest 3 scenes" in caplog.text and "capabilities_bbox" in caplog.text


def test_settings_name_the_scope_and_capabilities_follow_it(sample_settings, sample_archive):
    days = (datetime.now(UTC) - datetime(2025, 6, 10, tzinfo=UTC)).days  # from 2025-06-10 on
    settings = sample_settings.model_copy(
        update={"capabilities_bbox": WEST_TILE, "capabilities_days": days}
    )
    with live_server(settings) as live:
        found = _documents(live)
    # The default: the 31 days up to the latest acquisition listed.
    wanted = (["2025-06-13", "2025-06-23"], "2025-05-24--2025-06-23")
    assert all(values == wanted for values in found.values()), found


def test_capabilities_bbox_is_read_from_the_environment(monkeypatch):
    from pydantic import ValidationError

    from gateway.settings import Settings

    monkeypatch.setenv("GATEWAY_CAPABILITIES_BBOX", "5.93, 52.6,6.0,52.65")
    assert Settings().capabilities_bbox == WEST_TILE
    monkeypatch.setenv("GATEWAY_CAPABILITIES_BBOX", "6.0,52.6,5.93,52.65")
    with pytest.raises(ValidationError, match="west,south,east,north"):
        Settings()


def test_the_production_environment_names_an_area_and_a_period(monkeypatch):
    from gateway.settings import Settings

    for name in [n for n in os.environ if n.startswith("GATEWAY_")]:
        monkeypatch.delenv(name)
    example = Path(__file__).resolve().parents[1] / "config" / "production.env.example"
    settings = Settings(_env_file=example)
    west, south, east, north = settings.capabilities_bbox
    assert west < east and south < north and settings.capabilities_days >= 1
    assert settings.stac_url.startswith("https://stac.dataspace.copernicus.eu")


@pytest.fixture(scope="module")
def stac(sample_archive):
    api = start_stac_api(sample_archive / "stac")  # its own: a test adds a scene to it
    yield api
    api.stop()


def test_stac_api_listing_reads_every_page(stac, sample_archive):
    stac.proxy.reset()
    summary = summarise(StacApiCatalog(stac.url, page_size=3), L2A)
    assert list(summary.dates) == _sample_dates(sample_archive)
    assert stac.searches() == 3  # 3 + 3 + 2 scenes
    boxes = [i["bbox"] for i in load_items(sample_archive, L2A)]
    expected = (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )
    assert summary.bbox == pytest.approx(expected)


def _documents(live) -> dict[str, tuple[list[str], str]]:
    """(TIME values, default) of the NDVI layer in each capabilities document."""
    found = {}
    for version in ("1.3.0", "1.1.1"):
        params = {"SERVICE": "WMS", "REQUEST": "GetCapabilities", "VERSION": version}
        document = etree.fromstring(httpx.get(f"{live.url}/wms", params=params, timeout=60).content)
        if version == "1.3.0":
            element = document.xpath(
                "//w:Layer[w:Name='NDVI']/w:Dimension[@name='time']", namespaces=WMS_NS
            )[0]
        else:
            element = document.xpath("//Layer[Name='NDVI']/Extent[@name='time']")[0]
        found[f"wms-{version}"] = (element.text.split(","), element.get("default"))
    for kind, url, params in (
        ("wmts-rest", f"{live.url}/wmts/1.0.0/WMTSCapabilities.xml", {}),
        ("wmts-kvp", f"{live.url}/wmts", {"SERVICE": "WMTS", "REQUEST": "GetCapabilities"}),
    ):
        content = httpx.get(url, params=params, timeout=60).content
        document = assert_valid(schema("wmts/1.0/wmtsGetCapabilities_response.xsd"), content)
        dimension = document.xpath(
            "//w:Layer[ows:Identifier='NDVI']/w:Dimension[ows:Identifier='Time']",
            namespaces=WMTS_NS,
        )[0]
        values = dimension.xpath("w:Value/text()", namespaces=WMTS_NS)
        found[kind] = (values, dimension.findtext("w:Default", namespaces=WMTS_NS))
    return found


def test_capabilities_show_a_new_scene_after_the_ttl_and_not_before(
    stac, sample_archive, sample_settings, tmp_path
):
    settings = sample_settings.model_copy(
        update={"stac_url": stac.url, "capabilities_ttl_s": TTL_S}
    )
    started = time.monotonic()  # the dates are listed between these two moments,
    with live_server(settings) as live:  # while the app is built
        ready = time.monotonic()
        old = _sample_dates(sample_archive)
        default = "2025-05-24--2025-06-23"  # the 31 days up to the latest acquisition
        assert all(found == (old, default) for found in _documents(live).values())
        item = next(i for i in load_items(sample_archive, L2A) if "T31UFU" in i["id"])
        added = tmp_path / "added.ndjson"
        added.write_text(json.dumps(_copy(item, datetime(2025, 7, 2, 10, 56, 19, tzinfo=UTC), 0)))
        stac.load("items", added)
        before = _documents(live)
        assert time.monotonic() - started < TTL_S, "too slow to see the dates before the TTL"
        assert all(found == (old, default) for found in before.values()), before
        time.sleep(max(0.0, ready + TTL_S - time.monotonic()) + 0.2)
        # The first request after the TTL starts a listing in the background; the documents
        # show its dates as soon as it is done.
        deadline = time.monotonic() + 30
        while True:
            after = _documents(live)
            if all(NEW_DAY in values for values, _ in after.values()):
                break
            assert time.monotonic() < deadline, after
            time.sleep(0.2)
        wanted = ([*old, NEW_DAY], "2025-06-02--2025-07-02")
        assert all(found == wanted for found in after.values()), after


def _ndvi_lon_lat_box(live) -> tuple[float, ...]:
    """The NDVI layer's EX_GeographicBoundingBox in the WMS 1.3.0 capabilities."""
    params = {"SERVICE": "WMS", "REQUEST": "GetCapabilities", "VERSION": "1.3.0"}
    document = etree.fromstring(httpx.get(f"{live.url}/wms", params=params, timeout=60).content)
    box = document.xpath("//w:Layer[w:Name='NDVI']/w:EX_GeographicBoundingBox", namespaces=WMS_NS)
    names = ("westBoundLongitude", "southBoundLatitude", "eastBoundLongitude", "northBoundLatitude")
    return tuple(float(box[0].findtext(f"w:{n}", namespaces=WMS_NS)) for n in names)


def test_scenes_in_a_new_area_widen_the_layers_after_the_ttl(
    sample_archive, sample_settings, tmp_path
):
    """Started on a STAC API holding T31UFU only; T32ULD's scenes (to 6.23 E) added: after
    the TTL the layers' bounding boxes take them in and WMS GetMap draws them, as the
    engine does (MapProxy built again with the new extents)."""
    from pyproj import Transformer

    from gateway.core.request import build_request
    from tests.support.pictures import rgba

    stac_dir = tmp_path / "stac"
    shutil.copytree(sample_archive / "stac", stac_dir)
    items = stac_dir / "collections" / L2A / "items.ndjson"
    lines = items.read_text().splitlines()
    items.write_text("\n".join(line for line in lines if "_T31UFU_" in line) + "\n")
    added = tmp_path / "t32uld.ndjson"
    added.write_text("\n".join(line for line in lines if "_T32ULD_" in line) + "\n")
    api = start_stac_api(stac_dir)
    try:
        settings = sample_settings.model_copy(
            update={"stac_url": api.url, "capabilities_ttl_s": TTL_S, "search_cache_ttl_s": 1.0}
        )
        east_only = Transformer.from_crs(4326, 3857, always_xy=True).transform_bounds(
            6.13, 52.59, 6.2, 52.65
        )  # T32ULD's scenes alone cover it
        params = {
            "SERVICE": "WMS", "REQUEST": "GetMap", "VERSION": "1.3.0", "LAYERS": "NDVI",
            "STYLES": "", "CRS": "EPSG:3857", "BBOX": ",".join(map(str, east_only)),
            "WIDTH": "300", "HEIGHT": "300", "FORMAT": "image/png", "TRANSPARENT": "TRUE",
            "TIME": "2025-06-13",
        }  # fmt: skip
        with live_server(settings) as live:
            ready = time.monotonic()
            assert _ndvi_lon_lat_box(live)[2] < 6.11  # T31UFU ends at 6.10 E
            small = {**params, "WIDTH": "200", "HEIGHT": "200"}  # the tile cache keeps it
            before = rgba(httpx.get(f"{live.url}/wms", params=small, timeout=60).content)
            assert (before[..., 3] == 0).all()
            api.load("items", added)
            time.sleep(max(0.0, ready + TTL_S - time.monotonic()) + 0.2)
            deadline = time.monotonic() + 60
            while _ndvi_lon_lat_box(live)[2] < 6.2:  # the first asks for a listing
                assert time.monotonic() < deadline
                time.sleep(0.3)
            got = rgba(httpx.get(f"{live.url}/wms", params=params, timeout=60).content)
            request = build_request(
                live.runtime.config, layer="NDVI", bbox=east_only, crs="EPSG:3857",
                width=300, height=300, time="2025-06-13",
            )  # fmt: skip
            expected = rgba(live.runtime.engine.render(request).content)
    finally:
        api.stop()
    assert (got[..., 3] == 255).mean() > 0.5
    assert (got[..., 3] == expected[..., 3]).mean() > 0.999
    levels = np.abs(got[..., :3].astype(int) - expected[..., :3].astype(int)).max(axis=2)
    assert levels.mean() < 1.0


# Partial listings: never narrower than the catalog -------------------------------------------

BULK_COUNT = 10_500  # more than the scan limit below, and than the old WCS listing's 10,000


@pytest.fixture(scope="module")
def bulk(stac, tmp_path_factory):
    """A STAC collection of 10,500 footprints an hour apart from 2020-01-01 (declaring its
    extent: 0..10 E, 40..50 N, from 2020-01-01 on), and a gateway listing 2,000 of them."""
    from gateway.settings import Settings
    from tests.support.bulk_stac import bulk_items, config_with, load_bulk
    from tests.support.ows_live import live_gateway

    folder = tmp_path_factory.mktemp("bulk")
    items = bulk_items(BULK_COUNT)
    load_bulk(stac, folder, items)
    settings = Settings(
        data_dir=folder / "data", config_file=config_with(folder), stac_url=stac.url,
        capabilities_scan_limit=2_000, sample_data=False, redis_url=None, storage="local",
        capabilities_first_listing_s=None,  # cut at the scan limit only, however slow
    )  # fmt: skip
    doors = (
        "gateway.ows.wcs.door:build_door",
        "gateway.ows.wfs.door:build_door",
        "gateway.ogcapi.door:build_door",
    )
    try:
        with live_gateway(settings, doors=doors) as url:
            yield url, items
    finally:
        from tests.support.bulk_stac import BULK

        stac.delete_collection(BULK)


def test_a_listing_cut_at_its_scan_limit_knows_where_it_is_whole(bulk, stac):
    from tests.support.bulk_stac import BULK

    _, items = bulk
    summary = summarise(StacApiCatalog(stac.url), BULK, ListingScope(scan_limit=2_000))
    newest = datetime.fromisoformat(items[-1]["properties"]["datetime"])
    assert not summary.complete and len(summary.times) == 2_000
    assert summary.last == newest
    assert summary.first == datetime(2020, 1, 1, tzinfo=UTC)  # declared: older ones exist
    assert summary.extent == (0.0, 40.0, 10.0, 50.0)  # declared, wider than the listed
    assert summary.bbox != summary.extent
    oldest_listed = summary.times[0]
    assert summary.lists_everything_in(oldest_listed + timedelta(days=1))
    assert not summary.lists_everything_in(oldest_listed - timedelta(days=1))


def _slice(url: str, moment: str) -> httpx.Response:
    from tests.support.bulk_stac import BULK

    params = {
        "SERVICE": "WCS", "VERSION": "2.0.1", "REQUEST": "GetCoverage", "COVERAGEID": BULK,
        "FORMAT": "image/tiff", "SUBSET": ["Long(0.01,0.02)", "Lat(40.01,40.02)",
                                           f'ansi("{moment}")'],
    }  # fmt: skip
    return httpx.get(f"{url}/wcs", params=params, timeout=120)


def test_wcs_takes_times_at_both_ends_of_a_partial_listing(bulk):
    url, items = bulk
    newest = items[-1]["properties"]["datetime"]
    oldest = items[0]["properties"]["datetime"]  # far beyond the 2,000 listed
    for moment in (newest, oldest):
        answer = _slice(url, moment)
        assert answer.status_code == 200, (moment, answer.text[:400])
    before = _slice(url, "2019-06-01")  # before what the collection declares: nothing there
    assert before.status_code == 404 and b"InvalidSubsetting" in before.content  # WCS 2.0


def test_wfs_capabilities_advertise_the_declared_extent_of_a_partial_listing(bulk):
    from tests.support.bulk_stac import BULK

    url, _ = bulk
    document = etree.fromstring(
        httpx.get(f"{url}/wfs", params={"SERVICE": "WFS", "REQUEST": "GetCapabilities"}).content
    )
    ns = {"wfs": "http://www.opengis.net/wfs/2.0", "ows": "http://www.opengis.net/ows/1.1"}
    feature = document.xpath(f"//wfs:FeatureType[wfs:Name='cdse:{BULK}']", namespaces=ns)[0]
    lower = feature.findtext("ows:WGS84BoundingBox/ows:LowerCorner", namespaces=ns).split()
    upper = feature.findtext("ows:WGS84BoundingBox/ows:UpperCorner", namespaces=ns).split()
    assert [float(v) for v in (*lower, *upper)] == [0.0, 40.0, 10.0, 50.0]


def test_ogcapi_takes_dates_older_than_a_partial_listing(bulk):
    """pygeoapi refuses a datetime outside a collection's temporal extent: the extent must
    reach back to the collection's start though only the newest 2,000 scenes were listed."""
    from tests.support.bulk_stac import BULK

    url, items = bulk
    collection = httpx.get(f"{url}/ogcapi/collections/{BULK}", params={"f": "json"}).json()
    assert collection["extent"]["temporal"]["interval"][0][0].startswith("2020-01-01")
    answer = httpx.get(
        f"{url}/ogcapi/collections/{BULK}/items",
        params={"datetime": "2020-01-02T00:00:00Z/2020-01-02T05:30:00Z", "f": "json"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text[:300]
    wanted = [
        i["id"]
        for i in items
        if "2020-01-02T00" <= i["properties"]["datetime"] < "2020-01-02T05:31"
    ]
    assert sorted(f["id"] for f in answer.json()["features"]) == sorted(wanted) and wanted
