"""WFS queries pushed down into the catalog select what the Python predicates select.

On the static sample catalog (the STAC API's side is in tests/test_remote.py): filters over
both feature types, with missing values, checked against plain Python over the raw STAC
items and against the WFS predicates evaluated over every footprint; sorting and paging;
the parts Python evaluates over the catalog's answer, and the scan limit beyond which
numberMatched is unknown.
"""

from __future__ import annotations

import json

import pytest
from lxml import etree

from gateway.core.catalog import (
    CachedCatalog,
    PageQuery,
    SortKey,
    StaticCatalog,
    cql2_text,
    stac_paging,
)
from gateway.core.catalog.filters.evaluate import compile_filter
from gateway.core.catalog.static import scene_lookup
from gateway.ows.crs import parse_ows_crs
from gateway.ows.kvp import Kvp
from gateway.ows.wfs import encode
from gateway.ows.wfs.features import scene_feature
from gateway.ows.wfs.query import parse_query
from gateway.ows.wfs.select import select
from tests.support.expected import load_items
from tests.support.wfs_filters import BOTH_TYPES, Case, cc, fes

L2A = "sentinel-2-l2a"
MOSAICS = "sentinel-2-global-mosaics"
TYPES = [L2A, MOSAICS]


@pytest.fixture(scope="module")
def static(sample_archive):
    return StaticCatalog(sample_archive / "stac")


@pytest.fixture(scope="module")
def items(sample_archive):
    return [item for name in TYPES for item in load_items(sample_archive, name)]


def query_of(**params: str):
    pairs = {"TYPENAMES": ",".join(f"cdse:{t}" for t in TYPES), **params}
    return parse_query(Kvp(list(pairs.items())), TYPES)


def in_order(items: list[dict]) -> list[str]:
    """Ids in the WFS default order: oldest first, then by id."""
    return [i["id"] for i in sorted(items, key=lambda i: (i["properties"]["datetime"], i["id"]))]


def python_only(static: StaticCatalog, query) -> list[str]:
    """The query's own predicates over every footprint, nothing asked of the catalog."""
    features = [scene_feature(s) for s in static.scan(PageQuery(tuple(TYPES)))]
    kept = [f for f in features if all(c.predicate(f) for c in query.constraints)]
    return [f.properties["scene_id"] for f in sorted(kept, key=lambda f: (f.when, f.fid))]


@pytest.mark.parametrize("case", BOTH_TYPES, ids=lambda c: c.name)
def test_pushed_filter_equals_python_evaluation(static, items, case: Case):
    query = query_of(FILTER=fes(case.body))
    assert (query.residual() == []) == case.exact  # decided by the catalog, or not
    page, matched = select(static, query, scan_limit=100)
    want = in_order([i for i in items if case.expected(i)])
    assert 0 < len(want) < len(items)  # the filter really selects
    assert [f.properties["scene_id"] for f in page] == want
    assert matched == len(want)
    assert python_only(static, query) == want


@pytest.mark.parametrize(
    ("sortby", "start", "count"),
    [("cloud_cover DESC", "0", "4"), ("cloud_cover DESC", "3", "4"), ("cloud_cover", "6", "3"),
     ("grid_code DESC,datetime", "1", "5"), ("platform,relative_orbit DESC", "2", "20")],
)  # fmt: skip
def test_sorting_and_paging_in_the_catalog(static, items, sortby, start, count):
    query = query_of(SORTBY=sortby, STARTINDEX=start, COUNT=count)
    ordered = sorted(items, key=lambda i: (i["properties"]["datetime"], i["id"]))
    for key in reversed(sortby.split(",")):  # missing values: last ascending, first descending
        name, *order = key.split()
        prop = {"cloud_cover": "eo:cloud_cover", "grid_code": "grid:code",
                "relative_orbit": "sat:relative_orbit"}.get(name, name)  # fmt: skip
        ordered.sort(
            key=lambda i, p=prop: (i["properties"].get(p) is None, i["properties"].get(p) or 0),
            reverse=order == ["DESC"],
        )
    page, matched = select(static, query, scan_limit=100)
    first = int(start)
    assert [f.properties["scene_id"] for f in page] == [
        i["id"] for i in ordered[first : first + int(count)]
    ]
    assert matched == len(items)


def test_python_part_pages_and_counts_then_stops_at_the_scan_limit(static, items):
    case = next(c for c in BOTH_TYPES if c.name == "ignore-case-in-python")
    want = in_order([i for i in items if case.expected(i)])
    query = query_of(FILTER=fes(case.body), STARTINDEX="1", COUNT="2")
    assert query.residual()
    page, matched = select(static, query, scan_limit=100)
    assert [f.properties["scene_id"] for f in page] == want[1:3]
    assert matched == len(want) == 6
    page, matched = select(static, query, scan_limit=1)  # counting stops one scene on
    assert [f.properties["scene_id"] for f in page] == want[1:3]
    assert matched is None  # numberMatched="unknown"
    hits = query_of(FILTER=fes(case.body), RESULTTYPE="hits")
    assert select(static, hits, scan_limit=100) == ([], len(want))


def test_static_catalog_evaluates_cql2_with_sql_null_logic(static, items):
    """``not (x < 20)`` is unknown, not true, where x is missing: as on PostgreSQL."""
    less = {"op": "<", "args": [{"property": "eo:cloud_cover"}, 20]}
    for expression, expected in [
        (less, lambda i: cc(i) is not None and cc(i) < 20),
        ({"op": "not", "args": [less]}, lambda i: cc(i) is not None and cc(i) >= 20),
        ({"op": "or", "args": [{"op": "isNull", "args": [{"property": "eo:cloud_cover"}]},
                               less]}, lambda i: cc(i) is None or cc(i) < 20),
    ]:  # fmt: skip
        query = PageQuery(tuple(TYPES), filter=cql2_text(expression), limit=100)
        found = static.search_page(query)
        want = [i["id"] for i in items if expected(i)]
        assert sorted(s.id for s in found.scenes) == sorted(want)
        assert found.matched == len(want)
        test = compile_filter(json.loads(query.filter))
        assert [s.id for s in static.scan(query) if test(scene_lookup(s))] == [
            s.id for s in found.scenes
        ]
    by_default = static.search_page(PageQuery(tuple(TYPES), limit=3, offset=1))
    newest = sorted(items, key=lambda i: (i["properties"]["datetime"], i["collection"], i["id"]))
    assert [s.id for s in by_default.scenes] == [i["id"] for i in newest[::-1][1:4]]
    assert static.search_page(PageQuery((L2A,), sortby=(SortKey("id"),), offset=7)).matched == 8


def test_search_cache_keys_pages_on_filter_sort_and_page(static):
    cached = CachedCatalog(static, ttl_s=60)
    clear = cql2_text({"op": "<", "args": [{"property": "eo:cloud_cover"}, 20]})
    cloudy = cql2_text({"op": ">=", "args": [{"property": "eo:cloud_cover"}, 20]})
    queries = [PageQuery(tuple(TYPES), filter=clear), PageQuery(tuple(TYPES), filter=cloudy),
               PageQuery(tuple(TYPES), filter=clear, offset=1),
               PageQuery(tuple(TYPES), filter=clear, sortby=(SortKey("id"),))]  # fmt: skip
    answers = [cached.search_page(q) for q in queries]
    assert cached.backend_searches == 4
    assert [a.matched for a in answers] == [4, 4, 4, 4]
    assert len({tuple(s.id for s in a.scenes) for a in answers}) == 4
    assert [cached.search_page(q) for q in queries] == answers  # each from the cache
    assert cached.backend_searches == 4
    assert [s.id for s in cached.scan(queries[1])] == [s.id for s in answers[1].scenes]


def _api_without_counts(items: list[dict]):
    """A STAC API that pages by GET-style ``next`` tokens and never says numberMatched."""
    bodies: list[dict] = []

    def post(body: dict) -> dict:
        bodies.append(body)
        start, limit = int(body.get("token", 0)), body["limit"]
        chunk = items[start : start + limit]
        features = [{"id": i["id"]} if body.get("fields") else i for i in chunk]
        more = start + limit < len(items)
        links = [{"rel": "next", "href": f"http://stac/search?token={start + limit}"}] * more
        return {"type": "FeatureCollection", "features": features, "links": links}

    return post, bodies


def test_stac_paging_without_number_matched(items):
    l2a = [i for i in items if i["collection"] == L2A]
    post, bodies = _api_without_counts(l2a)
    first = stac_paging.search_page(post, PageQuery((L2A,), offset=0, limit=3), 100)
    assert [s.id for s in first.scenes] == [i["id"] for i in l2a[:3]] and first.matched is None
    bodies.clear()
    last = stac_paging.search_page(post, PageQuery((L2A,), offset=6, limit=5), 100)
    assert [s.id for s in last.scenes] == [i["id"] for i in l2a[6:]] and last.matched == 8
    assert [b.get("fields") is not None for b in bodies] == [True, False]  # ids, then items
    assert bodies[1]["token"] == "6" and bodies[0]["limit"] == 6
    assert stac_paging.search_page(post, PageQuery((L2A,), offset=9, limit=2), 100).matched == 8
    assert stac_paging.search_page(post, PageQuery((L2A,), limit=0), 100).matched is None
    assert [s.id for s in stac_paging.scan(post, PageQuery((L2A,)), 3)] == [i["id"] for i in l2a]
    root = etree.fromstring(bytes(encode.feature_collection([], None, parse_ows_crs("EPSG:4326"))))
    assert root.get("numberMatched") == "unknown"
    assert "numberMatched" not in json.loads(
        bytes(encode.geojson([], None, parse_ows_crs("EPSG:4326")))
    )
