"""What a catalog the size of CDSE's revealed (bench/bench_catalog.py), held on the STAC API
stand-in with a dense collection: cached searches answer what the API answers even where a
search cell holds more scenes than a search returns."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from itertools import chain

import httpx
import pytest

from gateway.core.catalog import CachedCatalog, StacApiCatalog
from gateway.core.catalog.models import SearchQuery, parse_datetime
from tests.support.bulk_stac import BULK, bulk_items, load_bulk
from tests.support.stac_api import StacApi, start_stac_api

L2A = "sentinel-2-l2a"
COUNT = 1_000  # 0.1° x 0.08° footprints an hour apart, 100 a row from 0° E, 40° N


@pytest.fixture(scope="module")
def stac(sample_archive, tmp_path_factory) -> Iterator[StacApi]:
    api = start_stac_api(sample_archive / "stac")
    try:
        load_bulk(api, tmp_path_factory.mktemp("bulk"), bulk_items(COUNT))
        yield api
    finally:
        api.stop()


def _ids(scenes) -> list[str]:
    return [scene.id for scene in scenes]


def _paged(pages) -> list[list[str]]:
    """The ids of a stream's pages, each page as one answer held it."""
    return [_ids(page) for page in pages]


def _streamed(pages) -> list[str]:
    return _ids(chain.from_iterable(pages))


@pytest.mark.parametrize("order", ["mostRecent", "leastRecent", "leastCC"])
def test_cached_search_in_a_dense_cell_answers_what_the_api_does(stac, order):
    """The 0.5° cell around the first footprint holds 42 scenes: a cell search cut at 10 has
    none of that footprint's when newer (or clearer) ones fill it; the cache then asks for
    the tile's own area."""
    backend = StacApiCatalog(stac.url)
    cached = CachedCatalog(backend)
    tile = SearchQuery(BULK, (0.02, 40.01, 0.08, 40.07), order=order, limit=10)
    neighbour = replace(tile, bbox=(0.32, 40.33, 0.38, 40.39))  # same cell, searched first
    assert _ids(cached.search(neighbour)) == _ids(backend.search(neighbour))
    assert _ids(cached.search(tile)) == _ids(backend.search(tile)) == ["bulk-00000"]
    assert _ids(cached.search(tile)) == ["bulk-00000"]  # now from the cache
    assert cached.backend_searches == 3  # the cell, then each tile's own area


def test_a_tile_inside_an_area_searched_before_gets_only_its_own_scenes(stac):
    """A complete answer of a larger area answers the tiles inside it with only the scenes
    that touch each tile (on the million-item catalog 14 of 360 tiles got their neighbours'
    scenes too: bench/bench_catalog.py)."""
    backend = StacApiCatalog(stac.url)
    cached = CachedCatalog(backend)
    area = SearchQuery(BULK, (0.02, 40.01, 0.28, 40.07), limit=10)  # 3 footprints; cell cut
    tile = replace(area, bbox=(0.02, 40.01, 0.08, 40.07))  # inside it: the first footprint
    assert _ids(cached.search(area)) == _ids(backend.search(area))
    assert len(_ids(backend.search(area))) == 3
    assert _ids(cached.search(tile)) == _ids(backend.search(tile)) == ["bulk-00000"]
    assert cached.backend_searches == 2  # the cell, then the area; the tile from the area's


def test_a_cell_next_to_a_dense_one_is_not_searched(stac):
    """Where a cell's answer was cut, a tile whose cell touches it asks for its own area only:
    its cell would be cut too (two searches a tile on dense catalogs); the answers stay the
    API's own."""
    backend = StacApiCatalog(stac.url)
    cached = CachedCatalog(backend)
    first = SearchQuery(BULK, (0.02, 40.01, 0.08, 40.07), limit=10)  # cell 0-0.5 E: 42
    beside = replace(first, bbox=(0.52, 40.01, 0.58, 40.07))  # cell 0.5-1 E, touching it
    assert _ids(cached.search(first)) == _ids(backend.search(first))
    assert cached.backend_searches == 2  # its cell (cut), then its own area
    assert _ids(cached.search(beside)) == _ids(backend.search(beside)) == ["bulk-00005"]
    assert cached.backend_searches == 3  # its own area only
    other_order = replace(beside, bbox=(0.62, 40.01, 0.68, 40.07), order="leastRecent")
    cached.search(other_order)  # another question: its cell is searched
    assert cached.backend_searches == 5


def test_cached_search_of_a_sparse_cell_is_shared(stac):
    """Where the cell's answer is not cut, every tile in it is answered from that one search."""
    backend = StacApiCatalog(stac.url)
    cached = CachedCatalog(backend)
    tiles = [SearchQuery(BULK, (x, 40.01, x + 0.05, 40.07), limit=100) for x in (0.02, 0.22, 0.42)]
    for tile in tiles:
        assert _ids(cached.search(tile)) == _ids(backend.search(tile))
    assert cached.backend_searches == 1


def test_a_streamed_search_is_answered_by_the_cache_or_read_a_page_at_a_time(stac):
    """A render's search as its mosaic takes the scenes (``stream``): from a cell's complete
    answer, or an earlier answer of the same area, without a new request; else the tile's
    own area from the API, its first page only until more are taken; always the scenes and
    order of the API's own search."""
    backend = StacApiCatalog(stac.url)
    cached = CachedCatalog(backend)
    sparse = [SearchQuery(BULK, (x, 40.01, x + 0.05, 40.07), limit=100) for x in (0.02, 0.22)]
    stac.proxy.reset()
    for tile in sparse:  # the cell holds 42: fewer than a first page of 50
        assert _paged(cached.stream(tile, 50)) == [_ids(backend.search(tile))]
    assert cached.backend_searches == 1 and stac.searches() == 1 + len(sparse)  # + the checks
    dense = SearchQuery(BULK, (0.02, 40.01, 0.28, 40.07), limit=10)
    assert _streamed(cached.stream(dense, 1)) == _ids(backend.search(dense))  # the cell's 42
    expected = _ids(backend.search(dense))
    assert len(expected) == 3
    cached = CachedCatalog(backend)  # another process: the cell is asked for 1 scene, cut
    stac.proxy.reset()
    found = cached.stream(dense, 1)
    assert _ids(next(found)) == expected[:1]
    assert stac.searches() == 2  # the cell's first scene (cut, cached), the tile's first page
    assert _paged(found) == [expected[1:]]
    assert stac.searches() == 3  # the rest of the tile's, in one request
    beside = replace(dense, bbox=(0.52, 40.01, 0.58, 40.07))  # the cell beside a cut one
    stac.proxy.reset()
    assert _streamed(cached.stream(beside, 1)) == _ids(backend.search(beside)) == ["bulk-00005"]
    assert stac.searches() == 2 + 1  # its cell's first page (cut), its own; then the check
    assert _ids(cached.search(beside)) == ["bulk-00005"]  # searched whole, cached
    stac.proxy.reset()
    assert _paged(cached.stream(beside, 1)) == [["bulk-00005"]]
    assert stac.searches() == 0


def test_listing_reads_only_the_fields_it_lists(stac, monkeypatch):
    """A listing asks for ids, boxes and times only: a CDSE item is ~65 kB, this ~200 B."""
    from gateway.core.catalog.summary import LISTED_FIELDS, summarise

    backend = StacApiCatalog(stac.url)
    bodies: list[dict] = []
    post = backend._post
    monkeypatch.setattr(backend, "_post", lambda body: bodies.append(body) or post(body))
    summary = summarise(backend, BULK)
    assert len(summary.times) == COUNT and summary.complete
    assert bodies and all(b["fields"] == {"include": list(LISTED_FIELDS)} for b in bodies)
    assert summary.bbox == pytest.approx((0.0, 40.0, 10.0, 40.8))
    expected = sorted(parse_datetime(i["properties"]["datetime"]) for i in bulk_items(COUNT))
    assert list(summary.times) == expected


def test_first_listing_stops_at_its_budget_then_the_whole_one_runs_in_the_background(stac):
    """Start-up waits at most ``first_listing_s``: the listing is then partial (the newest
    scenes, whole from the day after the oldest listed), stale at once, and the next refresh
    lists everything."""
    from gateway.core.catalog.summary import CatalogSummaries, ListingScope

    summaries = CatalogSummaries(
        StacApiCatalog(stac.url, page_size=50), ttl_s=3600, scope=ListingScope(first_listing_s=1e-6)
    )
    first = summaries.get(BULK)
    assert not first.complete and 0 < len(first.times) < COUNT
    oldest = min(first.times)
    assert first.authoritative_since is not None
    assert first.authoritative_since.date() == oldest.date() + timedelta(days=1)
    assert summaries.stale()
    summaries.refresh()
    whole = summaries.get(BULK)
    assert whole.complete and len(whole.times) == COUNT and not summaries.stale()


def test_start_up_listings_end_by_their_budget_counted_from_the_process_start(stac):
    """The collections listed while the app starts share ``first_listing_s`` counted from the
    process's start: when start-up itself took longer, they stop at once (the newest scene,
    stale: the whole listing runs in the background); listed in time, they are whole. A
    collection first asked later has a budget of its own."""
    from gateway.core.catalog.summary import CatalogSummaries, ListingScope

    budget_s = 600.0

    def summaries() -> CatalogSummaries:
        scope = ListingScope(first_listing_s=budget_s)
        return CatalogSummaries(StacApiCatalog(stac.url, page_size=50), ttl_s=3600, scope=scope)

    late = summaries()
    late.start([BULK], started_at=time.time() - budget_s - 1).join(timeout=120)
    cut = late.get(BULK)
    assert not cut.complete and len(cut.times) == 1 and late.stale()
    assert late.get(L2A).complete  # not listed at start-up: its own budget
    on_time = summaries()
    on_time.start([BULK], started_at=time.time()).join(timeout=120)
    whole = on_time.get(BULK)
    assert whole.complete and len(whole.times) == COUNT and not on_time.stale()


def test_render_search_asks_for_the_assets_of_its_bands_only(stac):
    """A tile reading B04, B08 and SCL gets the scenes a whole-item search finds, with the
    same assets for those bands and no others: a sixth of the bytes of CDSE-shaped items."""
    backend = StacApiCatalog(stac.url)
    whole = SearchQuery(L2A, (5.9, 52.55, 6.3, 52.7), limit=40)
    slim = replace(whole, bands=("B04", "B08", "SCL"))
    backend.search(whole)  # the client's landing page and the collection, read once
    backend.search(slim)
    before = backend.tally.snapshot()["bytes"]
    full_scenes = backend.search(whole)
    between = backend.tally.snapshot()["bytes"]
    slim_scenes = backend.search(slim)
    after = backend.tally.snapshot()["bytes"]
    assert _ids(slim_scenes) == _ids(full_scenes) and len(full_scenes) == 8
    for got, full in zip(slim_scenes, full_scenes, strict=True):
        wanted = {a for a in full.assets if a.band in slim.bands}
        assert set(got.assets) == wanted and {a.band for a in wanted} == set(slim.bands)
        assert (got.datetime, got.cloud_cover, got.bbox, got.geometry) == (
            full.datetime, full.cloud_cover, full.bbox, full.geometry,
        )  # fmt: skip
        assert got.processing_version == full.processing_version
    assert (after - between) * 4 < between - before


@pytest.fixture(scope="module")
def deep(stac, tmp_path_factory) -> Iterator[str]:
    """A gateway on the stand-in whose features doors page at most 300 scenes deep."""
    from gateway.settings import Settings
    from tests.support.bulk_stac import config_with
    from tests.support.ows_live import live_gateway

    folder = tmp_path_factory.mktemp("deep")
    settings = Settings(
        data_dir=folder / "data", config_file=config_with(folder), stac_url=stac.url,
        sample_data=False, redis_url=None, storage="local", features_max_offset=300,
    )  # fmt: skip
    doors = ("gateway.ows.wfs.door:build_door", "gateway.ogcapi.door:build_door")
    with live_gateway(settings, doors=doors) as url:
        yield url


def _wfs_page(url: str, start: int) -> httpx.Response:
    params = {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature",
              "TYPENAMES": f"cdse:{BULK}", "COUNT": "5", "STARTINDEX": str(start),
              "OUTPUTFORMAT": "application/json"}  # fmt: skip
    return httpx.get(f"{url}/wfs", params=params, timeout=60)


def _ogc_page(url: str, offset: int) -> httpx.Response:
    params = {"offset": str(offset), "limit": "5", "f": "json"}
    return httpx.get(f"{url}/ogcapi/collections/{BULK}/items", params=params, timeout=60)


def test_deep_pages_are_exact_up_to_the_bound_and_refused_beyond_it(deep):
    """Up to ``features_max_offset`` a page holds exactly the scenes at its place (the 1,000
    footprints an hour apart: WFS oldest first, OGC API newest first); beyond it both doors
    say why they refuse, instead of reading every id before the page for minutes."""
    oldest_first = [f"bulk-{i:05d}" for i in range(300, 305)]
    newest_first = [f"bulk-{999 - i:05d}" for i in range(300, 305)]
    for answer, expected in ((_wfs_page(deep, 300), oldest_first),
                             (_ogc_page(deep, 300), newest_first)):  # fmt: skip
        assert answer.status_code == 200, answer.text[:300]
        assert [f["id"] for f in answer.json()["features"]] == expected
        assert answer.json()["numberMatched"] == COUNT
    wfs = _wfs_page(deep, 301)
    assert wfs.status_code == 400 and "startIndex" in wfs.text and "at most 300" in wfs.text
    ogc = _ogc_page(deep, 301)
    assert ogc.status_code == 400 and "at most 300" in ogc.text


WMS_NS = {"w": "http://www.opengis.net/wms"}


@pytest.mark.parametrize("scan_limit", [3, 100])
def test_capabilities_say_when_their_dates_are_a_partial_listing(stac, tmp_path, scan_limit):
    """The sample's 8 scenes on 4 days listed 3 at most: the NDVI layer's abstract in the WMS
    capabilities (1.3.0 and 1.1.1) says from which day its TIME values are every acquisition;
    listed whole, it says nothing of the kind."""
    from lxml import etree

    from gateway.settings import Settings
    from tests.support.ows_live import live_gateway

    settings = Settings(
        data_dir=tmp_path, stac_url=stac.url, capabilities_scan_limit=scan_limit,
        sample_data=False, redis_url=None, storage="local",
    )  # fmt: skip
    abstracts = []
    with live_gateway(settings, doors=("gateway.ows.mapproxy.door:build_door",)) as url:
        for version, path in (("1.3.0", "//w:Layer[w:Name='NDVI']/w:Abstract/text()"),
                              ("1.1.1", "//Layer[Name='NDVI']/Abstract/text()")):  # fmt: skip
            params = {"SERVICE": "WMS", "REQUEST": "GetCapabilities", "VERSION": version}
            answer = httpx.get(f"{url}/wms", params=params, timeout=60)
            namespaces = WMS_NS if version == "1.3.0" else None
            abstracts += etree.fromstring(answer.content).xpath(path, namespaces=namespaces)
    assert len(abstracts) == 2
    for abstract in abstracts:
        if scan_limit == 3:  # the newest 3 scenes: 2025-06-23 (2) and 2025-06-13 (1)
            assert "TIME values list every acquisition from 2025-06-14 on" in abstract
        else:
            assert "TIME values" not in abstract


# The 0.5° cell at 0° E, 40° N, newest first: 605 .. 600 (the row at 40.48-40.56 N), 505, 504...
CELL_FIRST_PAGE = 8
SHARED = {  # small tiles in that cell: their scenes among the cell's first 8
    (0.12, 40.485, 0.14, 40.495): ["bulk-00601"],
    (0.19, 40.47, 0.21, 40.49): ["bulk-00602", "bulk-00601"],  # then 502 and 501
    (0.42, 40.42, 0.44, 40.44): ["bulk-00504"],
}


def test_small_tiles_of_a_cell_share_its_first_page(stac):
    """A tile of at most a quarter of a cell takes its first page from the cell's first page,
    which its neighbours share (a view's tiles over Europe asked a page each), and asks for its
    own only when it takes more: always the scenes and order of the API's own search."""
    backend = StacApiCatalog(stac.url)
    expected = {tile: _ids(backend.search(SearchQuery(BULK, tile, limit=10))) for tile in SHARED}
    cached = CachedCatalog(backend)
    stac.proxy.reset()
    streams = {}
    for tile, first_page in SHARED.items():
        streams[tile] = cached.stream(SearchQuery(BULK, tile, limit=10), CELL_FIRST_PAGE)
        assert _ids(next(streams[tile])) == first_page == expected[tile][: len(first_page)]
    assert stac.searches() == 1  # the cell's first page, for the three
    two_rows = (0.19, 40.47, 0.21, 40.49)
    assert _paged(streams[two_rows]) == [expected[two_rows][2:]] == [["bulk-00502", "bulk-00501"]]
    assert stac.searches() == 2  # its own first page, for the older scenes
    assert all(_paged(streams[t]) == [] for t in SHARED if t != two_rows)
    assert stac.searches() == 4  # each of the others asked whether it has older ones: none
    oldest = SearchQuery(BULK, (0.02, 40.01, 0.04, 40.03), limit=10)  # none in the first page
    assert _paged(cached.stream(oldest, CELL_FIRST_PAGE)) == [["bulk-00000"]]
    assert stac.searches() == 5  # its own first page (the cell's was cached)


def test_a_tile_larger_than_a_quarter_cell_asks_for_its_own_first_page_only(stac):
    """A larger tile shares its cell with few others: it asks for its own first page at once,
    not its cell's first (on a million items over Europe, zoomed-out tiles paid two requests);
    a first page holding all its scenes answers the next ask of the same."""
    backend = StacApiCatalog(stac.url)
    cached = CachedCatalog(backend)
    large = SearchQuery(BULK, (0.02, 40.01, 0.32, 40.31), limit=40)  # 0.09 square degrees
    expected = _ids(backend.search(large))
    stac.proxy.reset()
    found = cached.stream(large, 2)
    assert _ids(next(found)) == expected[:2]
    assert stac.searches() == 1  # its own first page, no cell's
    assert _paged(found) == [expected[2:]]
    assert stac.searches() == 2
    assert len(expected) == 16  # a first page of 20 holds them all: kept as the answer
    assert _paged(cached.stream(large, 20)) == [expected]
    assert stac.searches() == 3
    assert _paged(cached.stream(large, 20)) == [expected]
    assert stac.searches() == 3  # from the cache


@pytest.mark.parametrize("order", ["mostRecent", "leastRecent", "leastCC"])
@pytest.mark.parametrize("first", [1, 3, 8])
def test_a_tile_streamed_after_its_cells_first_page_gets_the_apis_answer(stac, order, first):
    """Whatever the order and the first page's size, a small tile's stream through its cell's
    first page is the API's own search of the tile, scene for scene, no page larger than
    ``first``."""
    backend = StacApiCatalog(stac.url)
    cached = CachedCatalog(backend)
    for x in (0.02, 0.17, 0.33, 0.44):
        for y in (40.01, 40.2, 40.47):
            tile = SearchQuery(BULK, (x, y, x + 0.04, y + 0.04), order=order, limit=6)
            pages = _paged(cached.stream(tile, first))
            assert list(chain.from_iterable(pages)) == _ids(backend.search(tile))
            assert all(pages) and len(pages[0]) <= first
