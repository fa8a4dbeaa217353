"""Feature pages (WFS GetFeature, OGC API Features items) read only what a footprint shows.

On the STAC API stand-in holding the sample and ``COPIES`` copies of the real CDSE L2A item
(43 assets, ~65 kB each): a page's searches carry the footprint's Fields ``include`` (every
raster asset's href, type and roles, named from the collection's ``item_assets``), its
features equal those of whole items, an API that ignores Fields still leaves only those
fields in the scenes, and a page of ``COPIES`` items stays under a memory bound that whole
items exceed (~190 kB each once parsed).
"""

from __future__ import annotations

import copy
import json
import tracemalloc
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from gateway.core.catalog import PageQuery, SearchQuery, StacApiCatalog, StaticCatalog
from gateway.core.catalog.filters.queryables import FOOTPRINT_FIELDS
from gateway.core.catalog.models import project_item
from gateway.ogcapi.features import scene_feature as ogc_feature
from gateway.ows.crs import parse_ows_crs
from gateway.ows.kvp import Kvp
from gateway.ows.wfs import encode
from gateway.ows.wfs.documents import DEFAULT_CRS
from gateway.ows.wfs.features import scene_feature as wfs_feature
from gateway.ows.wfs.query import Query, parse_query
from gateway.ows.wfs.select import select
from gateway.ows.xml import xml_chunked
from tests.support.cdse_items import cdse_item
from tests.support.stac_api import StacApi, start_stac_api

L2A = "sentinel-2-l2a"
COPIES = 200
NEWEST = datetime(2026, 1, 1, tzinfo=UTC)


def copies(count: int) -> list[dict]:
    """``count`` copies of the CDSE L2A item, a minute apart from ``NEWEST`` back, each its
    own id (the fixture's geometry: none over the sample's scenes)."""
    item = cdse_item(L2A)
    made = []
    for i in range(count):
        twin = copy.deepcopy(item)
        twin["id"] = f"{item['id']}-copy{i:04d}"
        when = (NEWEST - timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        twin["properties"]["datetime"] = when
        made.append(twin)
    return made


@pytest.fixture(scope="module")
def stac(sample_archive, tmp_path_factory) -> Iterator[StacApi]:
    api = start_stac_api(sample_archive / "stac")
    try:
        path: Path = tmp_path_factory.mktemp("copies") / "items.ndjson"
        path.write_text("".join(json.dumps(i) + "\n" for i in copies(COPIES)))
        api.load("items", path)
        yield api
    finally:
        api.stop()


def _recording(backend: StacApiCatalog, monkeypatch, bodies: list[dict], drop_fields=False):
    post = backend._post

    def recorded(body: dict) -> dict:
        bodies.append(body)
        return post({k: v for k, v in body.items() if k != "fields"} if drop_fields else body)

    monkeypatch.setattr(backend, "_post", recorded)


def _wfs_query(count: int) -> Query:
    return Query(type_names=[L2A], count=count)


def test_a_feature_page_asks_for_the_footprint_fields_only(stac, monkeypatch):
    """Both doors' pages name the footprint's fields, asset by asset: the same features as
    from whole items, in a fifth of the bytes or less."""
    backend = StacApiCatalog(stac.url)
    bodies: list[dict] = []
    _recording(backend, monkeypatch, bodies)
    wanted = _wfs_query(30).page_query()
    assert wanted.fields == FOOTPRINT_FIELDS
    whole_query = replace(wanted, fields=())
    backend.search_page(whole_query)  # the landing page and the collection, read once
    backend.search_page(wanted)
    bodies.clear()
    before = backend.tally.snapshot()["bytes"]
    whole = backend.search_page(whole_query)
    between = backend.tally.snapshot()["bytes"]
    slim = backend.search_page(wanted)
    after = backend.tally.snapshot()["bytes"]
    assert len(slim.scenes) == 30 and slim.matched == whole.matched == COPIES + 8
    include = bodies[-1]["fields"]["include"]
    assert "assets" not in include and "links" not in include
    assert "assets.B04_10m.href" in include and "assets.B04_10m.roles" in include
    assert "properties.grid:code" in include and "geometry" in include
    for got, full in zip(slim.scenes, whole.scenes, strict=True):
        assert wfs_feature(got) == wfs_feature(full)
        assert ogc_feature(got) == ogc_feature(full)
        assert set(got.item) <= {"id", "collection", "bbox", "geometry", "properties", "assets"}
    assert (after - between) * 5 < between - before


def test_the_wfs_and_ogc_api_doors_send_the_footprint_fields(stac, monkeypatch):
    """``select`` (WFS) with a filter the catalog decides and with one it cannot (scanned)."""
    backend = StacApiCatalog(stac.url)
    bodies: list[dict] = []
    _recording(backend, monkeypatch, bodies)
    pushed = parse_query(Kvp([("TYPENAMES", f"cdse:{L2A}"), ("COUNT", "5")]), [L2A])
    page, _ = select(backend, pushed, scan_limit=10)
    assert len(page) == 5
    assert bodies and all("assets.B04_10m.href" in b["fields"]["include"] for b in bodies)
    assert all(json.loads(f.properties["assets"]) for f in page)


def test_an_api_ignoring_fields_leaves_only_the_footprint_fields(stac, monkeypatch):
    """The stand-in sent whole items (``fields`` taken out of the body): the scenes keep only
    the footprint's fields, and the features are the same."""
    backend = StacApiCatalog(stac.url)
    bodies: list[dict] = []
    _recording(backend, monkeypatch, bodies, drop_fields=True)
    wanted = _wfs_query(10).page_query()
    page = backend.search_page(wanted)
    whole = backend.search_page(replace(wanted, fields=()))
    for got, full in zip(page.scenes, whole.scenes, strict=True):
        assert got.item == project_item(full.item, FOOTPRINT_FIELDS)
        assert "links" not in got.item and "alternate" not in got.item["assets"]["B04_10m"]
        assert wfs_feature(got) == wfs_feature(full)
    assert len(json.dumps(page.scenes[0].item)) * 4 < len(json.dumps(whole.scenes[0].item))


def _page_peak(backend: StacApiCatalog, query: PageQuery) -> float:
    """Python's peak memory (MB, tracemalloc) for a WFS page of ``query``: the catalog's
    answer, the features and the GeoJSON document."""
    crs = parse_ows_crs(DEFAULT_CRS)
    tracemalloc.start()
    try:
        page = backend.search_page(query)
        features = [wfs_feature(s) for s in page.scenes]
        body = bytes(encode.geojson(features, page.matched, crs)).decode()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(features) == COPIES and body.count('"Feature"') == COPIES
    return peak / 1e6


def test_a_page_of_cdse_items_stays_under_a_memory_bound(stac):
    """A page of ``COPIES`` CDSE items: whole items take ~190 kB each once parsed (38 MB
    here); the footprint's fields under 80 kB each, with the GeoJSON document."""
    backend = StacApiCatalog(stac.url, timeout_s=120, page_size=50)  # whole items are slow
    wanted = _wfs_query(COPIES).page_query()
    backend.search_page(replace(wanted, limit=1))  # the landing page and the collection
    slim = _page_peak(backend, wanted)
    whole = _page_peak(backend, replace(wanted, fields=()))
    assert slim < COPIES * 0.08, (slim, whole)
    assert whole > COPIES * 0.12, (slim, whole)  # what the bound is about


def test_xml_encoded_a_child_at_a_time_is_the_whole_tree_byte_for_byte():
    """``xml_chunked`` writes what ``tostring`` writes of the tree with every child in it
    (children carrying their own namespace maps, as WFS members do), and ``<root/>`` alone."""
    nsmap = {"w": "urn:w", "c": "urn:c"}

    def child(i: int) -> etree._Element:
        member = etree.Element("{urn:w}member", nsmap=nsmap)
        feature = etree.SubElement(member, "{urn:c}f", {"{urn:w}id": f"f{i}"}, nsmap=nsmap)
        feature.text = f"<{i} & é>"
        return member

    def root() -> etree._Element:
        return etree.Element("{urn:w}Collection", {"n": "3", "next": "a?b=1&c=2"}, nsmap=nsmap)

    whole = root()
    for i in range(3):
        whole.append(child(i))
    expected = etree.tostring(whole, xml_declaration=True, encoding="UTF-8")
    assert bytes(xml_chunked(root(), (child(i) for i in range(3)))) == expected
    empty = etree.tostring(root(), xml_declaration=True, encoding="UTF-8")
    assert bytes(xml_chunked(root(), ())) == empty


def test_geojson_encoded_a_feature_at_a_time_is_what_json_dumps_writes(sample_archive):
    features = [wfs_feature(s) for s in StaticCatalog(sample_archive / "stac").search(
        SearchQuery(L2A, (-180.0, -90.0, 180.0, 90.0)))]  # fmt: skip
    assert len(features) == 8
    crs = parse_ows_crs(DEFAULT_CRS)
    for page in (features, features[:1], []):
        text = bytes(encode.geojson(page, None, crs, links={"next": "x"})).decode()
        document = json.loads(text)
        assert json.dumps(document) == text and document["numberReturned"] == len(page)
        assert document["features"] == [
            json.loads(json.dumps(encode.geojson_feature(f, crs))) for f in page
        ]
