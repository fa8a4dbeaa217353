"""What a catalog the size of CDSE's revealed (bench/bench_catalog.py), held on the STAC API
stand-in with a dense collection: cached searches answer what the API answers even where a
search cell holds more scenes than a search returns."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from gateway.core.catalog import CachedCatalog, StacApiCatalog
from gateway.core.catalog.models import SearchQuery
from tests.support.bulk_stac import BULK, bulk_items, load_bulk
from tests.support.stac_api import StacApi, start_stac_api

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


def test_cached_search_of_a_sparse_cell_is_shared(stac):
    """Where the cell's answer is not cut, every tile in it is answered from that one search."""
    backend = StacApiCatalog(stac.url)
    cached = CachedCatalog(backend)
    tiles = [SearchQuery(BULK, (x, 40.01, x + 0.05, 40.07), limit=100) for x in (0.02, 0.22, 0.42)]
    for tile in tiles:
        assert _ids(cached.search(tile)) == _ids(backend.search(tile))
    assert cached.backend_searches == 1
