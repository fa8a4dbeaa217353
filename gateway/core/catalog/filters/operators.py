"""The filter operators, one table: their CQL2-JSON names, pygeofilter AST nodes, FES element
names and what they compute."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pygeofilter import ast


@dataclass(frozen=True)
class Operator:
    """``cql2``: the CQL2-JSON ``op``; ``node``: the AST class; ``fes``: FES 2.0 element names;
    ``test``: the comparison, or the name of the shapely predicate of a spatial operator."""

    cql2: str
    node: type
    fes: tuple[str, ...]
    test: Callable[[Any, Any], bool] | str


COMPARISONS: tuple[Operator, ...] = (
    Operator("=", ast.Equal, ("PropertyIsEqualTo",), operator.eq),
    Operator("<>", ast.NotEqual, ("PropertyIsNotEqualTo",), operator.ne),
    Operator("<", ast.LessThan, ("PropertyIsLessThan",), operator.lt),
    Operator(">", ast.GreaterThan, ("PropertyIsGreaterThan",), operator.gt),
    Operator("<=", ast.LessEqual, ("PropertyIsLessThanOrEqualTo",), operator.le),
    Operator(">=", ast.GreaterEqual, ("PropertyIsGreaterThanOrEqualTo",), operator.ge),
)
SPATIAL: tuple[Operator, ...] = (
    Operator("s_intersects", ast.GeometryIntersects, ("BBOX", "Intersects"), "intersects"),
    Operator("s_within", ast.GeometryWithin, ("Within",), "within"),
    Operator("s_contains", ast.GeometryContains, ("Contains",), "contains"),
    Operator("s_disjoint", ast.GeometryDisjoint, ("Disjoint",), "disjoint"),
    Operator("s_equals", ast.GeometryEquals, ("Equals",), "equals"),
    Operator("s_overlaps", ast.GeometryOverlaps, ("Overlaps",), "overlaps"),
    Operator("s_touches", ast.GeometryTouches, (), "touches"),
    Operator("s_crosses", ast.GeometryCrosses, (), "crosses"),
)
# Other spellings of the CQL2-JSON ``op`` names that the evaluator accepts.
ALIASES = {
    "eq": "=", "!=": "<>", "ne": "<>", "neq": "<>", "lt": "<", "lte": "<=", "le": "<=",
    "gt": ">", "gte": ">=", "ge": ">=", "intersects": "s_intersects",
}  # fmt: skip
BY_CQL2: dict[str, Operator] = {o.cql2: o for o in (*COMPARISONS, *SPATIAL)}
BY_NODE: dict[type, Operator] = {o.node: o for o in (*COMPARISONS, *SPATIAL)}
BY_FES: dict[str, Operator] = {name: o for o in (*COMPARISONS, *SPATIAL) for name in o.fes}
ORDERING = frozenset({"<", "<=", ">", ">=", "between"})  # depend on a collation for text
