"""CQL2-JSON evaluated in Python over scenes: the static catalog's side of a pushed-down filter.

It answers as a STAC API on PostgreSQL (pgstac) does, with SQL's three-valued logic: a
comparison with a missing value is unknown (``None``), ``not`` of unknown is unknown, and a
scene matches only when the whole expression is true. Supported: ``and``, ``or``, ``not``,
``=``, ``<>``, ``<``, ``<=``, ``>``, ``>=``, ``between``, ``like``, ``in``, ``isNull``, the
``s_*`` spatial operators (GeoJSON geometry or bbox operands, lon/lat) and ``timestamp``/
``date`` literals. Property names are STAC's: ``id``, ``collection``, ``datetime``,
``geometry`` or an item property (``eo:cloud_cover``; a ``properties.`` prefix is dropped).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry

from gateway.core.catalog.models import Scene, SortKey, parse_datetime
from gateway.errors import InvalidParameterValue

Lookup = Callable[[str], Any]  # property name -> value (None when missing)
Node = Callable[[Lookup], Any]

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "eq": operator.eq, "<>": operator.ne, "!=": operator.ne,
    "ne": operator.ne, "neq": operator.ne, "<": operator.lt, "lt": operator.lt,
    "<=": operator.le, "lte": operator.le, "le": operator.le, ">": operator.gt,
    "gt": operator.gt, ">=": operator.ge, "gte": operator.ge, "ge": operator.ge,
}  # fmt: skip
_SPATIAL = {
    "s_intersects": "intersects", "intersects": "intersects", "s_within": "within",
    "s_contains": "contains", "s_disjoint": "disjoint", "s_equals": "equals",
    "s_overlaps": "overlaps", "s_touches": "touches", "s_crosses": "crosses",
}  # fmt: skip


def _unsupported(what: str) -> InvalidParameterValue:
    return InvalidParameterValue(f"unsupported filter {what}", locator="filter")


def property_name(name: str) -> str:
    return name.removeprefix("properties.")


def scene_lookup(scene: Scene, footprint: BaseGeometry | None = None) -> Lookup:
    """How the static catalog reads a property of ``scene`` (``footprint``: its shape)."""

    def get(name: str) -> Any:
        if name == "id":
            return scene.id
        if name == "collection":
            return scene.collection
        if name == "datetime":
            return scene.datetime
        if name == "geometry":
            return footprint if footprint is not None else _footprint(scene)
        return scene.item.get("properties", {}).get(name)

    return get


def _footprint(scene: Scene) -> BaseGeometry:
    return shape(scene.geometry) if scene.geometry else box(*scene.bbox)


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


def _operand(value: Any) -> Node:
    if isinstance(value, dict) and "property" in value:
        name = property_name(str(value["property"]))
        return lambda get: get(name)
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


def like_matcher(pattern: str, *, match_case: bool = True) -> Callable[[str], bool]:
    """A CQL2 ``like`` pattern (``%`` any run, ``_`` one character, ``\\`` escapes) as a test
    of a text. The pieces between ``%`` have a fixed length, so each is found left to right at
    its first place (always a right one): no regular expression of many ``.*``, which
    backtracks for hours on a pattern of a few thousand ``%``."""
    pieces: list[tuple[str, int]] = []  # (regular expression, length)
    piece, size, index = "", 0, 0
    while index < len(pattern):
        char = pattern[index]
        if char == "%":
            pieces.append((piece, size))
            piece, size = "", 0
        else:
            if char == "\\" and index + 1 < len(pattern):
                index += 1
                piece += re.escape(pattern[index])
            else:
                piece += "." if char == "_" else re.escape(char)
            size += 1
        index += 1
    pieces.append((piece, size))
    flags = re.DOTALL | (0 if match_case else re.IGNORECASE)
    compiled = [(re.compile(p, flags), n) for p, n in pieces]
    if len(compiled) == 1:
        return lambda text: compiled[0][0].fullmatch(text) is not None
    (first, _), *middle, (last, last_size) = compiled

    def test(text: str) -> bool:
        found = first.match(text)
        if found is None:
            return False
        at = found.end()
        for part, _ in middle:
            found = part.search(text, at)
            if found is None:
                return False
            at = found.end()
        start = len(text) - last_size  # the last piece ends the text
        return start >= at and last.fullmatch(text, start) is not None

    return test


def _compile(expression: dict[str, Any]) -> Node:
    op = str(expression.get("op", "")).lower()
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
    if op in _COMPARE and len(args) == 2:
        return _compare(_COMPARE[op], _operand(args[0]), _operand(args[1]))
    if op == "between" and len(args) == 3:
        value, low, high = (_operand(a) for a in args)
        above, below = _compare(operator.ge, value, low), _compare(operator.le, value, high)
        return lambda get: _kleene_and([above(get), below(get)])
    if op == "like" and len(args) == 2 and isinstance(args[1], str):
        value, like = _operand(args[0]), like_matcher(args[1])
        return lambda get: None if (v := value(get)) is None else like(str(v))
    if op == "in" and len(args) == 2 and isinstance(args[1], list):
        value, options = _operand(args[0]), [_operand(a) for a in args[1]]
        return lambda get: None if (v := value(get)) is None else any(v == o(get) for o in options)
    if op in _SPATIAL and len(args) == 2:
        return _compare(lambda a, b: getattr(a, _SPATIAL[op])(b), *map(_operand, args))
    raise _unsupported(f"operator {op[:30]!r}")


def compile_filter(expression: dict[str, Any] | None) -> Callable[[Lookup], bool]:
    """A predicate: True only where ``expression`` is true (not false, not unknown)."""
    if expression is None:
        return lambda get: True
    node = _compile(expression)
    return lambda get: node(get) is True


def sort_scenes(
    scenes: list[tuple[Scene, Lookup]], sortby: tuple[SortKey, ...]
) -> list[tuple[Scene, Lookup]]:
    """Order as pgstac does: the keys (nulls last ascending, first descending), then
    collection and id in the first key's direction; no keys: datetime descending."""
    keys = list(sortby) or [SortKey("datetime", descending=True)]
    named = {property_name(k.field) for k in keys}
    keys += [SortKey(f, keys[0].descending) for f in ("collection", "id") if f not in named]
    ordered = list(scenes)
    for key in reversed(keys):
        name = property_name(key.field)

        def sort_key(pair: Any, n: str = name) -> tuple[bool, Any]:
            return _null_last(pair[1](n))

        ordered.sort(key=sort_key, reverse=key.descending)
    return ordered


def _null_last(value: Any) -> tuple[bool, Any]:
    return (value is None, value)  # equal tuples never compare their None
