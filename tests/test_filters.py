"""The filter model's parts on their own: the queryables both doors name, FES Like patterns in
CQL2, and what of a filter a catalog is asked to decide. (What filters select, through both
doors and from both catalogs: tests/test_wfs_pushdown.py, tests/test_ogcapi_cql2.py and
tests/test_remote.py.)"""

from __future__ import annotations

import json

import pytest
from pygeofilter.parsers.cql2_text import parse as parse_cql2_text

from gateway.core.catalog.filters.like import cql2_pattern, like_matcher
from gateway.core.catalog.filters.pushdown import NOTHING, Pushed, catalog_part
from gateway.core.catalog.filters.queryables import QUERYABLES
from gateway.core.catalog.filters.translate import FilterTranslator, op
from gateway.errors import GatewayError, InvalidParameterValue
from gateway.ogcapi.features import FIELDS, feature_filter
from gateway.ows.kvp import Kvp
from gateway.ows.wfs.features import GEOMETRY, PROPERTIES, property_name
from gateway.ows.wfs.query import parse_query
from tests.support.wfs_filters import fes


def test_both_doors_name_the_queryables_of_one_table():
    assert [*PROPERTIES, GEOMETRY] == [q.wfs for q in QUERYABLES]
    assert list(FIELDS) == [q.stac for q in QUERYABLES if q.stac not in ("id", "geometry")]
    for q in QUERYABLES:
        if q.wfs != GEOMETRY:
            assert property_name(q.stac) == property_name(f"cdse:{q.wfs}") == q.wfs


@pytest.mark.parametrize(
    ("fes", "wild", "single", "escape", "cql2"),
    [
        ("*32U.D", "*", ".", "!", "%32U_D"),
        ("a!*b!.c", "*", ".", "!", "a*b.c"),
        ("50%_off\\", "*", ".", "!", "50\\%\\_off\\\\"),
        ("Sentinel-2\\_mosaic%3?UFU%", "%", "?", "\\", "Sentinel-2\\_mosaic%3_UFU%"),
        ("trailing!", "*", ".", "!", "trailing!"),
    ],
)
def test_fes_like_patterns_in_cql2(fes, wild, single, escape, cql2):
    assert cql2_pattern(fes, wild, single, escape) == cql2
    assert cql2_pattern(cql2, "%", "_", "\\") == cql2  # CQL2 is read as it is written


def test_an_escaped_wildcard_is_matched_literally():
    assert like_matcher("50\\%%")("50% off") and not like_matcher("50\\%%")("500 off")


def _less(name: str, value: object) -> dict:
    return op("<", {"property": name}, value)


@pytest.mark.parametrize(
    ("expression", "pushed"),
    [
        (_less("eo:cloud_cover", 20), Pushed(_less("eo:cloud_cover", 20), True)),
        (_less("grid:code", "MGRS-32"), NOTHING),  # text collations differ
        (op("like", {"property": "eo:cloud_cover"}, "1%"), NOTHING),
        (op("=", {"property": "assets"}, "x"), NOTHING),  # not searchable
        (op("=", op("casei", {"property": "platform"}), op("casei", "S2B")), NOTHING),
        (op("in", {"property": "gml:id"}, ["f_a"]), NOTHING),  # unknown to a catalog
        (
            op("and", _less("eo:cloud_cover", 20), _less("grid:code", "M")),
            Pushed(_less("eo:cloud_cover", 20), False),
        ),
        (op("or", _less("eo:cloud_cover", 20), _less("grid:code", "M")), NOTHING),
        (op("not", _less("grid:code", "M")), NOTHING),
        (
            op("not", _less("eo:cloud_cover", 20)),
            Pushed(op("not", _less("eo:cloud_cover", 20)), True),
        ),
    ],
)
def test_what_the_catalog_decides(expression, pushed):
    assert catalog_part(expression) == pushed


def test_casei_only_where_the_translator_allows_it():
    ast = parse_cql2_text("CASEI(platform) = 'S2B'")
    with pytest.raises(InvalidParameterValue):
        FilterTranslator({"platform"})(ast)
    assert FilterTranslator({"platform"}, casei=True)(ast) == op(
        "=", op("casei", {"property": "platform"}), "S2B"
    )


@pytest.mark.parametrize("logical", ["And", "Or"])
def test_a_filter_of_thousands_of_operands_is_no_recursion(logical):
    """pygeofilter chains ``AND``/``OR`` two by two: as deep as the filter is long."""
    term = (
        "<PropertyIsLessThan><ValueReference>cloud_cover</ValueReference>"
        "<Literal>20</Literal></PropertyIsLessThan>"
    )
    body = f"<{logical}>{term * 5000}</{logical}>"
    query = parse_query(Kvp([("TYPENAMES", "cdse:a"), ("FILTER", fes(body))]), ["a"])
    expression = json.loads(query.page_query().filter or "null")
    assert expression["op"] == logical.lower() and len(expression["args"]) == 5000
    text = parse_cql2_text(" OR ".join(["eo:cloud_cover < 20"] * 3000))
    assert len(feature_filter(None, None, None, text)["args"]) == 3000


def test_a_resource_id_without_rid_is_a_parsing_error():
    with pytest.raises(GatewayError) as raised:
        parse_query(Kvp([("TYPENAMES", "cdse:a"), ("FILTER", fes("<ResourceId/>"))]), ["a"])
    assert raised.value.code == "OperationParsingFailed" and raised.value.status == 400


def test_an_invalid_wfs_polygon_is_refused_as_in_ogcapi():
    """A bow tie (what it covers is not defined): a 400, as through OGC API Features."""
    ring = "6 52 6.1 52.1 6.1 52 6 52.1 6 52"
    body = (
        "<Intersects><ValueReference>footprint</ValueReference><gml:Polygon gml:id='p' "
        "srsName='urn:ogc:def:crs:OGC:1.3:CRS84'><gml:exterior><gml:LinearRing><gml:posList>"
        f"{ring}</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon></Intersects>"
    )
    with pytest.raises(InvalidParameterValue):
        parse_query(Kvp([("TYPENAMES", "cdse:a"), ("FILTER", fes(body))]), ["a"])
