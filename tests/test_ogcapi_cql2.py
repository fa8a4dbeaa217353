"""CQL2 filters of OGC API Features, asked of two gateways: one on the static catalog and one
on a STAC API (stac-fastapi-pgstac) that evaluates the pushed-down filter itself. Answers are
compared with shapely / Python references over the sample's items.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime

import httpx
import pytest
from pygeofilter.parsers.cql2_text import parse as parse_cql2_text
from shapely import wkt
from shapely.geometry import mapping, shape

from gateway.core.catalog import PageQuery, cql2_text
from gateway.core.catalog.stac_paging import page_body
from gateway.ogcapi.features import feature_filter
from tests.support.expected import load_items
from tests.support.ows_live import live_gateway
from tests.support.stac_api import StacApi, start_stac_api

OGCAPI = "gateway.ogcapi.door:build_door"
L2A = "sentinel-2-l2a"
CATALOGS = ("static", "stac-api")
# South-east of T32ULD, where the 2025-06-13 scene has no data: its footprint misses this
# corner although its bbox covers it, so only exact footprints tell the scenes apart.
CORNER = "POLYGON((6.19 52.575, 6.21 52.575, 6.21 52.59, 6.19 52.59, 6.19 52.575))"
CORNER_JSON = mapping(wkt.loads(CORNER))
WEST = "POLYGON((5.9 52.5, 6.11 52.5, 6.11 52.7, 5.9 52.7, 5.9 52.5))"
Test = Callable[[dict], bool]


def _when(item: dict) -> datetime:
    return datetime.fromisoformat(item["properties"]["datetime"].replace("Z", "+00:00"))


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _spatial(name: str, geometry: str) -> tuple[str, Test]:
    area = wkt.loads(geometry)
    return (
        f"S_{name.upper()}(geometry, {geometry})",
        lambda item: getattr(shape(item["geometry"]), name)(area),
    )


def _prop(item: dict, name: str):
    return item["properties"].get(name)


FILTERS: dict[str, tuple[str, Test]] = {
    "s_intersects-corner": _spatial("intersects", CORNER),
    "s_disjoint-corner": _spatial("disjoint", CORNER),
    "s_within-west": _spatial("within", WEST),
    "s_contains-point": _spatial("contains", "POINT(6.2 52.58)"),
    "s_intersects-multipoint": _spatial("intersects", "MULTIPOINT((5.93 52.6), (6.222 52.6))"),
    "s_intersects-bbox": (
        "S_INTERSECTS(geometry, BBOX(6.19, 52.575, 6.21, 52.59))",
        lambda item: shape(item["geometry"]).intersects(wkt.loads(CORNER)),
    ),
    "t_after": (
        "datetime T_AFTER TIMESTAMP('2025-06-10T00:00:00Z')",
        lambda item: _when(item) > _at("2025-06-10T00:00:00"),
    ),
    "t_before-date": (
        "datetime T_BEFORE DATE('2025-06-03')",
        lambda item: _when(item) < _at("2025-06-03T00:00:00"),
    ),
    "t_during": (
        "datetime T_DURING INTERVAL('2025-06-01T00:00:00Z','2025-06-20T00:00:00Z')",
        lambda item: _at("2025-06-01T00:00:00") < _when(item) < _at("2025-06-20T00:00:00"),
    ),
    "t_intersects": (
        "datetime T_INTERSECTS INTERVAL('2025-06-03T00:00:00Z','2025-06-13T23:59:59Z')",
        lambda item: _at("2025-06-03T00:00:00") <= _when(item) <= _at("2025-06-13T23:59:59"),
    ),
    "advanced-comparisons": (
        "(platform IN ('sentinel-2c') OR eo:cloud_cover BETWEEN 10 AND 40) "
        "AND NOT grid:code = 'MGRS-31UFU' AND id LIKE 'S2_\\_MSIL2A%'",
        lambda item: (
            (_prop(item, "platform") == "sentinel-2c" or 10 <= _prop(item, "eo:cloud_cover") <= 40)
            and _prop(item, "grid:code") != "MGRS-31UFU"
        ),
    ),
    "spatial-and-property": (
        f"S_INTERSECTS(geometry, {CORNER}) AND eo:cloud_cover < 50 AND "
        "processing:version IS NOT NULL",
        lambda item: (
            shape(item["geometry"]).intersects(wkt.loads(CORNER))
            and _prop(item, "eo:cloud_cover") < 50
        ),
    ),
}


@pytest.fixture(scope="module")
def items(sample_archive) -> list[dict]:
    return load_items(sample_archive, L2A)


@pytest.fixture(scope="module")
def stac(sample_archive) -> Iterator[StacApi]:
    api = start_stac_api(sample_archive / "stac")
    yield api
    api.stop()


@pytest.fixture(scope="module")
def gateways(sample_settings, stac, tmp_path_factory) -> Iterator[dict[str, str]]:
    """The OGC API door on the static catalog, and on the STAC API (no search cache)."""
    remote = sample_settings.model_copy(
        update={
            "stac_url": stac.url,
            "search_cache_ttl_s": 0.0,
            "data_dir": tmp_path_factory.mktemp("stac-api-gateway"),
        }
    )
    with ExitStack() as stack:
        yield {
            "static": stack.enter_context(live_gateway(sample_settings, doors=(OGCAPI,))),
            "stac-api": stack.enter_context(live_gateway(remote, doors=(OGCAPI,))),
        }


def _items(url: str, **params) -> httpx.Response:
    return httpx.get(
        f"{url}/ogcapi/collections/{L2A}/items",
        params={"f": "json", "limit": 100, **params},
        timeout=60,
    )


def _ids(answer: httpx.Response) -> set[str]:
    assert answer.status_code == 200, answer.text[:500]
    page = answer.json()
    assert page["numberMatched"] == len(page["features"])
    return {feature["id"] for feature in page["features"]}


@pytest.mark.parametrize("catalog", CATALOGS)
@pytest.mark.parametrize("case", list(FILTERS))
def test_cql2_text_filters_match_the_reference(gateways, items, catalog, case):
    text, test = FILTERS[case]
    expected = {item["id"] for item in items if test(item)}
    assert 0 < len(expected) < len(items), case  # the filter tells scenes apart
    assert _ids(_items(gateways[catalog], filter=text)) == expected


JSON_BODIES: dict[str, tuple[dict, Test]] = {
    "geojson-and-cloud-cover": (
        {
            "op": "and",
            "args": [
                {
                    "op": "s_intersects",
                    "args": [{"property": "geometry"}, mapping(wkt.loads(CORNER))],
                },
                {"op": "<", "args": [{"property": "eo:cloud_cover"}, 50]},
            ],
        },
        lambda item: (
            shape(item["geometry"]).intersects(wkt.loads(CORNER))
            and _prop(item, "eo:cloud_cover") < 50
        ),
    ),
    "bbox": (
        {"op": "s_within", "args": [{"property": "geometry"}, {"bbox": [5.9, 52.5, 6.11, 52.7]}]},
        lambda item: shape(item["geometry"]).within(wkt.loads(WEST)),
    ),
    "t_intersects-dates": (
        {
            "op": "t_intersects",
            "args": [{"property": "datetime"}, {"interval": ["2025-06-03", "2025-06-13"]}],
        },
        lambda item: "2025-06-03" <= item["properties"]["datetime"][:10] <= "2025-06-13",
    ),
}


@pytest.mark.parametrize("catalog", CATALOGS)
@pytest.mark.parametrize("case", list(JSON_BODIES))
def test_cql2_json_bodies_match_the_reference(gateways, items, catalog, case):
    body, test = JSON_BODIES[case]
    expected = {item["id"] for item in items if test(item)}
    assert 0 < len(expected) < len(items), case
    answer = httpx.post(
        f"{gateways[catalog]}/ogcapi/collections/{L2A}/items",
        params={"f": "json", "limit": 100},
        content=json.dumps(body),
        headers={"Content-Type": "application/query-cql-json"},
        timeout=60,
    )
    assert _ids(answer) == expected


@pytest.mark.parametrize("catalog", CATALOGS)
def test_filters_page_and_sort_in_the_catalog(gateways, items, catalog):
    text, test = FILTERS["s_disjoint-corner"]
    expected = sorted(
        (item for item in items if test(item)), key=lambda i: i["properties"]["eo:cloud_cover"]
    )
    assert len(expected) > 3
    first = _items(gateways[catalog], filter=text, sortby="eo:cloud_cover", limit=3).json()
    rest = _items(gateways[catalog], filter=text, sortby="eo:cloud_cover", limit=3, offset=3)
    assert first["numberMatched"] == len(expected)
    ids = [f["id"] for f in first["features"]] + [f["id"] for f in rest.json()["features"]]
    assert ids == [item["id"] for item in expected][:6]


def test_the_whole_query_goes_to_the_stac_api(gateways, stac, items):
    """bbox, datetime, property values and the filter reach the STAC API's search: it
    answers only the matching items (fewer bytes than the unfiltered search)."""
    url = gateways["stac-api"]
    stac.proxy.reset()
    everything = _ids(_items(url))
    unfiltered = sum(hit.body_bytes for hit in stac.proxy.hits() if hit.path.endswith("/search"))
    stac.proxy.reset()
    found = _ids(
        _items(
            url,
            bbox="6.15,52.56,6.23,52.6",
            datetime="2025-05-01T00:00:00Z/2025-06-30T00:00:00Z",
            platform="sentinel-2b",
            filter=f"S_INTERSECTS(geometry, {CORNER}) AND eo:cloud_cover < 50",
        )
    )
    searches = [hit for hit in stac.proxy.hits() if hit.path.endswith("/search")]
    corner = wkt.loads(CORNER)
    expected = {
        item["id"]
        for item in items
        if shape(item["geometry"]).intersects(corner)
        and _prop(item, "eo:cloud_cover") < 50
        and _prop(item, "platform") == "sentinel-2b"
    }
    assert found == expected and 0 < len(expected) < len(everything) / 2
    assert len(searches) == 1
    # Under half the unfiltered answer's bytes: the answers carry the footprint's fields only
    # (~350 B an item compressed), so their constant part no longer vanishes beside them.
    assert searches[0].body_bytes < unfiltered / 2


def test_query_parameters_and_filter_make_one_stac_search_body():
    """What the provider hands the catalog, as the STAC API search body it becomes."""
    expression = feature_filter(
        [6.15, 52.56, 6.23, 52.6],
        "2025-06-01T00:00:00Z/2025-06-30T00:00:00Z",
        [("sat:relative_orbit", "94")],
        parse_cql2_text("eo:cloud_cover < 50 AND datetime T_AFTER DATE('2025-06-10')"),
    )
    body = page_body(PageQuery((L2A,), filter=cql2_text(expression)))
    assert body["filter-lang"] == "cql2-json"
    parts = body["filter"]["args"]
    assert parts[0]["op"] == "s_intersects"
    assert shape(parts[0]["args"][1]).bounds == (6.15, 52.56, 6.23, 52.6)
    after, before = "2025-06-01T00:00:00.000000Z", "2025-06-30T00:00:00.000000Z"
    last_instant = "2025-06-10T23:59:59.999999Z"  # T_AFTER a date: after its whole day
    assert parts[1:4] == [
        {"op": ">=", "args": [{"property": "datetime"}, {"timestamp": after}]},
        {"op": "<=", "args": [{"property": "datetime"}, {"timestamp": before}]},
        {"op": "=", "args": [{"property": "sat:relative_orbit"}, 94]},
    ]
    assert parts[4:] == [  # the filter's own AND, flattened into the one conjunction
        {"op": "<", "args": [{"property": "eo:cloud_cover"}, 50]},
        {"op": ">", "args": [{"property": "datetime"}, {"timestamp": last_instant}]},
    ]


@pytest.mark.parametrize("catalog", CATALOGS)
@pytest.mark.parametrize(
    "text",
    [
        "eo:cloud_cover <",  # syntax
        "nope = 1",  # unknown property
        "S_INTERSECTS(platform, POINT(6 52))",  # not the footprint
        "S_INTERSECTS(geometry, POLYGON((6 52, 6.1 52.1, 6.1 52, 6 52.1, 6 52)))",  # bow tie
        "eo:cloud_cover + 1 > 3",  # arithmetic
        "datetime T_MEETS TIMESTAMP('2025-06-13T00:00:00Z')",  # not for an instant
        "assets = 'x'",  # an object
    ],
)
def test_bad_filters_are_problem_details(gateways, catalog, text):
    answer = _items(gateways[catalog], filter=text)
    assert answer.status_code == 400, answer.text[:300]
    body = answer.json()
    assert body["code"] == "InvalidParameterValue" and body["description"]
    assert "Traceback" not in answer.text


@pytest.mark.parametrize("body", [b"{not json", b'{"op": "s_intersects", "args": 1}', b"[1]"])
def test_a_bad_cql2_json_body_is_a_client_error(gateways, body):
    answer = httpx.post(
        f"{gateways['static']}/ogcapi/collections/{L2A}/items",
        params={"f": "json"},
        content=body,
        headers={"Content-Type": "application/query-cql-json"},
        timeout=60,
    )
    assert answer.status_code == 400, answer.text[:300]
    assert answer.json()["code"] == "InvalidParameterValue"
