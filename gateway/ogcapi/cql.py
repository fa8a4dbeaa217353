"""A small CQL2 evaluator over flat feature properties (pygeofilter's AST, no eval).

Time comparisons expect ``datetime`` properties as aware datetimes.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from pygeofilter import ast

from gateway.errors import InvalidParameterValue

Predicate = Callable[[dict[str, Any]], bool]

_COMPARISONS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Equal: operator.eq,
    ast.NotEqual: operator.ne,
    ast.LessThan: operator.lt,
    ast.LessEqual: operator.le,
    ast.GreaterThan: operator.gt,
    ast.GreaterEqual: operator.ge,
}


def _value(node: Any, props: dict[str, Any]) -> Any:
    if isinstance(node, ast.Attribute):
        return props.get(node.name)
    if isinstance(node, datetime):
        return node if node.tzinfo else node.replace(tzinfo=UTC)
    if isinstance(node, date):
        return datetime(node.year, node.month, node.day, tzinfo=UTC)
    if isinstance(node, str | int | float | bool):
        return node
    raise InvalidParameterValue("unsupported filter operand", locator="filter")


def _compare(op: Callable[[Any, Any], bool], left: Any, right: Any) -> bool:
    if left is None or right is None:
        return False
    try:
        return bool(op(left, right))
    except TypeError:
        return False


def compile_filter(node: Any) -> Predicate:
    """A predicate over a feature's properties; InvalidParameterValue for unsupported parts."""
    if isinstance(node, ast.And):
        left, right = compile_filter(node.lhs), compile_filter(node.rhs)
        return lambda p: left(p) and right(p)
    if isinstance(node, ast.Or):
        left, right = compile_filter(node.lhs), compile_filter(node.rhs)
        return lambda p: left(p) or right(p)
    if isinstance(node, ast.Not):
        inner = compile_filter(node.sub_node)
        return lambda p: not inner(p)
    op = _COMPARISONS.get(type(node))
    if op is not None:
        return lambda p: _compare(op, _value(node.lhs, p), _value(node.rhs, p))
    if isinstance(node, ast.Between):
        lo, hi = node.low, node.high
        return lambda p: (
            node.not_
            != (
                _compare(operator.ge, _value(node.lhs, p), _value(lo, p))
                and _compare(operator.le, _value(node.lhs, p), _value(hi, p))
            )
        )
    if isinstance(node, ast.In):
        return lambda p: (
            node.not_ != (_value(node.lhs, p) in [_value(v, p) for v in node.sub_nodes])
        )
    if isinstance(node, ast.IsNull):
        return lambda p: node.not_ != (_value(node.lhs, p) is None)
    raise InvalidParameterValue("unsupported filter expression", locator="filter")
