"""OGC Filter Encoding 2.0 (KVP ``FILTER``) compiled to a predicate over footprints.

Supported: comparisons (EqualTo, NotEqualTo, LessThan[OrEqualTo], GreaterThan[OrEqualTo],
Like, Between, Null, Nil), And/Or/Not, ResourceId, spatial BBOX/Intersects/Within/Contains/
Disjoint (gml:Envelope or gml:Polygon in any EPSG CRS), temporal During/After/Before/TEquals.
Element names are matched by local name, so FES 1.1 (``ogc:``) filters work too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from lxml import etree
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry

from gateway.core.catalog.cql2 import like_matcher
from gateway.core.crs import check_inside
from gateway.core.dates import parse_time
from gateway.core.grid import WGS84
from gateway.errors import GatewayError, InvalidParameterValue
from gateway.ows.crs import OwsCrs, parse_ows_crs, reproject_geometry
from gateway.ows.wfs.features import GEOMETRY, PROPERTIES, Feature, property_name

Predicate = Callable[[Feature], bool]
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "PropertyIsEqualTo": lambda a, b: a == b,
    "PropertyIsNotEqualTo": lambda a, b: a != b,
    "PropertyIsLessThan": lambda a, b: a < b,
    "PropertyIsGreaterThan": lambda a, b: a > b,
    "PropertyIsLessThanOrEqualTo": lambda a, b: a <= b,
    "PropertyIsGreaterThanOrEqualTo": lambda a, b: a >= b,
}
_SPATIAL = {
    "BBOX": "intersects",
    "Intersects": "intersects",
    "Within": "within",
    "Contains": "contains",
    "Disjoint": "disjoint",
    "Equals": "equals",
    "Overlaps": "overlaps",
}
_TEMPORAL = ("During", "After", "Before", "TEquals")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def parsing_failed(message: str, locator: str = "filter") -> GatewayError:
    return GatewayError(message, locator=locator, code="OperationParsingFailed", status=400)


def local_name(element: etree._Element) -> str:
    return etree.QName(element).localname


def children(element: etree._Element) -> list[etree._Element]:
    return [c for c in element if isinstance(c.tag, str)]


def parse_xml(data: bytes, what: str, locator: str) -> etree._Element:
    """A well-formed XML document without a DOCTYPE (no entities, no network), or
    OperationParsingFailed."""
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError:
        raise parsing_failed(f"{what} is not well-formed XML", locator) from None
    if root.getroottree().docinfo.doctype:
        raise parsing_failed(f"{what} must not have a DOCTYPE", locator)
    return root


def read_filter(text: str) -> etree._Element:
    """The ``fes:Filter`` of a FILTER parameter: one operator, or ResourceIds only."""
    root = parse_xml(text.encode("utf-8"), "FILTER", "filter")
    kids = children(root)
    if local_name(root) != "Filter" or not kids:
        raise parsing_failed("FILTER must be one fes:Filter with one operator")
    if len(kids) > 1 and not all(local_name(c) == "ResourceId" for c in kids):
        raise parsing_failed("FILTER must be one fes:Filter with one operator")
    return root


def compile_filter(root: etree._Element) -> Predicate:
    """The predicate of a ``fes:Filter`` (from ``read_filter``)."""
    kids = children(root)
    if len(kids) > 1:
        ids = {c.get("rid") for c in kids}
        return lambda f: f.fid in ids
    return _compile(kids[0])


def _compile(element: etree._Element) -> Predicate:
    name = local_name(element)
    kids = children(element)
    if name in ("And", "Or"):
        parts = [_compile(k) for k in kids]
        if len(parts) < 2:
            raise parsing_failed(f"{name} needs two operands")
        return (
            (lambda f: all(p(f) for p in parts))
            if name == "And"
            else (lambda f: any(p(f) for p in parts))
        )
    if name == "Not":
        if len(kids) != 1:
            raise parsing_failed("Not needs one operand")
        inner = _compile(kids[0])
        return lambda f: not inner(f)
    if name == "ResourceId":
        rid = element.get("rid")
        return lambda f: f.fid == rid
    if name in _COMPARE:
        return _comparison(element, kids, _COMPARE[name])
    if name == "PropertyIsLike":
        return _like(element, kids)
    if name == "PropertyIsBetween":
        return _between(kids)
    if name in ("PropertyIsNull", "PropertyIsNil"):
        prop = reference(kids[0] if kids else None)
        return lambda f: f.properties.get(prop) is None
    if name in _SPATIAL:
        return _spatial(_SPATIAL[name], kids)
    if name in _TEMPORAL:
        return _temporal(name, kids)
    raise GatewayError(
        f"filter operator {name!r} is not supported", locator="filter", code="OperationNotSupported"
    )


def reference(element: etree._Element | None) -> str:
    if element is None or local_name(element) not in ("ValueReference", "PropertyName"):
        raise parsing_failed("expected a ValueReference")
    name = property_name(element.text or "")
    if name not in PROPERTIES and name != GEOMETRY:
        raise InvalidParameterValue(f"unknown property {name[:40]!r}", locator="filter")
    return name


def typed(prop: str, text: str) -> Any:
    kind = PROPERTIES[prop][0]
    try:
        if kind in ("double", "int"):
            return float(text)
        if kind == "dateTime":
            return parse_time(text.strip()).start
    except (ValueError, InvalidParameterValue):
        raise InvalidParameterValue(
            f"bad literal for {prop}: {text[:40]!r}", locator="filter"
        ) from None
    return text


def _comparison(element: etree._Element, kids: list, compare: Callable) -> Predicate:
    if len(kids) != 2:
        raise parsing_failed("a comparison needs a ValueReference and a Literal")
    reverse = local_name(kids[0]) == "Literal"  # "Literal op property"
    if reverse:
        kids = kids[::-1]
    prop = reference(kids[0])
    value = typed(prop, kids[1].text or "")
    match_case = element.get("matchCase", "true").lower() != "false"

    def test(feature: Feature) -> bool:
        actual = feature.properties.get(prop)
        if actual is None:
            return False
        expected = value
        if isinstance(actual, str) and not match_case:
            actual, expected = actual.lower(), str(expected).lower()
        try:
            return compare(expected, actual) if reverse else compare(actual, expected)
        except TypeError:
            return False

    return test


def like_pattern(element: etree._Element, pattern: str) -> str:
    """An FES Like pattern (its wildCard/singleChar/escapeChar) as a CQL2 ``like`` one."""
    wild, single = element.get("wildCard", "*"), element.get("singleChar", ".")
    escape = element.get("escapeChar", "\\")

    def literal(char: str) -> str:
        return "\\" + char if char in "%_\\" else char

    out, index = "", 0
    while index < len(pattern):
        char = pattern[index]
        if char == escape and index + 1 < len(pattern):
            out += literal(pattern[index + 1])
            index += 2
            continue
        out += "%" if char == wild else "_" if char == single else literal(char)
        index += 1
    return out


def _like(element: etree._Element, kids: list) -> Predicate:
    """The catalog's own ``like`` (no backtracking), on the pattern the catalog is sent."""
    prop = reference(kids[0] if kids else None)
    pattern = like_pattern(element, (kids[1].text or "") if len(kids) > 1 else "")
    match_case = element.get("matchCase", "true").lower() != "false"
    like = like_matcher(pattern, match_case=match_case)
    return lambda f: f.properties.get(prop) is not None and like(str(f.properties[prop]))


def _between(kids: list) -> Predicate:
    if len(kids) != 3:
        raise parsing_failed("PropertyIsBetween needs a ValueReference and two boundaries")
    prop = reference(kids[0])
    low = typed(prop, "".join(kids[1].itertext()).strip())
    high = typed(prop, "".join(kids[2].itertext()).strip())
    return lambda f: f.properties.get(prop) is not None and low <= f.properties[prop] <= high


def _spatial(method: str, kids: list) -> Predicate:
    geometry_element = kids[-1] if kids else None
    if geometry_element is None or len(kids) > 2:
        raise parsing_failed("a spatial operator needs a geometry")
    if len(kids) == 2:
        reference(kids[0])
    geometry = gml_geometry(geometry_element)
    return lambda f: bool(getattr(f.geometry, method)(geometry))


def gml_geometry(element: etree._Element) -> BaseGeometry:
    """gml:Envelope or gml:Polygon (exterior ring) -> lon/lat shapely geometry."""
    crs = parse_ows_crs(element.get("srsName") or "urn:ogc:def:crs:EPSG::4326", "filter")
    name = local_name(element)
    if name == "Envelope":
        lower = _coords(element, "lowerCorner", crs)
        upper = _coords(element, "upperCorner", crs)
        if len(lower) != 1 or len(upper) != 1:
            raise parsing_failed("Envelope needs lowerCorner and upperCorner")
        (x0, y0), (x1, y1) = lower[0], upper[0]
        return to_lonlat(box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)), crs)
    if name == "Polygon":
        ring = element.find(".//{*}exterior//{*}posList")
        if ring is None:
            raise parsing_failed("Polygon needs an exterior posList")
        return to_lonlat(Polygon(_pairs(ring.text or "", crs)), crs)
    raise GatewayError(
        f"geometry {name!r} is not supported", locator="filter", code="OperationNotSupported"
    )


def _coords(element: etree._Element, tag: str, crs: OwsCrs) -> list[tuple[float, float]]:
    found = element.find(f"{{*}}{tag}")
    return _pairs(found.text or "", crs) if found is not None else []


def _pairs(text: str, crs: OwsCrs) -> list[tuple[float, float]]:
    try:
        values = [float(v) for v in text.split()]
    except ValueError:
        raise parsing_failed("coordinates must be numbers") from None
    if not all(math.isfinite(v) for v in values):
        raise InvalidParameterValue("coordinates must be finite numbers", locator="filter")
    if len(values) % 2:
        raise parsing_failed("coordinates must come in pairs")
    return [crs.xy(values[i], values[i + 1]) for i in range(0, len(values), 2)]


def to_lonlat(geometry: BaseGeometry, crs: OwsCrs, locator: str = "filter") -> BaseGeometry:
    """A client's geometry in lon/lat, once its coordinates are known to be finite and within
    what ``crs`` can show (``check_inside``)."""
    check_inside(crs.crs, geometry.bounds, locator)
    return reproject_geometry(geometry, crs.crs, WGS84)


def _temporal(name: str, kids: list) -> Predicate:
    if len(kids) != 2:
        raise parsing_failed(f"{name} needs a ValueReference and a time")
    prop = reference(kids[0])
    if PROPERTIES.get(prop, ("",))[0] != "dateTime":
        raise InvalidParameterValue(f"{prop} is not a time", locator="filter")
    start, end = period(kids[1])

    def test(feature: Feature) -> bool:
        moment: datetime = feature.properties[prop]
        if name == "During":
            return start <= moment <= end
        if name == "After":
            return moment > end
        if name == "Before":
            return moment < start
        return start <= moment <= end  # TEquals: the instant, at its precision

    return test


def period(element: etree._Element) -> tuple[datetime, datetime]:
    """gml:TimePeriod (begin/end) or gml:TimeInstant -> [start, end] in UTC."""
    texts = [t.strip() for t in element.xpath(".//*[local-name()='timePosition' or "
             "local-name()='beginPosition' or local-name()='endPosition']/text()")]  # fmt: skip
    if local_name(element) == "TimePeriod" and len(texts) == 2:
        first, last = parse_time(texts[0]), parse_time(texts[1])
        return first.start, last.end  # type: ignore[return-value]
    if local_name(element) == "TimeInstant" and len(texts) == 1:
        moment = parse_time(texts[0])
        return moment.start, moment.end  # type: ignore[return-value]
    raise parsing_failed("expected a gml:TimePeriod or gml:TimeInstant")
