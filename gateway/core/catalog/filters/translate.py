"""A filter's AST (pygeofilter's) as the catalog's CQL2-JSON, and the CQL2-JSON of the query
parameters that are filters too (a bbox, a time range).

Both doors parse into the AST: OGC API Features with pygeofilter (pygeoapi parses ``filter``,
CQL2 text, and CQL2-JSON bodies), the WFS with ``gateway.ows.wfs.filters`` (FES 2.0). A STAC
API evaluates the result on the server, the static catalog in memory (``evaluate``).

Supported: ``AND``/``OR``/``NOT``, comparisons, ``BETWEEN``, ``LIKE`` (a CQL2 pattern: ``%``,
``_``, ``\\``), ``IN``, ``IS NULL``, the ``S_*`` spatial functions on ``geometry`` with WKT,
GeoJSON or ``BBOX`` literals in CRS84, ``CASEI`` (pygeofilter's ``lower`` function; where the
translator allows it) and the temporal functions that apply to a scene's instant
``datetime``: ``T_AFTER``, ``T_BEFORE``, ``T_EQUALS``, ``T_INTERSECTS`` and ``T_DURING``,
rewritten as comparisons. pygeofilter 0.4 reads them in the infix text form (``datetime
T_AFTER TIMESTAMP('...')``) and in CQL2-JSON, has no ``T_DISJOINT``, and parses
``T_INTERSECTS`` as ``T_OVERLAPS``: on an instant ``T_OVERLAPS`` can never hold, so that node
means ``T_INTERSECTS`` here.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from pygeofilter import ast, values
from shapely.geometry import box, mapping, shape

from gateway.core.catalog.filters.operators import BY_NODE, COMPARISONS
from gateway.errors import InvalidParameterValue

if TYPE_CHECKING:
    from gateway.core.catalog.models import TimeRange

T_INTERSECTS = ast.TemporalComparisonOp.TOVERLAPS  # CQL2 T_INTERSECTS, as pygeofilter parses it

Json = dict[str, Any]
DATETIME = {"property": "datetime"}

_COMPARISONS: dict[type, str] = {o.node: o.cql2 for o in COMPARISONS}
# Temporal relations an instant can have with an instant or interval literal.
_TEMPORAL = {
    ast.TemporalComparisonOp.AFTER,
    ast.TemporalComparisonOp.BEFORE,
    ast.TemporalComparisonOp.TEQUALS,
    T_INTERSECTS,
    ast.TemporalComparisonOp.DURING,
}
_MIRRORED = {
    ast.TemporalComparisonOp.AFTER: ast.TemporalComparisonOp.BEFORE,
    ast.TemporalComparisonOp.BEFORE: ast.TemporalComparisonOp.AFTER,
}


def _bad(message: str) -> InvalidParameterValue:
    return InvalidParameterValue(message, locator="filter")


def op(name: str, *args: Any) -> Json:
    return {"op": name, "args": list(args)}


def all_of(parts: Sequence[Json | None]) -> Json | None:
    """The conjunction of the given expressions, flat (None parts left out; None if none)."""
    kept = [
        term
        for part in parts
        if part is not None
        for term in (part["args"] if part.get("op") == "and" else [part])
    ]
    return None if not kept else kept[0] if len(kept) == 1 else op("and", *kept)


def timestamp(moment: datetime) -> Json:
    """A CQL2 timestamp in UTC (naive: UTC; years below 1000 too, which ``%Y`` does not pad)."""
    aware = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    return {"timestamp": f"{aware.year:04d}-" + aware.strftime("%m-%dT%H:%M:%S.%fZ")}


def time_range(span: TimeRange) -> Json | None:
    """``datetime`` within a closed range (open ends left out)."""
    return all_of(
        [
            op(">=", DATETIME, timestamp(span.start)) if span.start else None,
            op("<=", DATETIME, timestamp(span.end)) if span.end else None,
        ]
    )


def box_polygon(bbox: Sequence[float]) -> Json:
    """A 2D or 3D bbox as a GeoJSON polygon (both catalogs take GeoJSON geometries)."""
    if len(bbox) not in (4, 6):
        raise _bad("a bbox has 4 or 6 numbers")
    half = len(bbox) // 2
    minx, miny, maxx, maxy = (float(v) for v in (bbox[0], bbox[1], bbox[half], bbox[half + 1]))
    if not (minx <= maxx and miny <= maxy):
        raise InvalidParameterValue("bbox must be minx,miny,maxx,maxy", locator="bbox")
    return mapping(box(minx, miny, maxx, maxy))


class FilterTranslator:
    """Translates a pygeofilter AST; ``properties`` are the names a filter may use, ``casei``
    whether it may compare texts without regard to case."""

    def __init__(self, properties: Collection[str], *, casei: bool = False) -> None:
        self.properties = set(properties)
        self.casei = casei

    def __call__(self, node: Any) -> Json:
        if isinstance(node, ast.And | ast.Or):
            return op("and" if isinstance(node, ast.And) else "or", *map(self, _chain(node)))
        if isinstance(node, ast.Not):
            return op("not", self(node.sub_node))
        comparison = _COMPARISONS.get(type(node))
        if comparison is not None:
            return op(comparison, self.operand(node.lhs), self.operand(node.rhs))
        if isinstance(node, ast.Between):
            found = op("between", *(self.operand(n) for n in (node.lhs, node.low, node.high)))
        elif isinstance(node, ast.Like):
            found = self.like(node)
        elif isinstance(node, ast.In):
            found = op("in", self.operand(node.lhs), [self.operand(n) for n in node.sub_nodes])
        elif isinstance(node, ast.IsNull):
            found = op("isNull", self.operand(node.lhs))
        elif isinstance(node, ast.SpatialComparisonPredicate):
            return op(BY_NODE[type(node)].cql2, self.geometry(node.lhs), self.geometry(node.rhs))
        elif isinstance(node, ast.BBox):
            if node.crs and not str(node.crs).upper().endswith(("CRS84", "4326")):
                raise _bad("BBOX takes CRS84 coordinates")
            corners = (node.minx, node.miny, node.maxx, node.maxy)
            return op("s_intersects", self.geometry(node.lhs), box_polygon(corners))
        elif isinstance(node, ast.TemporalPredicate):
            return self.temporal(node)
        else:
            raise _bad("unsupported filter expression")
        return op("not", found) if getattr(node, "not_", False) else found

    def property(self, name: str) -> Json:
        if name not in self.properties:
            raise _bad(f"unknown filter property {name[:40]!r}")
        return {"property": name}

    def operand(self, node: Any) -> Any:
        """A property, a scalar, timestamp or date literal, or ``casei`` of one."""
        if isinstance(node, ast.Attribute):
            return self.property(node.name)
        if isinstance(node, datetime):
            return timestamp(node)
        if isinstance(node, date):
            return {"date": node.isoformat()}
        if isinstance(node, bool | int | float | str):
            return node
        if isinstance(node, ast.Function) and node.name == "lower" and self.casei:
            return op("casei", *(self.operand(n) for n in node.arguments))
        raise _bad("unsupported filter operand (arithmetic and functions are not supported)")

    def like(self, node: ast.Like) -> Json:
        """``like`` of a CQL2 pattern (pygeofilter says ``singlechar='.'`` of CQL2's ``_``)."""
        if not isinstance(node.pattern, str) or (node.nocase and not self.casei):
            raise _bad("LIKE takes a pattern text (case-sensitive)")
        if node.nocase:
            return op("like", op("casei", self.operand(node.lhs)), op("casei", node.pattern))
        return op("like", self.operand(node.lhs), node.pattern)

    def geometry(self, node: Any) -> Json:
        """``geometry`` or a geometry literal (WKT, GeoJSON, BBOX, CQL2-JSON bbox)."""
        if isinstance(node, ast.Attribute):
            if node.name != "geometry":
                raise _bad("spatial functions compare the footprint: use 'geometry'")
            return self.property("geometry")
        if isinstance(node, values.Geometry):
            return _valid(node.geometry)
        if isinstance(node, values.Envelope):  # CQL2-JSON {"bbox": [...]}, kept in list order
            return box_polygon([node.x1, node.x2, node.y1, node.y2])
        if isinstance(node, ast.Function) and node.name.lower() == "bbox":
            if not all(isinstance(v, int | float) for v in node.arguments):
                raise _bad("BBOX takes numbers")
            return box_polygon(node.arguments)
        raise _bad("spatial functions take 'geometry' and a geometry literal")

    def temporal(self, node: ast.TemporalPredicate) -> Json:
        relation, lhs, rhs = node.op, node.lhs, node.rhs
        swapped = isinstance(rhs, ast.Attribute) and not isinstance(lhs, ast.Attribute)
        if swapped:
            relation, lhs, rhs = _MIRRORED.get(relation, relation), rhs, lhs
        if not isinstance(lhs, ast.Attribute) or lhs.name != "datetime":
            raise _bad("temporal functions compare 'datetime' with a time literal")
        if relation not in _TEMPORAL or (swapped and relation is ast.TemporalComparisonOp.DURING):
            raise _bad(f"T_{relation.name} does not apply to a scene's instant")
        start, end = _span(rhs)
        never = op("isNull", DATETIME)  # every scene has a datetime
        after = op(">", DATETIME, timestamp(end)) if end else None
        before = op("<", DATETIME, timestamp(start)) if start else None
        if relation is ast.TemporalComparisonOp.AFTER:
            return after or never
        if relation is ast.TemporalComparisonOp.BEFORE:
            return before or never
        if relation is ast.TemporalComparisonOp.TEQUALS:
            return op("=", DATETIME, timestamp(start)) if start and start == end else never
        if relation is ast.TemporalComparisonOp.DURING:
            inside = [
                op(">", DATETIME, timestamp(start)) if start else None,
                op("<", DATETIME, timestamp(end)) if end else None,
            ]
        else:  # T_INTERSECTS
            inside = [
                op(">=", DATETIME, timestamp(start)) if start else None,
                op("<=", DATETIME, timestamp(end)) if end else None,
            ]
        return all_of(inside) or op("not", never)


def _chain(node: ast.And | ast.Or) -> list[Any]:
    """The operands of a chain of one logical operator, in order, without recursion (a filter
    of thousands of ``AND`` is as deep as it is long)."""
    kind, found, pending = type(node), [], [node]
    while pending:
        item = pending.pop()
        if type(item) is kind:
            pending += [item.rhs, item.lhs]
        else:
            found.append(item)
    return found


def _valid(geometry: dict[str, Any]) -> Json:
    try:
        parsed = shape(geometry)
    except Exception:
        raise _bad("the geometry literal is not a geometry") from None
    if parsed.is_empty or not parsed.is_valid:
        raise _bad("the geometry literal is not a valid geometry")
    return mapping(parsed)


def _instant(value: Any, *, end: bool) -> datetime | None:
    """A literal bound as an aware datetime; a date covers its whole day."""
    if value is None or value == "..":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time.max if end else time.min, UTC)
    raise _bad("unsupported time literal")


def _span(literal: Any) -> tuple[datetime | None, datetime | None]:
    if isinstance(literal, values.Interval):
        if isinstance(literal.start, timedelta) or isinstance(literal.end, timedelta):
            raise _bad("intervals with durations are not supported")
        return _instant(literal.start, end=False), _instant(literal.end, end=True)
    if isinstance(literal, datetime):
        moment = _instant(literal, end=False)
        return moment, moment
    if isinstance(literal, date):
        return _instant(literal, end=False), _instant(literal, end=True)
    raise _bad("temporal functions compare 'datetime' with a time literal")
