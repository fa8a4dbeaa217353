"""CQL2-JSON evaluated in Python: the static catalog's filter, and the WFS's for what a
catalog cannot decide.

It answers as a STAC API on PostgreSQL (pgstac) does, with SQL's three-valued logic: a
comparison with a missing value is unknown (``None``), ``not`` of unknown is unknown, and an
item matches only when the whole expression is true. Supported: ``and``, ``or``, ``not``, the
comparisons and spatial operators of ``operators``, ``between``, ``like``, ``in``,
``isNull``, ``casei``, ``timestamp``/``date`` literals and GeoJSON geometry or bbox operands
(lon/lat). Properties are read by a ``Lookup`` (a ``properties.`` prefix is dropped).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from shapely.geometry import box, shape

from gateway.core.catalog.filters.like import like_matcher
from gateway.core.catalog.filters.operators import ALIASES, BY_CQL2
from gateway.core.catalog.models import parse_datetime
from gateway.errors import InvalidParameterValue

Lookup = Callable[[str], Any]  # property name -> value (None when missing)
Node = Callable[[Lookup], Any]


def _unsupported(what: str) -> InvalidParameterValue:
    return InvalidParameterValue(f"unsupported filter {what}", locator="filter")


def property_name(name: str) -> str:
    return name.removeprefix("properties.")


def _kleene_and(values: list[Any]) -> bool | None:
    if any(v is False for v in values):
        return False
    return None if any(v is None for v in values) else True


def _kleene_or(values: list[Any]) -> bool | None:
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


def _literal(value: Any) -> Node:
    if isinstance(value, dict):
        if "timestamp" in value:
            moment = parse_datetime(str(value["timestamp"]))
            return lambda get: moment
        if "date" in value:
            day = date.fromisoformat(str(value["date"]))
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return lambda get: start
        if "type" in value and "coordinates" in value:
            geometry = shape(value)
            return lambda get: geometry
        raise _unsupported("operand")
    if (
        isinstance(value, list)
        and len(value) in (4, 6)
        and all(isinstance(v, int | float) for v in value)
    ):
        half = len(value) // 2
        area = box(value[0], value[1], value[half], value[half + 1])
        return lambda get: area
    if isinstance(value, str | int | float | bool):
        return lambda get: value
    raise _unsupported("operand")


def _casei(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _operand(value: Any) -> Node:
    if isinstance(value, dict) and "property" in value:
        name = property_name(str(value["property"]))
        return lambda get: get(name)
    if isinstance(value, dict) and str(value.get("op", "")).lower() == "casei":
        args = value.get("args")
        if not isinstance(args, list) or len(args) != 1:
            raise _unsupported("casei")
        inner = _operand(args[0])
        return lambda get: _casei(inner(get))
    if isinstance(value, dict) and "op" in value:
        return _compile(value)
    return _literal(value)


def _compare(op: Callable[[Any, Any], bool], left: Node, right: Node) -> Node:
    def test(get: Lookup) -> bool | None:
        a, b = left(get), right(get)
        if a is None or b is None:
            return None
        try:
            return bool(op(a, b))
        except TypeError:
            return None

    return test


def _like(args: list[Any]) -> Node:
    """``like`` of a value and a pattern text, both in ``casei`` or neither."""
    value, pattern = args
    nocase = isinstance(pattern, dict) and str(pattern.get("op", "")).lower() == "casei"
    if nocase:
        pattern = (pattern.get("args") or [None])[0]
    if not isinstance(pattern, str):
        raise _unsupported("like pattern")
    text, like = _operand(value), like_matcher(pattern, match_case=not nocase)
    return lambda get: None if (v := text(get)) is None else like(str(v))


def _compile(expression: dict[str, Any]) -> Node:
    op = str(expression.get("op", "")).lower()
    op = ALIASES.get(op, op)
    args = expression.get("args")
    if not isinstance(args, list):
        raise _unsupported("expression")
    if op in ("and", "or"):
        parts = [_compile(a) for a in args]
        combine = _kleene_and if op == "and" else _kleene_or
        return lambda get: combine([p(get) for p in parts])
    if op == "not" and len(args) == 1:
        inner = _compile(args[0])
        return lambda get: None if (v := inner(get)) is None else not v
    if op == "isnull" and len(args) == 1:
        value = _operand(args[0])
        return lambda get: value(get) is None
    known = BY_CQL2.get(op)
    if known is not None and len(args) == 2:
        test = known.test
        if isinstance(test, str):
            method = test
            test = lambda a, b: getattr(a, method)(b)  # noqa: E731
        return _compare(test, _operand(args[0]), _operand(args[1]))
    if op == "between" and len(args) == 3:
        value, low, high = (_operand(a) for a in args)
        above, below = _compare(operator.ge, value, low), _compare(operator.le, value, high)
        return lambda get: _kleene_and([above(get), below(get)])
    if op == "like" and len(args) == 2:
        return _like(args)
    if op == "in" and len(args) == 2 and isinstance(args[1], list):
        value, options = _operand(args[0]), [_operand(a) for a in args[1]]
        return lambda get: None if (v := value(get)) is None else any(v == o(get) for o in options)
    raise _unsupported(f"operator {op[:30]!r}")


def compile_filter(expression: dict[str, Any] | None) -> Callable[[Lookup], bool]:
    """A predicate: True only where ``expression`` is true (not false, not unknown)."""
    if expression is None:
        return lambda get: True
    node = _compile(expression)
    return lambda get: node(get) is True
