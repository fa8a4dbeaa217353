"""JavaScript's operators and ``Math`` over per-pixel values, with JavaScript's semantics.

Numbers are float64 as in JavaScript; ``&&``/``||`` give an operand, not a boolean; ``%``
keeps the dividend's sign; comparisons with NaN are false; ``Math.min``/``max`` propagate
NaN; ``Math.round`` rounds halves up.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from gateway.evalscript.errors import NotSupported, at
from gateway.evalscript.expr import BOOL, FALSE, FLOAT, NAN, TRUE, Builder, Expr, const
from gateway.evalscript.values import (
    NULL,
    UNDEFINED,
    Array,
    Object,
    Special,
    Str,
    Value,
    type_name,
)

_ARITHMETIC: dict[str, tuple[str, Callable[[float, float], float]]] = {
    "-": ("({0} - {1})", lambda a, b: np.float64(a) - b),
    "*": ("({0} * {1})", lambda a, b: np.float64(a) * b),
    "/": ("({0} / {1})", lambda a, b: np.float64(a) / b),
    "**": ("({0} ** {1})", lambda a, b: np.power(np.float64(a), b)),
}
_COMPARISONS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "<": ("({0} < {1})", lambda a, b: a < b),
    "<=": ("({0} <= {1})", lambda a, b: a <= b),
    ">": ("({0} > {1})", lambda a, b: a > b),
    ">=": ("({0} >= {1})", lambda a, b: a >= b),
}


def number(b: Builder, value: Value) -> Expr:
    """JavaScript's ToNumber."""
    if isinstance(value, Expr):
        if value.kind == FLOAT:
            return value
        return b.apply("where({0}, 1.0, 0.0)", [value], FLOAT, float)
    if value is NULL:
        return const(0.0)
    if isinstance(value, Str):
        try:
            return const(float(value.value.strip() or "0"))
        except ValueError:
            return NAN
    if isinstance(value, Array) and len(value.items) <= 1:
        return number(b, value.items[0]) if value.items else const(0.0)
    return NAN


def truthy(b: Builder, value: Value) -> Expr:
    """JavaScript's ToBoolean, as a boolean expression."""
    if isinstance(value, Expr):
        if value.kind == BOOL:
            return value
        return b.apply("(({0} != 0) & ({0} == {0}))", [value], BOOL, lambda x: x != 0 and x == x)
    if isinstance(value, Special):
        return FALSE
    if isinstance(value, Str):
        return const(bool(value.value))
    return TRUE


def where(b: Builder, mask: Expr, new: Expr, old: Expr) -> Expr:
    """``mask ? new : old`` per pixel, for numbers or booleans."""
    if mask.constant:
        return new if mask.value else old
    if new is old:
        return new
    if new.kind != old.kind:
        new, old = number(b, new), number(b, old)
    return b.apply(
        "where({0}, {1}, {2})", [mask, new, old], new.kind, lambda m, x, y: x if m else y
    )


def merge(b: Builder, mask: Expr, new: Value, old: Value, node: object = None) -> Value:
    """The value that is ``new`` where ``mask`` holds and ``old`` elsewhere."""
    if mask.constant:
        return new if mask.value else old
    if new is old:
        return new
    numbers = isinstance(new, Expr) or isinstance(old, Expr)
    if numbers and isinstance(new, Expr | Special) and isinstance(old, Expr | Special):
        return _merge_numbers(b, mask, new, old)
    if isinstance(new, Array) and isinstance(old, Special | Array):
        olds = old.items if isinstance(old, Array) else [old] * len(new.items)
        if len(olds) == len(new.items):
            return Array([merge(b, mask, n, o, node) for n, o in zip(new.items, olds, strict=True)])
    if isinstance(old, Array) and isinstance(new, Special):
        return Array([merge(b, mask, new, o, node) for o in old.items])
    if isinstance(new, Object) and isinstance(old, Object | Special):
        props: dict[str, Value] = old.props if isinstance(old, Object) else {}
        keys = list(dict.fromkeys([*props, *new.props]))
        return Object(
            {k: merge(b, mask, new.props.get(k, UNDEFINED), props.get(k, UNDEFINED)) for k in keys}
        )
    if isinstance(new, Str) and new == old:
        return new
    raise NotSupported(
        f"a value that is {type_name(new)} for some pixels and {type_name(old)} for others",
        *at(node),
    )


def _merge_numbers(b: Builder, mask: Expr, new: Expr | Special, old: Expr | Special) -> Expr:
    """Merge numbers (or booleans) and undefined, which reads as NaN but is remembered."""
    if isinstance(new, Expr) and isinstance(old, Expr):
        value = where(b, mask, new, old)
    else:
        value = where(b, mask, number(b, new), number(b, old))
    gone_new, gone_old = undefined_mask(new), undefined_mask(old)
    if gone_new.constant and gone_old.constant and not (gone_new.value or gone_old.value):
        return value
    return replace(value, undefined=where(b, mask, gone_new, gone_old))


def undefined_mask(value: Value) -> Expr:
    """Where ``value`` is undefined (or null)."""
    if isinstance(value, Special):
        return TRUE
    if isinstance(value, Expr) and value.undefined is not None:
        return value.undefined
    return FALSE


def add(b: Builder, left: Value, right: Value) -> Value:
    """``+``: string concatenation when a side is a string, else numbers."""
    if isinstance(left, Str) or isinstance(right, Str):
        return Str(to_string(left) + to_string(right))
    return b.apply("({0} + {1})", [number(b, left), number(b, right)], FLOAT, lambda x, y: x + y)


def to_string(value: Value) -> str:
    """JavaScript's ToString for values known at translation."""
    if isinstance(value, Str):
        return value.value
    if isinstance(value, Special):
        return value.name
    if isinstance(value, Expr) and value.constant:
        if value.kind == BOOL:
            return "true" if value.value else "false"
        return _number_text(float(value.value if value.value is not None else 0.0))
    if isinstance(value, Array):
        return ",".join("" if isinstance(i, Special) else to_string(i) for i in value.items)
    raise NotSupported("turning a per-pixel value into a string")


def _number_text(x: float) -> str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x.is_integer() and abs(x) < 1e21:
        return str(int(x))
    return repr(x)


def binary(b: Builder, op: str, left: Value, right: Value) -> Value:
    """A binary operator other than the logical ones."""
    if op == "+":
        return add(b, left, right)
    if op in _ARITHMETIC:
        template, fold = _ARITHMETIC[op]
        return b.apply(template, [number(b, left), number(b, right)], FLOAT, fold)
    if op == "%":
        return remainder(b, number(b, left), number(b, right))
    if op in _COMPARISONS:
        if isinstance(left, Str) and isinstance(right, Str):
            return const(_COMPARISONS[op][1](left.value, right.value))  # type: ignore[arg-type]
        template, fold = _COMPARISONS[op]
        return b.apply(template, [number(b, left), number(b, right)], BOOL, fold)
    if op in ("===", "!==", "==", "!="):
        same = equal(b, left, right, strict=op in ("===", "!=="))
        return same if op in ("===", "==") else negate(b, same)
    if op in _BOOLEAN_BITS and _booleans(left, right):  # (a > 0) & (b > 0): 1 or 0
        bits, both = _BOOLEAN_BITS[op]
        return number(b, b.apply(bits, [left, right], BOOL, both))  # type: ignore[list-item]
    if op in ("&", "|", "^", "<<", ">>", ">>>"):
        return bitwise(b, op, number(b, left), number(b, right))
    raise NotSupported(f"the operator '{op}'")


_BOOLEAN_BITS: dict[str, tuple[str, Callable[[bool, bool], bool]]] = {
    "&": ("({0} & {1})", lambda p, q: bool(p) and bool(q)),
    "|": ("({0} | {1})", lambda p, q: bool(p) or bool(q)),
    "^": ("({0} ^ {1})", lambda p, q: bool(p) != bool(q)),
}


def _booleans(*values: Value) -> bool:
    """Whether every value is a boolean (a comparison's)."""
    return all(isinstance(v, Expr) and v.kind == BOOL for v in values)


def remainder(b: Builder, x: Expr, y: Expr) -> Expr:
    """JavaScript's ``%`` (C's fmod: exact, the result has the dividend's sign)."""
    if x.constant and y.constant:
        with np.errstate(all="ignore"):
            return const(float(np.fmod(np.float64(x.value), np.float64(y.value))))
    return b.kernel("fmod", [number(b, x), number(b, y)], (), FLOAT)


def bitwise(b: Builder, op: str, x: Expr, y: Expr) -> Expr:
    """Bitwise operators on 32-bit integers, for values known at translation only."""
    if not (x.constant and y.constant):
        raise NotSupported(f"the bitwise operator '{op}' on per-pixel values")
    p, q = (
        _int32(float(x.value if x.value is not None else 0.0)),
        _int32(float(y.value if y.value is not None else 0.0)),
    )
    if op == "&":
        r = p & q
    elif op == "|":
        r = p | q
    elif op == "^":
        r = p ^ q
    elif op == "<<":
        r = _int32(float((p << (q & 31)) & 0xFFFFFFFF))
    elif op == ">>":
        r = p >> (q & 31)
    else:
        return const(float((p & 0xFFFFFFFF) >> (q & 31)))
    return const(float(_int32(float(r))))


def _int32(x: float) -> int:
    if not math.isfinite(x):
        return 0
    n = int(x) & 0xFFFFFFFF
    return n - 0x100000000 if n >= 0x80000000 else n


def equal(b: Builder, left: Value, right: Value, *, strict: bool) -> Expr:
    """``===`` (``strict``) or ``==``."""
    if isinstance(left, Expr) and isinstance(right, Expr):
        if left.kind != right.kind:
            if strict:
                return FALSE
            left, right = number(b, left), number(b, right)
        return b.apply("({0} == {1})", [left, right], BOOL, lambda x, y: x == y)
    if isinstance(left, Special) and isinstance(right, Special):
        return const(left is right or not strict)
    if isinstance(left, Special) != isinstance(right, Special) and (
        isinstance(left, Expr) or isinstance(right, Expr)
    ):
        special = left if isinstance(left, Special) else right
        if special is UNDEFINED or not strict:
            return undefined_mask(right if special is left else left)
        return FALSE
    if isinstance(left, Str) and isinstance(right, Str):
        return const(left.value == right.value)
    if not strict and isinstance(left, Str | Expr) and isinstance(right, Str | Expr):
        return equal(b, number(b, left), number(b, right), strict=True)
    return const(left is right)


def negate(b: Builder, value: Expr) -> Expr:
    """Logical not of a boolean expression."""
    return b.apply("(~{0})", [value], BOOL, lambda x: not x)


def both(b: Builder, x: Expr, y: Expr) -> Expr:
    """``x & y`` for boolean expressions."""
    if x.constant:
        return y if x.value else FALSE
    if y.constant:
        return x if y.value else FALSE
    return b.apply("({0} & {1})", [x, y], BOOL, lambda p, q: p and q)


def either(b: Builder, x: Expr, y: Expr) -> Expr:
    """``x | y`` for boolean expressions."""
    if x.constant:
        return TRUE if x.value else y
    if y.constant:
        return TRUE if y.value else x
    return b.apply("({0} | {1})", [x, y], BOOL, lambda p, q: p or q)


def unary(b: Builder, op: str, value: Value) -> Value:
    """``-x``, ``+x``, ``!x``, ``typeof x``, ``void x``, ``~x``."""
    if op == "-":
        return b.apply("(-{0})", [number(b, value)], FLOAT, lambda x: -x)
    if op == "+":
        return number(b, value)
    if op == "!":
        return negate(b, truthy(b, value))
    if op == "typeof":
        return Str(_type_of(value))
    if op == "void":
        return UNDEFINED
    if op == "~":
        x = number(b, value)
        if x.constant:
            return const(float(~_int32(float(x.value if x.value is not None else 0.0))))
    raise NotSupported(f"the operator '{op}'")


def _type_of(value: Value) -> str:
    if isinstance(value, Expr):
        return "boolean" if value.kind == BOOL else "number"
    if value is UNDEFINED:
        return "undefined"
    if isinstance(value, Str):
        return "string"
    if isinstance(value, Array | Object | Special):
        return "object"
    return "function"


# --- Math --------------------------------------------------------------------------------


def _f1(
    template: str, fold: Callable[[float], float]
) -> Callable[[Builder, Sequence[Value]], Value]:
    def call(b: Builder, args: Sequence[Value]) -> Value:
        x = number(b, args[0]) if args else NAN
        return b.apply(template, [x], FLOAT, fold)

    return call


def _round(x: float) -> float:
    """Math.round: halves up; -0 for [-0.5, 0)."""
    if not math.isfinite(x):
        return x
    return -0.0 if -0.5 <= x < 0 else float(np.floor(x + 0.5))


def _math_round(b: Builder, args: Sequence[Value]) -> Value:
    """Math.round: halves up, and -0 for [-0.5, 0)."""
    x = number(b, args[0]) if args else NAN
    template = "where(({0} < 0) & ({0} >= -0.5), {1}, floor({0} + 0.5))"
    return b.apply(template, [x, const(-0.0)], FLOAT, lambda p, z: _round(p))


def _math_pow(b: Builder, args: Sequence[Value]) -> Value:
    x, y = (number(b, a) for a in (*args, UNDEFINED, UNDEFINED)[:2])
    return b.apply("({0} ** {1})", [x, y], FLOAT, _ARITHMETIC["**"][1])


def _math_atan2(b: Builder, args: Sequence[Value]) -> Value:
    y, x = (number(b, a) for a in (*args, UNDEFINED, UNDEFINED)[:2])
    return b.apply("arctan2({0}, {1})", [y, x], FLOAT, np.arctan2)


def extreme(b: Builder, values: Sequence[Expr], larger: bool) -> Expr:
    """``Math.max``/``Math.min`` of numbers, NaN if any is NaN."""
    if not values:
        return const(-math.inf if larger else math.inf)
    symbol = ">" if larger else "<"
    result = values[0]
    for value in values[1:]:
        result = b.apply(
            f"where(({{0}} {symbol} {{1}}) | ({{0}} != {{0}}), {{0}}, {{1}})",
            [result, value],
            FLOAT,
            lambda p, q: p if (p > q if larger else p < q) or p != p else q,
        )
    return result


def _math_extreme(larger: bool) -> Callable[[Builder, Sequence[Value]], Value]:
    def call(b: Builder, args: Sequence[Value]) -> Value:
        return extreme(b, [number(b, a) for a in args], larger)

    return call


def _math_hypot(b: Builder, args: Sequence[Value]) -> Value:
    total: Expr = const(0.0)
    for a in args:
        x = number(b, a)
        total = b.apply("({0} + {1} * {1})", [total, x], FLOAT, lambda s, v: s + v * v)
    return b.apply("sqrt({0})", [total], FLOAT, np.sqrt)


def _cbrt(b: Builder, args: Sequence[Value]) -> Value:
    x = number(b, args[0]) if args else NAN
    third = const(1.0 / 3.0)
    template = "where({0} < 0, -((-{0}) ** {1}), {0} ** {1})"
    return b.apply(template, [x, third], FLOAT, lambda p, t: np.cbrt(p))


MATH_FUNCTIONS: dict[str, Callable[[Builder, Sequence[Value]], Value]] = {
    "abs": _f1("abs({0})", abs),
    "sqrt": _f1("sqrt({0})", np.sqrt),
    "cbrt": _cbrt,
    "exp": _f1("exp({0})", np.exp),
    "expm1": _f1("expm1({0})", np.expm1),
    "log": _f1("log({0})", np.log),
    "log10": _f1("log10({0})", np.log10),
    "log1p": _f1("log1p({0})", np.log1p),
    "log2": _f1("(log({0}) * 1.4426950408889634)", np.log2),
    "sin": _f1("sin({0})", np.sin),
    "cos": _f1("cos({0})", np.cos),
    "tan": _f1("tan({0})", np.tan),
    "asin": _f1("arcsin({0})", np.arcsin),
    "acos": _f1("arccos({0})", np.arccos),
    "atan": _f1("arctan({0})", np.arctan),
    "sinh": _f1("sinh({0})", np.sinh),
    "cosh": _f1("cosh({0})", np.cosh),
    "tanh": _f1("tanh({0})", np.tanh),
    "asinh": _f1("arcsinh({0})", np.arcsinh),
    "acosh": _f1("arccosh({0})", np.arccosh),
    "atanh": _f1("arctanh({0})", np.arctanh),
    "floor": _f1("floor({0})", np.floor),
    "ceil": _f1("ceil({0})", np.ceil),
    "round": _math_round,
    "trunc": _f1("where({0} < 0, ceil({0}), floor({0}))", np.trunc),
    "sign": _f1("where({0} > 0, 1.0, where({0} < 0, -1.0, {0}))", np.sign),
    "pow": _math_pow,
    "atan2": _math_atan2,
    "max": _math_extreme(True),
    "min": _math_extreme(False),
    "hypot": _math_hypot,
}

MATH_CONSTANTS = {
    "PI": math.pi,
    "E": math.e,
    "LN2": math.log(2),
    "LN10": math.log(10),
    "LOG2E": 1 / math.log(2),
    "LOG10E": 1 / math.log(10),
    "SQRT2": math.sqrt(2),
    "SQRT1_2": math.sqrt(0.5),
}
