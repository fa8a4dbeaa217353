"""Per-pixel expressions and the step list they are materialised into.

An ``Expr`` is a numexpr source text over named arrays (bands ``b<i>``, steps ``t<i>``,
constants ``c_<hex>`` where a literal would not do) whose value is float64 (``"f"``) or boolean
(``"b"``), or a constant folded here in float64 as JavaScript computes it. The ``Builder``
collects the steps: ``materialise`` turns an expression into one numexpr evaluation whose
result later expressions name, so that a value bound to a variable is computed once.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np

from gateway.evalscript.errors import TranslationLimit

FLOAT, BOOL, INT = "f", "b", "i"
MAX_TEXT = 4000  # characters of numexpr source before an operand is materialised
MAX_NAMES = 40  # numexpr takes at most 64 operands


@dataclass(frozen=True)
class Expr:
    """A per-pixel value: ``text`` over ``names``, or the constant ``value``."""

    text: str
    kind: str
    value: float | bool | None = None
    names: frozenset[str] = frozenset()
    # where the value is JavaScript's undefined (it reads as NaN), if it is for some pixels
    undefined: Expr | None = field(default=None, compare=False)

    @property
    def constant(self) -> bool:
        return self.value is not None


@dataclass(frozen=True)
class Step:
    """``name = numexpr(source)`` over ``inputs`` (name, kind) pairs, or, when ``op`` names a
    kernel of ``gateway.evalscript.kernels``, that kernel over its input and ``params``."""

    name: str
    source: str
    kind: str
    inputs: tuple[tuple[str, str], ...]
    op: str = "numexpr"
    params: tuple[float, ...] = ()


def const(value: float | bool) -> Expr:
    """A constant expression (booleans stay booleans, numbers become float64 literals; NaN,
    infinities and -0 are named inputs)."""
    if isinstance(value, bool | np.bool_):
        return Expr("True" if value else "False", BOOL, bool(value))
    number = float(value)
    if not math.isfinite(number) or (number == 0 and math.copysign(1, number) < 0):
        return named(number)  # numexpr has no -0.0 literal (it becomes 0.0)
    text = repr(number)
    return Expr(f"({text})" if text.startswith("-") else text, FLOAT, number)


def named(number: float) -> Expr:
    """A constant as a named input rather than a literal. Divisors and exponents are: numexpr
    turns a division by a literal into a multiplication by its reciprocal, and some powers
    into products, which are not what JavaScript computes."""
    name = constant_name(number)
    return Expr(name, FLOAT, number, frozenset({name}))


def constant_name(number: float) -> str:
    """The input name of a float64 constant."""
    return "c_" + struct.pack(">d", number).hex()


def constant_value(name: str) -> float | None:
    """The value of a constant's input name, else None."""
    if not name.startswith("c_") or len(name) != 18:
        return None
    return float(struct.unpack(">d", bytes.fromhex(name[2:]))[0])


TRUE, FALSE, NAN = const(True), const(False), const(math.nan)


def ref(name: str, kind: str) -> Expr:
    """An expression naming an array (a band or a step)."""
    return Expr(name, kind, None, frozenset({name}))


class Builder:
    """Collects the steps of a programme; expressions are combined with ``apply``."""

    def __init__(self, max_steps: int) -> None:
        self.steps: list[Step] = []
        self.kinds: dict[str, str] = {}
        self.memo: dict[str, Expr] = {}  # source text -> its step: each value is computed once
        self.max_steps = max_steps

    def declare(self, name: str, kind: str) -> Expr:
        """An input array of the programme (a band)."""
        self.kinds[name] = kind
        return ref(name, kind)

    def materialise(self, expr: Expr) -> Expr:
        """``expr`` as a named array (constants and names stay as they are)."""
        if expr.constant or (expr.text in self.kinds and expr.undefined is None):
            return expr
        if expr.text in self.memo:
            return self._tagged(self.memo[expr.text], expr)
        if len(self.steps) >= self.max_steps:
            raise TranslationLimit(f"the translated programme exceeds {self.max_steps} steps")
        name = f"t{len(self.steps)}"
        inputs = tuple(sorted((n, self.kind_of(n)) for n in expr.names))
        self.steps.append(Step(name, expr.text, expr.kind, inputs))
        self.kinds[name] = expr.kind
        self.memo[expr.text] = ref(name, expr.kind)
        return self._tagged(self.memo[expr.text], expr)

    def _tagged(self, named: Expr, expr: Expr) -> Expr:
        """``named`` with the undefined pixels of ``expr``."""
        if expr.undefined is None:
            return named
        return replace(named, undefined=self.materialise(expr.undefined))

    def kernel(self, op: str, args: Sequence[Expr], params: tuple[float, ...], kind: str) -> Expr:
        """The result of the numpy kernel ``op`` over ``args`` with static ``params``."""
        inputs = [
            named(float(a.value if a.value is not None else 0.0))
            if a.constant
            else self.materialise(a)
            for a in args
        ]
        key = f"{op}({', '.join(a.text for a in inputs)}, {params!r})"
        if key in self.memo:
            return self.memo[key]
        if len(self.steps) >= self.max_steps:
            raise TranslationLimit(f"the translated programme exceeds {self.max_steps} steps")
        name = f"t{len(self.steps)}"
        signature = tuple((a.text, a.kind) for a in inputs)
        self.steps.append(Step(name, key, kind, signature, op, params))
        self.kinds[name] = kind
        self.memo[key] = ref(name, kind)
        return self.memo[key]

    def kind_of(self, name: str) -> str:
        return FLOAT if constant_value(name) is not None else self.kinds[name]

    def apply(
        self,
        template: str,
        args: Sequence[Expr],
        kind: str,
        fold: Callable[..., float | bool | np.generic],
    ) -> Expr:
        """``template`` ({0}, {1}...) over ``args``; folded when every argument is constant."""
        if all(a.constant for a in args):
            # numpy scalars: IEEE arithmetic (x / 0 is infinite, not an exception), as JavaScript
            values = [np.float64(a.value) if a.kind == FLOAT else a.value for a in args]
            with np.errstate(all="ignore"):
                value = fold(*values)
            return const(bool(value) if kind == BOOL else float(value))
        args = [
            named(float(a.value if a.value is not None else 0.0))
            if i in _exact_operands(template) and a.constant
            else a
            for i, a in enumerate(args)
        ]
        args = [self._bounded(a, args) for a in args]
        names = frozenset().union(*(a.names for a in args))
        return Expr(template.format(*(a.text for a in args)), kind, None, names)

    def _bounded(self, arg: Expr, args: Sequence[Expr]) -> Expr:
        """Materialise an operand when the combined expression would be too long or wide."""
        width = len(frozenset().union(*(a.names for a in args)))
        if len(arg.text) > MAX_TEXT // 2 or (width > MAX_NAMES and len(arg.names) > 1):
            return self.materialise(arg)
        return arg


@lru_cache(maxsize=512)
def _exact_operands(template: str) -> frozenset[int]:
    """The arguments of ``template`` that are divisors or exponents."""
    return frozenset(int(i) for i in _DIVISOR_OR_EXPONENT.findall(template))


_DIVISOR_OR_EXPONENT = re.compile(r"(?:/|\*\*)\s*\{(\d+)\}")
