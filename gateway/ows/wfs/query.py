"""GetFeature / GetPropertyValue KVP -> a query over footprints -> the page of features."""

from __future__ import annotations

from dataclasses import dataclass, field

from shapely.geometry import box

from gateway.core.catalog import TimeRange
from gateway.core.request import parse_time
from gateway.errors import GatewayError, InvalidParameterValue, MissingParameterValue
from gateway.ows.crs import OwsCrs, parse_ows_crs
from gateway.ows.kvp import Kvp, split_list
from gateway.ows.scenes import WORLD
from gateway.ows.wfs.documents import DEFAULT_CRS, GML_FORMATS, JSON_FORMATS
from gateway.ows.wfs.features import GEOMETRY, PROPERTIES, Feature, property_name
from gateway.ows.wfs.filters import Predicate, parse_filter, to_lonlat

MAX_COUNT = 10_000


@dataclass
class Query:
    """What a GetFeature asks for, parsed and validated."""

    type_names: list[str]
    predicates: list[Predicate] = field(default_factory=list)
    count: int = MAX_COUNT
    start: int = 0
    hits: bool = False
    crs: OwsCrs = field(default_factory=lambda: parse_ows_crs(DEFAULT_CRS))
    properties: tuple[str, ...] | None = None
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (property, descending)
    json: bool = False
    # Narrowing handed to the catalog search (the predicates still decide exactly).
    search_bbox: tuple[float, float, float, float] = WORLD
    search_time: TimeRange = field(default_factory=TimeRange)

    def select(self, features: list[Feature]) -> tuple[list[Feature], int]:
        """(the requested page, numberMatched)."""
        matched = [f for f in features if all(p(f) for p in self.predicates)]
        matched.sort(key=lambda f: (f.when, f.fid))
        for prop, descending in reversed(self.sort):
            present = [f for f in matched if f.properties.get(prop) is not None]
            absent = [f for f in matched if f.properties.get(prop) is None]
            present.sort(key=lambda f, p=prop: f.properties[p], reverse=descending)
            matched = present + absent
        return matched[self.start : self.start + self.count], len(matched)


def type_names(kvp: Kvp, known: list[str], *, required: bool = True) -> list[str]:
    """TYPENAMES (or TYPENAME) -> collection ids; InvalidParameterValue for unknown names."""
    text = kvp.text("TYPENAMES") or kvp.text("TYPENAME")
    if text is None:
        if required:
            raise MissingParameterValue("missing parameter TYPENAMES", locator="typeNames")
        return list(known)
    names = []
    for item in split_list(text.replace("(", "").replace(")", "")):
        name = item.rsplit("}", 1)[-1].split(":", 1)[-1]
        if name not in known:
            raise InvalidParameterValue(f"unknown feature type {item[:60]!r}", locator="typeNames")
        names.append(name)
    return names


def _bbox(text: str) -> tuple[Predicate, tuple[float, float, float, float]]:
    parts = split_list(text)
    crs = parse_ows_crs(parts[4] if len(parts) == 5 else DEFAULT_CRS, "bbox")
    try:
        a, b, c, d = (float(v) for v in parts[:4])
    except ValueError:
        raise InvalidParameterValue("BBOX must be four numbers and a CRS", locator="bbox") from None
    if len(parts) not in (4, 5):
        raise InvalidParameterValue("BBOX must be four numbers and a CRS", locator="bbox")
    (x0, y0), (x1, y1) = crs.xy(a, b), crs.xy(c, d)
    if x0 > x1 or y0 > y1:
        raise InvalidParameterValue("BBOX corners are reversed", locator="bbox")
    area = to_lonlat(box(x0, y0, x1, y1), crs)
    return (lambda f: f.geometry.intersects(area)), area.bounds


def _time(text: str) -> tuple[Predicate, TimeRange]:
    span = parse_time(text)
    return (lambda f: span.contains(f.when)), span


def _sort(text: str | None) -> list[tuple[str, bool]]:
    keys = []
    for item in split_list(text):
        words = item.split()
        prop = property_name(words[0])
        if prop not in PROPERTIES:
            raise InvalidParameterValue(f"cannot sort by {words[0][:40]!r}", locator="sortBy")
        order = words[1].upper() if len(words) > 1 else "ASC"
        if order not in ("ASC", "DESC", "A", "D"):
            raise InvalidParameterValue("sort order must be ASC or DESC", locator="sortBy")
        keys.append((prop, order in ("DESC", "D")))
    return keys


def output_is_json(kvp: Kvp) -> bool:
    text = (kvp.text("OUTPUTFORMAT") or GML_FORMATS[0]).lower().replace(" ", "")
    if text in {f.replace(" ", "") for f in JSON_FORMATS} or text in ("json", "geojson"):
        return True
    gml = {f.replace(" ", "") for f in GML_FORMATS} | {
        "gml32", "application/gml+xml", "text/xml;subtype=gml/3.2.1", "application/xml", "text/xml"
    }  # fmt: skip
    if text in gml:
        return False
    raise InvalidParameterValue(f"unsupported outputFormat {text[:60]!r}", locator="outputFormat")


def parse_query(kvp: Kvp, known: list[str]) -> Query:
    resource_ids = split_list(kvp.text("RESOURCEID"))
    names = type_names(kvp, known, required=not resource_ids)
    exclusive = [k for k in ("BBOX", "FILTER", "RESOURCEID") if kvp.text(k)]
    if len(exclusive) > 1:
        raise InvalidParameterValue(
            f"{' and '.join(exclusive)} cannot be combined", locator=exclusive[1].lower()
        )
    query = Query(type_names=names, json=output_is_json(kvp))
    if kvp.text("BBOX"):
        predicate, query.search_bbox = _bbox(kvp.require("BBOX"))
        query.predicates.append(predicate)
    if kvp.text("FILTER"):
        query.predicates.append(parse_filter(kvp.require("FILTER")))
    if resource_ids:
        wanted = set(resource_ids)
        query.predicates.append(lambda f: f.fid in wanted)
    if kvp.text("TIME"):
        predicate, query.search_time = _time(kvp.require("TIME"))
        query.predicates.append(predicate)
    count = kvp.integer("COUNT", minimum=0)
    if count is None:
        count = kvp.integer("MAXFEATURES", minimum=0)
    query.count = min(count, MAX_COUNT) if count is not None else MAX_COUNT
    query.start = kvp.integer("STARTINDEX", minimum=0) or 0
    result_type = (kvp.text("RESULTTYPE") or "results").lower()
    if result_type not in ("results", "hits"):
        raise InvalidParameterValue("RESULTTYPE must be results or hits", locator="resultType")
    query.hits = result_type == "hits"
    if kvp.text("SRSNAME"):
        query.crs = parse_ows_crs(kvp.require("SRSNAME"), "srsName")
    props = split_list(kvp.text("PROPERTYNAME"))
    if props and props != ["*"]:
        chosen = tuple(property_name(p) for p in props)
        for name in chosen:
            if name not in PROPERTIES and name != GEOMETRY:
                raise InvalidParameterValue(
                    f"unknown property {name[:40]!r}", locator="propertyName"
                )
        query.properties = chosen
    query.sort = _sort(kvp.text("SORTBY"))
    return query


def not_found(fid: str) -> GatewayError:
    return GatewayError(f"no feature {fid[:60]!r}", locator="ID", code="NotFound", status=404)
