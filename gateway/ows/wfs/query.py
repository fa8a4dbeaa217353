"""GetFeature / GetPropertyValue KVP -> a query: what the catalog decides, what Python does."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from shapely.geometry import box, mapping

from gateway.core.catalog import PageQuery, SortKey, cql2_text
from gateway.core.catalog.filters.evaluate import compile_filter
from gateway.core.catalog.filters.pushdown import Pushed, catalog_part
from gateway.core.catalog.filters.queryables import BY_WFS, FOOTPRINT_FIELDS, QUERYABLES
from gateway.core.catalog.filters.translate import (
    FilterTranslator,
    Json,
    all_of,
    op,
    time_range,
)
from gateway.core.dates import parse_time
from gateway.core.request import bbox_numbers
from gateway.errors import GatewayError, InvalidParameterValue, MissingParameterValue
from gateway.ows.crs import OwsCrs, parse_ows_crs
from gateway.ows.kvp import Kvp, split_list
from gateway.ows.wfs.documents import DEFAULT_CRS, GML_FORMATS, JSON_FORMATS
from gateway.ows.wfs.features import (
    FID,
    GEOMETRY,
    PROPERTIES,
    Feature,
    feature_lookup,
    property_name,
)
from gateway.ows.wfs.filters import parse_filter, read_filter, resource_ids, to_lonlat

MAX_COUNT = 10_000  # CountDefault: the most features one answer holds
# Ties are broken as the footprints were always listed: oldest first, then by id.
TIE_BREAK = (SortKey("datetime"), SortKey("id"))
TRANSLATE = FilterTranslator([*(q.stac for q in QUERYABLES), FID], casei=True)
Predicate = Callable[[Feature], bool]


@dataclass(frozen=True)
class Constraint:
    """One constraint of a query as CQL2-JSON: its predicate over features and what the
    catalog can do of it."""

    predicate: Predicate
    pushed: Pushed

    @classmethod
    def of(cls, expression: Json | None) -> Constraint:
        """Evaluated in Python what the catalog cannot decide; None: no constraint."""
        if expression is None:
            return cls(lambda f: True, Pushed(None, True))
        test = compile_filter(expression)
        return cls(lambda f: test(feature_lookup(f)), catalog_part(expression))


@dataclass
class Query:
    """What a GetFeature asks for, parsed and validated."""

    type_names: list[str]
    constraints: list[Constraint] = field(default_factory=list)
    count: int = MAX_COUNT
    start: int = 0
    hits: bool = False
    crs: OwsCrs = field(default_factory=lambda: parse_ows_crs(DEFAULT_CRS))
    properties: tuple[str, ...] | None = None
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (property, descending)
    json: bool = False

    def residual(self) -> list[Predicate]:
        """The predicates the catalog cannot decide exactly (evaluated over its answer)."""
        return [c.predicate for c in self.constraints if not c.pushed.exact]

    def page_query(self) -> PageQuery:
        """The catalog search: filter, sort, and this query's page."""
        keys = [SortKey(BY_WFS[prop].stac, descending) for prop, descending in self.sort]
        keys += [k for k in TIE_BREAK if k.field not in {key.field for key in keys}]
        return PageQuery(
            collections=tuple(dict.fromkeys(self.type_names)),
            filter=cql2_text(all_of([c.pushed.expr for c in self.constraints])),
            sortby=tuple(keys),
            offset=self.start,
            limit=0 if self.hits else self.count,
            fields=FOOTPRINT_FIELDS,
        )


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


def _bbox(text: str) -> Constraint:
    parts = split_list(text)
    if len(parts) not in (4, 5):
        raise InvalidParameterValue("BBOX must be four numbers and a CRS", locator="bbox")
    crs = parse_ows_crs(parts[4] if len(parts) == 5 else DEFAULT_CRS, "bbox")
    a, b, c, d = bbox_numbers(parts[:4])
    (x0, y0), (x1, y1) = crs.xy(a, b), crs.xy(c, d)
    if x0 > x1 or y0 > y1:
        raise InvalidParameterValue("BBOX corners are reversed", locator="bbox")
    area = to_lonlat(box(x0, y0, x1, y1), crs, "bbox")
    return Constraint.of(op("s_intersects", {"property": "geometry"}, mapping(area)))


def _time(text: str) -> Constraint:
    return Constraint.of(time_range(parse_time(text)))


def filter_constraint(text: str) -> Constraint:
    """A FILTER (``fes:Filter``), as OGC API Features filters are: its AST in CQL2-JSON."""
    return Constraint.of(TRANSLATE(parse_filter(read_filter(text))))


def resource_constraint(ids: list[str]) -> Constraint:
    """RESOURCEID / GetFeatureById: features whose gml:id is one of ``ids``."""
    return Constraint.of(TRANSLATE(resource_ids(list(dict.fromkeys(ids)))))


def _sort(text: str | None) -> list[tuple[str, bool]]:
    keys = []
    for item in split_list(text):
        words = item.split()
        prop = property_name(words[0])
        if prop not in PROPERTIES or not BY_WFS[prop].searchable:
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


def parse_query(kvp: Kvp, known: list[str], count_default: int = MAX_COUNT) -> Query:
    resource_ids = split_list(kvp.text("RESOURCEID"))
    names = type_names(kvp, known, required=not resource_ids)
    exclusive = [k for k in ("BBOX", "FILTER", "RESOURCEID") if kvp.text(k)]
    if len(exclusive) > 1:
        raise InvalidParameterValue(
            f"{' and '.join(exclusive)} cannot be combined", locator=exclusive[1].lower()
        )
    query = Query(type_names=names, json=output_is_json(kvp))
    if kvp.text("BBOX"):
        query.constraints.append(_bbox(kvp.require("BBOX")))
    if kvp.text("FILTER"):
        query.constraints.append(filter_constraint(kvp.require("FILTER")))
    if resource_ids:
        query.constraints.append(resource_constraint(resource_ids))
    if kvp.text("TIME"):
        query.constraints.append(_time(kvp.require("TIME")))
    count = kvp.integer("COUNT", minimum=0)
    if count is None:
        count = kvp.integer("MAXFEATURES", minimum=0)
    query.count = min(count, count_default) if count is not None else count_default
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
