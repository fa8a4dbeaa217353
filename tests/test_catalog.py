"""Catalog: parsing CDSE items, the static backend, the STAC API query, the search cache."""

import json
import threading
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from gateway.core.catalog import (
    CachedCatalog,
    NearestTo,
    SearchQuery,
    StaticCatalog,
    TimeRange,
    order_scenes,
    scene_from_item,
)
from gateway.core.catalog.cached import snap_bbox
from gateway.core.catalog.models import either_side, project_item
from gateway.core.catalog.stac_api import scene_fields, search_parameters
from tests.support.cdse_items import cdse_item


@pytest.fixture(scope="module")
def l2a_item():
    return cdse_item("sentinel-2-l2a")


@pytest.fixture(scope="module")
def mosaic_item():
    return cdse_item("sentinel-2-global-mosaics")


def test_parse_real_l2a_item(l2a_item):
    scene = scene_from_item(l2a_item)
    assert scene.collection == "sentinel-2-l2a"
    assert scene.datetime == datetime(2022, 2, 17, 18, 34, 31, 24000, tzinfo=UTC)
    assert scene.cloud_cover == pytest.approx(41.21)
    assert scene.processing_version == "05.10"
    b04 = scene.band_assets("B04")
    assert [a.key for a in b04] == ["B04_10m", "B04_20m", "B04_60m"]
    assert b04[0].href.startswith("s3://eodata/Sentinel-2/MSI/")
    assert (b04[0].scale, b04[0].offset, b04[0].nodata) == (0.0001, -0.1, 0)
    assert b04[0].proj_code == "EPSG:32613"
    assert [a.key for a in scene.band_assets("SCL")] == ["SCL_20m", "SCL_60m"]
    assert scene.band_assets("TCI") == []  # visual, multi-band: not a data band


def test_parse_real_mosaic_item(mosaic_item):
    scene = scene_from_item(mosaic_item)
    b02 = scene.band_assets("B02")
    assert len(b02) == 1
    assert b02[0].scale is None and b02[0].nodata == -32768
    assert b02[0].proj_code == "EPSG:32617"  # from the item's properties


def _item(template, ident, when, cloud, lon):
    item = json.loads(json.dumps(template))
    item["id"] = ident
    item["properties"]["datetime"] = when
    item["properties"]["eo:cloud_cover"] = cloud
    item["bbox"] = [lon, 52.0, lon + 1, 53.0]
    item["geometry"] = {
        "type": "Polygon",
        "coordinates": [[[lon, 52.0], [lon + 1, 52.0], [lon + 1, 53.0], [lon, 53.0], [lon, 52.0]]],
    }
    return item


@pytest.fixture()
def static_root(tmp_path, l2a_item):
    folder = tmp_path / "collections" / "sentinel-2-l2a"
    (folder / "items").mkdir(parents=True)
    items = [
        _item(l2a_item, "a", "2025-06-03T10:00:00Z", 1.0, 5.0),
        _item(l2a_item, "b", "2025-06-13T10:00:00Z", 65.0, 5.0),
        _item(l2a_item, "c", "2025-06-23T10:00:00Z", 20.0, 5.0),
        _item(l2a_item, "d", "2025-06-23T10:00:00Z", 10.0, 9.0),
        _item(l2a_item, "e", "2025-05-20T10:00:00Z", 0.5, 5.0),
    ]
    for item in items:
        (folder / "items" / f"{item['id']}.json").write_text(json.dumps(item))
    return tmp_path


def _ids(scenes):
    return [s.id for s in scenes]


def test_static_search_filters_and_orders(static_root):
    catalog = StaticCatalog(static_root)
    june = TimeRange(datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 6, 30, 23, 59, tzinfo=UTC))
    area = (5.5, 52.5, 5.6, 52.6)
    assert _ids(catalog.search(SearchQuery("sentinel-2-l2a", area, june))) == ["c", "b", "a"]
    assert _ids(catalog.search(SearchQuery("sentinel-2-l2a", area, june, order="leastRecent"))) == [
        "a",
        "b",
        "c",
    ]
    assert _ids(catalog.search(SearchQuery("sentinel-2-l2a", area, june, order="leastCC"))) == [
        "a",
        "c",
        "b",
    ]
    assert _ids(catalog.search(SearchQuery("sentinel-2-l2a", area, june, max_cloud_cover=30))) == [
        "c",
        "a",
    ]
    assert _ids(catalog.search(SearchQuery("sentinel-2-l2a", area))) == ["c", "b", "a", "e"]
    assert _ids(catalog.search(SearchQuery("sentinel-2-l2a", (9.5, 52.5, 9.6, 52.6), june))) == [
        "d"
    ]
    assert catalog.search(SearchQuery("sentinel-2-l2a", (20, 10, 21, 11))) == []
    assert catalog.search(SearchQuery("unknown", area)) == []


def test_order_ties_are_stable(l2a_item):
    scenes = [scene_from_item(_item(l2a_item, i, "2025-06-23T10:00:00Z", 5.0, 5.0)) for i in "zyx"]
    assert _ids(order_scenes(scenes, "mostRecent")) == ["z", "y", "x"]
    assert _ids(order_scenes(scenes, "leastRecent")) == ["x", "y", "z"]


def test_nearest_to_an_instant_and_its_ties(l2a_item):
    """Sentinel Hub's leastTimeDifference: time distance first; at equal distances the later
    first, one datatake's tiles after the instant in leastRecent's order (id ascending), at
    or before it in mostRecent's (id descending)."""
    at = {"a": "10:00", "b": "10:40", "c": "10:30", "d": "10:56", "e": "10:40", "f": "10:30"}
    scenes = [
        scene_from_item(_item(l2a_item, i, f"2025-06-13T{t}:00Z", 5.0, 5.0)) for i, t in at.items()
    ]
    instant = datetime(2025, 6, 13, 10, 35, tzinfo=UTC)
    assert _ids(order_scenes(scenes, NearestTo(instant))) == ["b", "e", "f", "c", "d", "a"]
    assert str(NearestTo(instant)) == "leastTimeDifference:2025-06-13T10:35:00+00:00"


def test_either_side_of_an_instant_within_the_time():
    day = TimeRange(datetime(2025, 6, 13, tzinfo=UTC), datetime(2025, 6, 13, 23, 59, tzinfo=UTC))
    query = SearchQuery("x", (0, 0, 1, 1), day, limit=3)
    inside = datetime(2025, 6, 13, 10, 35, tzinfo=UTC)
    sides = either_side(replace(query, order=NearestTo(inside)))
    assert [(s.time, s.order, s.limit) for s in sides] == [
        (TimeRange(day.start, inside), "mostRecent", 3),
        (TimeRange(inside, day.end), "leastRecent", 3),
    ]
    before = datetime(2025, 6, 11, 8, tzinfo=UTC)  # a TIME moved to a later day
    (side,) = either_side(replace(query, order=NearestTo(before)))
    assert (side.time, side.order) == (day, "leastRecent")
    after = datetime(2025, 6, 15, tzinfo=UTC)
    (side,) = either_side(replace(query, order=NearestTo(after)))
    assert (side.time, side.order) == (day, "mostRecent")


def test_stac_api_search_parameters():
    query = SearchQuery(
        "sentinel-2-l2a",
        (5.9, 52.5, 6.2, 52.7),
        TimeRange(datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 6, 30, 23, 59, 59, tzinfo=UTC)),
        max_cloud_cover=30,
        order="leastCC",
        limit=40,
    )
    params = search_parameters(query)
    assert params["collections"] == ["sentinel-2-l2a"]
    assert params["bbox"] == [5.9, 52.5, 6.2, 52.7]
    assert params["datetime"] == "2025-06-01T00:00:00.000000Z/2025-06-30T23:59:59.000000Z"
    assert params["filter"] == {"op": "<=", "args": [{"property": "eo:cloud_cover"}, 30.0]}
    assert params["filter_lang"] == "cql2-json"
    assert params["sortby"] == [  # ties broken as order_scenes breaks them
        {"field": "properties.eo:cloud_cover", "direction": "asc"},
        {"field": "properties.datetime", "direction": "desc"},
        {"field": "id", "direction": "asc"},
    ]
    assert params["max_items"] == 40
    assert "filter" not in search_parameters(SearchQuery("x", (0, 0, 1, 1)))


class _CountingCatalog:
    def __init__(self, inner):
        self.inner = inner
        self.calls = 0
        self.lock = threading.Lock()

    def search(self, query):
        with self.lock:
            self.calls += 1
        return self.inner.search(query)


def test_burst_of_tiles_makes_one_search(static_root):
    backend = _CountingCatalog(StaticCatalog(static_root))
    catalog = CachedCatalog(backend, ttl_s=60, cell=0.5)
    # 16 tiles of a 4x4 block over one area, from 8 threads at once.
    tiles = [
        (5.5 + 0.02 * i, 52.5 + 0.02 * j, 5.52 + 0.02 * i, 52.52 + 0.02 * j)
        for i in range(4)
        for j in range(4)
    ]
    results = {}

    def fetch(bbox):
        results[bbox] = _ids(catalog.search(SearchQuery("sentinel-2-l2a", bbox)))

    threads = [threading.Thread(target=fetch, args=(t,)) for t in tiles]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert backend.calls == 1
    assert all(ids == ["c", "b", "a", "e"] for ids in results.values())
    # The exact bbox still filters: this one only meets scene d.
    assert _ids(catalog.search(SearchQuery("sentinel-2-l2a", (9.5, 52.5, 9.6, 52.6)))) == ["d"]


def test_search_cache_expires(static_root):
    backend = _CountingCatalog(StaticCatalog(static_root))
    catalog = CachedCatalog(backend, ttl_s=0, cell=0.5)
    catalog.search(SearchQuery("sentinel-2-l2a", (5.5, 52.5, 5.6, 52.6)))
    catalog.search(SearchQuery("sentinel-2-l2a", (5.5, 52.5, 5.6, 52.6)))
    assert backend.calls == 2


def test_snap_bbox():
    assert snap_bbox((5.93, 52.61, 6.12, 52.69), 0.5) == (5.5, 52.5, 6.5, 53.0)
    assert snap_bbox((179.9, 89.9, 180, 90), 0.5) == (179.5, 89.5, 180.0, 90.0)


def test_a_cached_wider_search_answers_a_smaller_area(static_root):
    backend = _CountingCatalog(StaticCatalog(static_root))
    catalog = CachedCatalog(backend, ttl_s=60, cell=0.5)
    # Straddles 5.5 and 52.5: the backend is asked for (5.0, 52.0, 6.0, 53.0).
    catalog.search(SearchQuery("sentinel-2-l2a", (5.45, 52.45, 5.55, 52.55)))
    # Each of these lies in one cell inside that area: no new search.
    catalog.search(SearchQuery("sentinel-2-l2a", (5.6, 52.6, 5.7, 52.7)))
    catalog.search(SearchQuery("sentinel-2-l2a", (5.1, 52.1, 5.2, 52.2)))
    assert backend.calls == 1
    # Another time range is another question.
    catalog.search(
        SearchQuery(
            "sentinel-2-l2a",
            (5.6, 52.6, 5.7, 52.7),
            TimeRange(end=datetime(2025, 6, 1, tzinfo=UTC)),
        )
    )
    assert backend.calls == 2


def test_summaries_survive_a_failing_catalog_and_list_again_later():
    """An unreachable catalog must not stop the app from starting, nor fail every request:
    its collections are UNKNOWN (nothing listed, extents open) until a later listing works."""
    from gateway.core.catalog.summary import RETRY_FAILED_S, UNKNOWN, CatalogSummaries
    from gateway.errors import UpstreamError

    class Flaky:
        up = False
        scans = 0

        def scan(self, query):
            self.scans += 1
            if not self.up:
                raise UpstreamError("the catalog service did not answer")
            return iter([])

        def declared_extent(self, collection):
            return None

    now = [0.0]
    catalog = Flaky()
    summaries = CatalogSummaries(catalog, ttl_s=300, clock=lambda: now[0])  # type: ignore[arg-type]
    assert summaries.get("sentinel-2-l2a") is UNKNOWN
    assert summaries.get("sentinel-2-l2a") is UNKNOWN and catalog.scans == 1  # not every call
    assert UNKNOWN.extent == (-180.0, -90.0, 180.0, 90.0) and UNKNOWN.first is None
    catalog.up = True
    now[0] = RETRY_FAILED_S + 1
    summaries.refresh()  # what refresh_soon does in its thread
    assert summaries.get("sentinel-2-l2a") is not UNKNOWN and summaries.version == 1


def test_a_tile_search_asks_only_what_a_scene_reads_of_its_bands_assets(l2a_item):
    """The Fields ``include`` of a search naming bands keeps, of each asset of those bands,
    what ``scene_from_item`` reads: the scene parsed from the projected item is the scene of
    the whole item, from a third of its assets' bytes or less."""
    item_assets = {
        key: {name: asset[name] for name in ("type", "roles", "bands", "gsd") if name in asset}
        for key, asset in l2a_item["assets"].items()
    }
    query = SearchQuery("sentinel-2-l2a", (5.9, 52.5, 6.2, 52.7), bands=("B04", "B08", "SCL"))
    fields = scene_fields(query, item_assets)
    assert fields is not None
    projected = project_item(l2a_item, tuple(fields))
    whole, ours = scene_from_item(l2a_item), scene_from_item(projected)
    kept = [a for a in whole.assets if a.band in query.bands]
    assert [a.key for a in kept] == [
        "B04_10m",
        "B04_20m",
        "B04_60m",
        "B08_10m",
        "SCL_20m",
        "SCL_60m",
    ]
    assert ours.assets == tuple(kept)
    assert (ours.id, ours.datetime, ours.bbox, ours.geometry) == (
        whole.id, whole.datetime, whole.bbox, whole.geometry
    )  # fmt: skip
    assert (ours.cloud_cover, ours.processing_version) == (
        whole.cloud_cover,
        whole.processing_version,
    )
    sent = len(json.dumps(projected["assets"]))
    assert sent * 3 <= len(json.dumps({a.key: l2a_item["assets"][a.key] for a in kept}))
