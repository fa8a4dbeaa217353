"""OGC Filter Encoding 2.0 (KVP ``FILTER``) read into the filter model's AST (pygeofilter's).

Supported: comparisons (EqualTo, NotEqualTo, LessThan[OrEqualTo], GreaterThan[OrEqualTo],
Like, Between, Null, Nil), And/Or/Not, ResourceId, spatial BBOX/Intersects/Within/Contains/
Disjoint/Equals/Overlaps (gml:Envelope or gml:Polygon in any EPSG CRS, with its axis order),
temporal During/After/Before/TEquals. Element names are matched by local name, so FES 1.1
(``ogc:``) filters work too. pygeofilter's own FES parser needs pygml (not installed) and
leaves literals untyped: here literals take their property's type, properties their STAC
names (``queryables``), Like patterns CQL2's wildcards, geometries lon/lat, and the temporal
operators become comparisons of ``datetime`` (During and TEquals: within the period, ends
included). The result is translated (``filters.translate``) and evaluated
(``filters.evaluate``) as OGC API Features filters are.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from lxml import etree
from pygeofilter import ast, values
from shapely.geometry import Polygon, box, mapping
from shapely.geometry.base import BaseGeometry

from gateway.core.catalog.filters.like import cql2_pattern
from gateway.core.catalog.filters.operators import BY_FES, COMPARISONS
from gateway.core.catalog.filters.queryables import BY_WFS
from gateway.core.crs import check_inside
from gateway.core.dates import parse_time
from gateway.core.grid import WGS84
from gateway.errors import GatewayError, InvalidParameterValue
from gateway.ows.crs import OwsCrs, parse_ows_crs, reproject_geometry
from gateway.ows.wfs.features import FID, GEOMETRY, PROPERTIES, property_name

_COMPARE = {name: o for name, o in BY_FES.items() if o in COMPARISONS}
_SPATIAL = {name: o for name, o in BY_FES.items() if o not in COMPARISONS}
# The operators read, by kind, as the capabilities list them.
COMPARISON_NAMES = (*_COMPARE, "PropertyIsLike", "PropertyIsNull", "PropertyIsNil",
                    "PropertyIsBetween")  # fmt: skip
SPATIAL_NAMES = tuple(_SPATIAL)
TEMPORAL_NAMES = ("During", "After", "Before", "TEquals")
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


def parse_filter(root: etree._Element) -> ast.Node:
    """The AST of a ``fes:Filter`` (from ``read_filter``)."""
    kids = children(root)
    if len(kids) > 1:
        return resource_ids([c.get("rid") for c in kids])
    return _parse(kids[0])


def resource_ids(rids: list[str | None]) -> ast.Node:
    """Features whose gml:id is one of ``rids``: their scene ids, unless a rid may be an id
    rewritten into an NCName (``f_...``)."""
    if any(r is None for r in rids):
        raise parsing_failed("a ResourceId needs a rid")
    rewritten = any(r.startswith("f_") for r in rids if r is not None)
    name = ast.Attribute(FID if rewritten else "id")
    if len(rids) == 1:
        return ast.Equal(name, rids[0])
    return ast.In(name, list(rids), False)


def _parse(element: etree._Element) -> ast.Node:
    name = local_name(element)
    kids = children(element)
    if name in ("And", "Or"):
        parts = [_parse(k) for k in kids]
        if len(parts) < 2:
            raise parsing_failed(f"{name} needs two operands")
        combined = parts[0]
        for part in parts[1:]:
            combined = ast.And(combined, part) if name == "And" else ast.Or(combined, part)
        return combined
    if name == "Not":
        if len(kids) != 1:
            raise parsing_failed("Not needs one operand")
        return ast.Not(_parse(kids[0]))
    if name == "ResourceId":
        return resource_ids([element.get("rid")])
    if name in _COMPARE:
        return _comparison(element, kids, _COMPARE[name].node)
    if name == "PropertyIsLike":
        return _like(element, kids)
    if name == "PropertyIsBetween":
        return _between(kids)
    if name in ("PropertyIsNull", "PropertyIsNil"):
        return ast.IsNull(_attribute(reference(kids[0] if kids else None)), False)
    if name in _SPATIAL:
        return _spatial(_SPATIAL[name].node, kids)
    if name in TEMPORAL_NAMES:
        return _temporal(name, kids)
    raise GatewayError(
        f"filter operator {name!r} is not supported", locator="filter", code="OperationNotSupported"
    )


def reference(element: etree._Element | None) -> str:
    """The WFS property a ValueReference (or PropertyName) names."""
    if element is None or local_name(element) not in ("ValueReference", "PropertyName"):
        raise parsing_failed("expected a ValueReference")
    name = property_name(element.text or "")
    if name not in PROPERTIES and name != GEOMETRY:
        raise InvalidParameterValue(f"unknown property {name[:40]!r}", locator="filter")
    return name


def _attribute(prop: str) -> ast.Attribute:
    return ast.Attribute(BY_WFS[prop].stac)


def typed(prop: str, text: str) -> Any:
    """A literal as its property's type (numbers as floats, times at their start)."""
    kind = BY_WFS[prop].kind
    if kind == "geometry":
        raise InvalidParameterValue(f"{prop} is compared by spatial operators", locator="filter")
    try:
        if kind in ("number", "integer"):
            return float(text)
        if kind == "date-time":
            return parse_time(text.strip()).start
    except (ValueError, InvalidParameterValue):
        raise InvalidParameterValue(
            f"bad literal for {prop}: {text[:40]!r}", locator="filter"
        ) from None
    return text


def _nocase(element: etree._Element, prop: str) -> bool:
    """``matchCase="false"`` on a text property."""
    return element.get("matchCase", "true").lower() == "false" and BY_WFS[prop].text


def _comparison(element: etree._Element, kids: list, node: type) -> ast.Node:
    if len(kids) != 2:
        raise parsing_failed("a comparison needs a ValueReference and a Literal")
    reverse = local_name(kids[0]) == "Literal"  # "Literal op property"
    prop = reference(kids[1] if reverse else kids[0])
    sides: list[Any] = [_attribute(prop), typed(prop, (kids[0] if reverse else kids[1]).text or "")]
    if _nocase(element, prop):
        sides = [ast.Function("lower", [side]) for side in sides]  # pygeofilter's CASEI
    return node(*(sides[::-1] if reverse else sides))


def _like(element: etree._Element, kids: list) -> ast.Node:
    prop = reference(kids[0] if kids else None)
    pattern = cql2_pattern(
        (kids[1].text or "") if len(kids) > 1 else "",
        element.get("wildCard", "*"),
        element.get("singleChar", "."),
        element.get("escapeChar", "\\"),
    )
    nocase = element.get("matchCase", "true").lower() == "false"
    return ast.Like(_attribute(prop), pattern, nocase, "%", "_", "\\", False)


def _between(kids: list) -> ast.Node:
    if len(kids) != 3:
        raise parsing_failed("PropertyIsBetween needs a ValueReference and two boundaries")
    prop = reference(kids[0])
    low = typed(prop, "".join(kids[1].itertext()).strip())
    high = typed(prop, "".join(kids[2].itertext()).strip())
    return ast.Between(_attribute(prop), low, high, False)


def _spatial(node: type, kids: list) -> ast.Node:
    geometry_element = kids[-1] if kids else None
    if geometry_element is None or len(kids) > 2:
        raise parsing_failed("a spatial operator needs a geometry")
    if len(kids) == 2:
        reference(kids[0])
    geometry = values.Geometry(mapping(gml_geometry(geometry_element)))
    return node(ast.Attribute("geometry"), geometry)


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


def _temporal(name: str, kids: list) -> ast.Node:
    if len(kids) != 2:
        raise parsing_failed(f"{name} needs a ValueReference and a time")
    prop = reference(kids[0])
    if BY_WFS[prop].kind != "date-time":
        raise InvalidParameterValue(f"{prop} is not a time", locator="filter")
    start, end = period(kids[1])
    moment = _attribute(prop)
    if name == "After":
        return ast.GreaterThan(moment, end)
    if name == "Before":
        return ast.LessThan(moment, start)
    return ast.Between(moment, start, end, False)  # TEquals: the instant, at its precision


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
