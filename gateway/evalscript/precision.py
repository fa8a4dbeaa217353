"""When a FLOAT32 output may be computed in float32 rather than in JavaScript's float64.

A translated expression is computed in float64, as V8 computes it, and rounded to the output's
type. For a FLOAT32 output of short arithmetic over float32 inputs that is wasted work: the
float32 result is within two units in the last place of V8's value rounded to float32 when
the expression rounds at most ``MAX_ROUNDINGS`` times on any path and never subtracts
rounded values (no cancellation). That is the rule here, a forward error count over the
numexpr source:

- float32 inputs and constants a float32 holds exactly round 0 times, other constants once;
- ``x * y`` and ``x / y`` add their operands' roundings and one;
- ``x + y`` and ``x - y`` round once, and only of operands that never rounded;
- ``where(c, x, y)`` is the worse of ``x`` and ``y`` when ``c`` is exact: a boolean input (a
  condition computed before, in float64), a comparison with 0 of a float32 input or of the
  sum or difference of two (float32 keeps its sign), or ``&``, ``|``, ``~`` of such.

Anything else (functions, powers, other comparisons, numbers computed in earlier steps) stays
float64.
The float32 programme names every constant as a float32 0-d input (numexpr widens the whole
expression to float64 for a float literal). Magnitudes are assumed within float32's normal
range in intermediate products and quotients, as reflectances, DN and heights are.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from gateway.evalscript.expr import constant_value

MAX_ROUNDINGS = 3  # (b - a) / (b + a): three roundings, at most 2 ulp from V8's float32
_LIMIT = 2.0**60  # constants beyond [2**-60, 2**60] (but 0) stay float64
_NONE: frozenset[str] = frozenset()
_SIGN_TESTS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)


@dataclass(frozen=True)
class Single:
    """A float32 programme: ``source`` over ``names`` (float32 or boolean inputs, then the
    float32 ``constants``)."""

    source: str
    names: tuple[str, ...]
    constants: Mapping[str, np.ndarray]


@lru_cache(maxsize=1024)
def single_precision(
    text: str, exact: frozenset[str], masks: frozenset[str] = frozenset()
) -> Single | None:
    """The float32 programme of the float64 numexpr source ``text`` whose float32 inputs are
    ``exact`` and boolean inputs ``masks``, or None when the rule above does not allow it."""
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    if _roundings(tree, exact, masks) is None:
        return None
    constants: dict[str, np.ndarray] = {}
    rewritten = _NameConstants(constants).visit(tree)
    called = {id(n.func) for n in ast.walk(rewritten) if isinstance(n, ast.Call)}
    inputs = {n.id for n in ast.walk(rewritten) if isinstance(n, ast.Name) and id(n) not in called}
    names = tuple(sorted(inputs - set(constants)))
    return Single(ast.unparse(rewritten), names + tuple(constants), constants)


def _roundings(node: ast.expr, exact: frozenset[str], masks: frozenset[str]) -> int | None:
    """How many roundings ``node``'s float32 value carries at most (None: not allowed)."""
    if isinstance(node, ast.Name):
        if node.id in exact:
            return 0
        value = constant_value(node.id)
        return None if value is None else _constant_roundings(value)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            return None
        return _constant_roundings(float(node.value))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        return _roundings(node.operand, exact, masks)
    if isinstance(node, ast.BinOp):
        left, right = _roundings(node.left, exact, masks), _roundings(node.right, exact, masks)
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.Add | ast.Sub):
            found = 1 if left == right == 0 else None
        elif isinstance(node.op, ast.Mult | ast.Div):
            found = left + right + 1
        else:
            return None
        return found if found is not None and found <= MAX_ROUNDINGS else None
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "where"
        and len(node.args) == 3
        and not node.keywords
        and _exact_condition(node.args[0], exact, masks)
    ):
        yes, no = _roundings(node.args[1], exact, masks), _roundings(node.args[2], exact, masks)
        return None if yes is None or no is None else max(yes, no)
    return None


def _constant_roundings(value: float) -> int | None:
    if value == 0:
        return 0
    if not 1 / _LIMIT <= abs(value) <= _LIMIT:
        return None
    return 0 if float(np.float32(value)) == value else 1


def _exact_condition(node: ast.expr, exact: frozenset[str], masks: frozenset[str]) -> bool:
    """Whether the condition ``node`` is the same in float32 as in float64."""
    if isinstance(node, ast.Name):
        return node.id in masks
    if isinstance(node, ast.Constant):
        return isinstance(node.value, bool)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
        return _exact_condition(node.operand, exact, masks)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitAnd | ast.BitOr):
        return _exact_condition(node.left, exact, masks) and _exact_condition(
            node.right, exact, masks
        )
    return _exact_sign(node, exact)


def _exact_sign(node: ast.expr, exact: frozenset[str]) -> bool:
    """Whether ``node`` compares with 0 a value whose sign float32 keeps: a float32 input, or
    one sum or difference of them (a float32 sum is 0 only when the exact sum is)."""
    if not (
        isinstance(node, ast.Compare)
        and len(node.ops) == 1
        and isinstance(node.ops[0], _SIGN_TESTS)
    ):
        return False
    left, right = node.left, node.comparators[0]
    if _is_zero(left):
        left, right = right, left
    if not _is_zero(right):
        return False
    if isinstance(left, ast.BinOp) and isinstance(left.op, ast.Add | ast.Sub):
        left_, right_ = left.left, left.right
        return _roundings(left_, exact, _NONE) == 0 == _roundings(right_, exact, _NONE)
    return _roundings(left, exact, _NONE) == 0


def _is_zero(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Constant)
        and not isinstance(node.value, bool)
        and isinstance(node.value, int | float)
        and node.value == 0
    )


class _NameConstants(ast.NodeTransformer):
    """Number literals and ``c_`` constants as named float32 0-d inputs ``k<i>``."""

    def __init__(self, constants: dict[str, np.ndarray]) -> None:
        self.constants = constants
        self.by_value: dict[bytes, str] = {}

    def _named(self, value: float) -> ast.Name:
        array = np.array(value, dtype=np.float32)
        key = array.tobytes()
        if key not in self.by_value:
            name = f"k{len(self.by_value)}"
            array.flags.writeable = False
            self.by_value[key] = name
            self.constants[name] = array
        return ast.Name(self.by_value[key], ast.Load())

    def visit_Constant(self, node: ast.Constant) -> ast.expr:
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            return node
        return self._named(float(node.value))

    def visit_Name(self, node: ast.Name) -> ast.expr:
        value = constant_value(node.id)
        return node if value is None else self._named(value)

    def visit_Compare(self, node: ast.Compare) -> ast.expr:
        # a comparison with 0: an integer 0 keeps the comparison float32
        node.left = ast.Constant(0) if _is_zero(node.left) else self.visit(node.left)
        node.comparators = [
            ast.Constant(0) if _is_zero(c) else self.visit(c) for c in node.comparators
        ]
        return node
