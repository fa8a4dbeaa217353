"""Which part of a CQL2-JSON filter a catalog decides exactly, for a door that evaluates the
rest itself (the WFS).

A STAC API on PostgreSQL and the static catalog agree on every part pushed: comparisons of
searchable properties (``queryables``), ``isNull``, ``in``, spatial operators, and ``like`` on
text. Not pushed: properties a catalog does not search (``assets``, the WFS's rewritten ids),
``casei``, ordering comparisons and ``between`` on text (collations differ), ``like`` on
other types. An ``and`` narrows by its pushed parts; an ``or`` or ``not`` with a part that
is not pushed cannot be narrowed at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gateway.core.catalog.filters.operators import ORDERING
from gateway.core.catalog.filters.queryables import BY_STAC
from gateway.core.catalog.filters.translate import Json, all_of, op


@dataclass(frozen=True)
class Pushed:
    """A filter as the catalog sees it: ``expr`` (None: no narrowing), and whether it selects
    exactly what the whole filter selects."""

    expr: Json | None
    exact: bool


NOTHING = Pushed(None, False)


def catalog_part(expression: Json) -> Pushed:
    """What of ``expression`` the catalog can decide, and whether that is all of it."""
    name = str(expression.get("op", "")).lower()
    args = expression.get("args", [])
    if name in ("and", "or"):
        parts = [catalog_part(a) for a in args]
        exact = all(p.exact for p in parts)
        if name == "and":
            return Pushed(all_of([p.expr for p in parts]), exact)
        if any(p.expr is None for p in parts):
            return NOTHING  # one side is unconstrained: so is the or
        return Pushed(op("or", *[p.expr for p in parts]), exact)
    if name == "not":
        inner = catalog_part(args[0])
        return Pushed(op("not", inner.expr), True) if inner.exact and inner.expr else NOTHING
    return Pushed(expression, True) if _decidable(name, expression) else NOTHING


def _decidable(name: str, expression: Json) -> bool:
    if name == "casei" or any(part.get("op") == "casei" for part in _nodes(expression)):
        return False
    known = [BY_STAC.get(p["property"]) for p in _nodes(expression) if "property" in p]
    if not all(q is not None and q.searchable for q in known):
        return False
    if name in ORDERING:
        return not any(q.text for q in known if q is not None)
    if name == "like":
        return all(q.text for q in known if q is not None)
    return True


def _nodes(value: Any) -> Iterator[dict[str, Any]]:
    """Every object in a CQL2-JSON expression (operands too), depth first."""
    if isinstance(value, dict):
        yield value
        for arg in value.get("args", []):
            yield from _nodes(arg)
    elif isinstance(value, list):
        for item in value:
            yield from _nodes(item)
