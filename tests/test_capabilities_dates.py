"""The TIME dimension of the WMS/WMTS capabilities: a complete listing, refreshed after a TTL.

The listing pages through the whole catalog (no cap: a static catalog of 1,200 scenes, and the
STAC API stand-in read in pages of 3). A scene added to the STAC API after the server
started shows up in every capabilities document once ``capabilities_ttl_s`` has passed (the
listing then runs in the background), and not before.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from lxml import etree

from gateway.core.catalog import CachedCatalog, StacApiCatalog, StaticCatalog
from gateway.ows.mapproxy.dates import summarise
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
        assert all(found == (old, old[-1]) for found in _documents(live).values())
        item = next(i for i in load_items(sample_archive, L2A) if "T31UFU" in i["id"])
        added = tmp_path / "added.ndjson"
        added.write_text(json.dumps(_copy(item, datetime(2025, 7, 2, 10, 56, 19, tzinfo=UTC), 0)))
        stac.load("items", added)
        before = _documents(live)
        assert time.monotonic() - started < TTL_S, "too slow to see the dates before the TTL"
        assert all(found == (old, old[-1]) for found in before.values()), before
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
        assert all(found == ([*old, NEW_DAY], NEW_DAY) for found in after.values()), after
