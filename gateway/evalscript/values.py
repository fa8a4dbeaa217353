"""The values a translated script computes with.

Numbers and booleans are per-pixel ``Expr``; everything else has one shape for every pixel
(known at translation): strings, ``undefined``/``null``, arrays of a fixed length, objects
with fixed keys, functions and Sentinel Hub's visualizer objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.evalscript.expr import Expr


class Special:
    """``undefined`` or ``null``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


UNDEFINED, NULL = Special("undefined"), Special("null")


@dataclass(frozen=True)
class Str:
    value: str


@dataclass(eq=False)
class Array:
    """A JavaScript array (mutable, shared by reference as in JavaScript)."""

    items: list[Value]
    origin: str = "True"  # the mask it was made under: it may grow only under that mask


@dataclass(eq=False)
class Object:
    """A JavaScript object with properties known at translation."""

    props: dict[str, Value] = field(default_factory=dict)
    origin: str = "True"


@dataclass(eq=False)
class Function:
    """A script function or arrow function and the scope it closes over."""

    node: Any
    scope: Any
    name: str = "function"


@dataclass(eq=False)
class Builtin:
    """A function of the environment (Math.*, Sentinel Hub's helpers...)."""

    name: str
    call: Callable[..., Value]
    construct: bool = False  # called with ``new``


@dataclass(eq=False)
class Method:
    """A method bound to its receiver (``viz.process``, ``arr.map``)."""

    name: str
    receiver: Value
    call: Callable[..., Value]


Value = Expr | Special | Str | Array | Object | Function | Builtin | Method


def type_name(value: Value) -> str:
    """A short description for error messages."""
    if isinstance(value, Expr):
        return "a boolean" if value.kind == "b" else "a number"
    if isinstance(value, Special):
        return value.name
    if isinstance(value, Str):
        return "a string"
    if isinstance(value, Array):
        return f"an array of {len(value.items)}"
    if isinstance(value, Object):
        return "an object"
    return "a function"
