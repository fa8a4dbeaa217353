"""What of a WFS query the catalog can decide: FES 2.0 and the KVP constraints as CQL2-JSON.

Each constraint becomes ``Pushed(expr, exact)``: ``expr`` is a CQL2-JSON expression (STAC
property names) that every matching feature satisfies, ``exact`` says it selects exactly
the features the Python predicate selects. The catalog (a STAC API's ``filter``, or the
static catalog's evaluator) then filters, sorts and pages; only the parts that are not
exact are evaluated again in Python, over what the catalog returned.

Not pushed (evaluated in Python only): ``assets``, ``matchCase="false"``, ordering
comparisons and Between on text (collations differ), Like on non-text properties, and
ResourceIds of ids that were rewritten into NCNames (``f_...``). An ``Or`` or ``Not`` with
such a part cannot be narrowed at all. Under ``Not``, comparisons on properties that may be
missing are guarded with ``isNull``, because SQL's ``NOT (unknown)`` is not true while the
Python predicate's is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lxml import etree
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from gateway.ows.wfs.features import GEOMETRY, NEVER_NULL, PROPERTIES, STAC_NAMES
from gateway.ows.wfs.filters import (
    children,
    gml_geometry,
    like_pattern,
    local_name,
    period,
    reference,
    typed,
)

Expr = dict[str, Any]
_OPS = {
    "PropertyIsEqualTo": "=",
    "PropertyIsNotEqualTo": "<>",
    "PropertyIsLessThan": "<",
    "PropertyIsGreaterThan": ">",
    "PropertyIsLessThanOrEqualTo": "<=",
    "PropertyIsGreaterThanOrEqualTo": ">=",
}
_SPATIAL = {
    "BBOX": "s_intersects",
    "Intersects": "s_intersects",
    "Within": "s_within",
    "Contains": "s_contains",
    "Disjoint": "s_disjoint",
    "Equals": "s_equals",
    "Overlaps": "s_overlaps",
}


@dataclass(frozen=True)
class Pushed:
    """A constraint as the catalog sees it: ``expr`` (None: no narrowing) and exactness."""

    expr: Expr | None
    exact: bool


NOTHING = Pushed(None, False)


def _op(op: str, *args: Any) -> Expr:
    return {"op": op, "args": list(args)}


def _prop(name: str) -> Expr:
    return {"property": name}


def timestamp(moment: datetime) -> Expr:
    """A CQL2 timestamp (years below 1000 too: ``%Y`` does not pad them)."""
    return {"timestamp": f"{moment.year:04d}-" + moment.strftime("%m-%dT%H:%M:%S.%fZ")}


def _literal(value: Any) -> Any:
    return timestamp(value) if isinstance(value, datetime) else value


def all_of(exprs: list[Expr | None]) -> Expr | None:
    """``and`` of the given expressions (None ones ignored)."""
    kept = [e for e in exprs if e is not None]
    if len(kept) < 2:
        return kept[0] if kept else None
    return _op("and", *kept)


def resource_ids(rids: list[str | None]) -> Pushed:
    """ResourceIds: gml:ids equal to the scene id, unless rewritten into an NCName."""
    if not rids or any(r is None or r.startswith("f_") for r in rids):
        return NOTHING
    if len(rids) == 1:
        return Pushed(_op("=", _prop("id"), rids[0]), True)
    return Pushed(_op("in", _prop("id"), list(rids)), True)


def spatial(op: str, area: BaseGeometry) -> Pushed:
    """The footprint against a lon/lat geometry (``s_intersects``...)."""
    return Pushed(_op(op, _prop("geometry"), mapping(area)), True)


def time_span(start: datetime | None, end: datetime | None) -> Pushed:
    """``start <= datetime <= end`` (open ends left out)."""
    parts: list[Expr | None] = [
        _op(">=", _prop("datetime"), timestamp(start)) if start is not None else None,
        _op("<=", _prop("datetime"), timestamp(end)) if end is not None else None,
    ]
    return Pushed(all_of(parts), True)


def translate_filter(root: etree._Element) -> Pushed:
    """A ``fes:Filter`` (as ``filters.read_filter`` returns it) for the catalog."""
    kids = children(root)
    if len(kids) > 1:
        return resource_ids([c.get("rid") for c in kids])
    return _translate(kids[0], guard=False)


def _guarded(field: str, expr: Expr, guard: bool) -> Pushed:
    if guard and field not in NEVER_NULL:
        expr = _op("and", expr, _op("not", _op("isNull", _prop(field))))
    return Pushed(expr, True)


def _translate(element: etree._Element, guard: bool) -> Pushed:
    name, kids = local_name(element), children(element)
    if name in ("And", "Or"):
        return _logical(name, [_translate(k, guard) for k in kids])
    if name == "Not":
        inner = _translate(kids[0], guard=True)
        return Pushed(_op("not", inner.expr), True) if inner.exact and inner.expr else NOTHING
    if name == "ResourceId":
        return resource_ids([element.get("rid")])
    if name in _SPATIAL:
        return spatial(_SPATIAL[name], gml_geometry(kids[-1]))
    if name in ("During", "TEquals", "After", "Before"):
        start, end = period(kids[1])
        if name == "After":
            return Pushed(_op(">", _prop("datetime"), timestamp(end)), True)
        if name == "Before":
            return Pushed(_op("<", _prop("datetime"), timestamp(start)), True)
        return Pushed(_op("between", _prop("datetime"), timestamp(start), timestamp(end)), True)
    return _property_test(name, element, kids, guard)


def _logical(name: str, parts: list[Pushed]) -> Pushed:
    exact = all(p.exact for p in parts)
    if name == "And":
        return Pushed(all_of([p.expr for p in parts]), exact)
    if any(p.expr is None for p in parts):
        return NOTHING  # one side is unconstrained: so is the Or
    return Pushed(_op("or", *[p.expr for p in parts]), exact)


def _property_test(
    name: str, element: etree._Element, kids: list[etree._Element], guard: bool
) -> Pushed:
    """Comparisons, Like, Between and Null on one property."""
    reverse = name in _OPS and local_name(kids[0]) == "Literal"
    prop = reference(kids[1] if reverse else kids[0])
    if prop == GEOMETRY or prop not in STAC_NAMES:
        return NOTHING
    field, text = STAC_NAMES[prop], PROPERTIES[prop][0] == "string"
    if name in ("PropertyIsNull", "PropertyIsNil"):
        return Pushed(_op("isNull", _prop(field)), True)
    if element.get("matchCase", "true").lower() == "false" and text:
        return NOTHING
    if name in _OPS:
        if text and _OPS[name] not in ("=", "<>"):
            return NOTHING
        value = _literal(typed(prop, kids[0 if reverse else 1].text or ""))
        args = [value, _prop(field)] if reverse else [_prop(field), value]
        return _guarded(field, _op(_OPS[name], *args), guard)
    if name == "PropertyIsLike" and text:
        pattern = like_pattern(element, (kids[1].text or "") if len(kids) > 1 else "")
        return _guarded(field, _op("like", _prop(field), pattern), guard)
    if name == "PropertyIsBetween" and not text:
        low = _literal(typed(prop, "".join(kids[1].itertext()).strip()))
        high = _literal(typed(prop, "".join(kids[2].itertext()).strip()))
        return _guarded(field, _op("between", _prop(field), low, high), guard)
    return NOTHING
