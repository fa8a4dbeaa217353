"""Array methods over arrays of a length known at translation (callbacks are inlined)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gateway.evalscript.errors import NotSupported
from gateway.evalscript.expr import FALSE, TRUE, Builder, Expr, const
from gateway.evalscript.jsops import both, either, equal, number, truthy, where
from gateway.evalscript.values import UNDEFINED, Array, Method, Value

Call = Callable[[Value, list[Value]], Value]  # calls a script function with arguments


def method(
    b: Builder, array: Array, name: str, call: Call, grow: Callable[[], None], origin: str
) -> Value:
    """The bound method ``array.name`` (``grow`` checks that the array may change length;
    new arrays are made under the mask ``origin``)."""
    items = array.items

    def each(args: Sequence[Value]) -> list[Value]:
        fn = args[0] if args else UNDEFINED
        return [call(fn, [item, const(float(i)), array]) for i, item in enumerate(list(items))]

    def push(args: Sequence[Value]) -> Value:
        grow()
        items.extend(args)
        return const(float(len(items)))

    def reduce(args: Sequence[Value]) -> Value:
        fn = args[0] if args else UNDEFINED
        rest = list(items)
        if len(args) > 1:
            acc = args[1]
        elif rest:
            acc = rest.pop(0)
        else:
            raise NotSupported("reduce() of an empty array without a start value")
        start = len(items) - len(rest)
        for i, item in enumerate(rest, start=start):
            acc = call(fn, [acc, item, const(float(i)), array])
        return acc

    def includes(args: Sequence[Value]) -> Value:
        target = args[0] if args else UNDEFINED
        found: Expr = FALSE
        for item in items:
            found = either(b, found, equal(b, item, target, strict=True))
        return found

    def some(args: Sequence[Value]) -> Value:
        found: Expr = FALSE
        for value in each(args):
            found = either(b, found, truthy(b, value))
        return found

    def every(args: Sequence[Value]) -> Value:
        found: Expr = TRUE
        for value in each(args):
            found = both(b, found, truthy(b, value))
        return found

    def index_of(args: Sequence[Value]) -> Value:
        target = args[0] if args else UNDEFINED
        result: Expr = const(-1.0)
        for i in range(len(items) - 1, -1, -1):
            result = where(b, equal(b, items[i], target, strict=True), const(float(i)), result)
        return result

    def slice_(args: Sequence[Value]) -> Value:
        bounds = [int(_static(number(b, a))) for a in args[:2]]
        return Array(items[slice(*bounds)] if bounds else list(items), origin)

    def concat(args: Sequence[Value]) -> Value:
        out = list(items)
        for a in args:
            out.extend(a.items if isinstance(a, Array) else [a])
        return Array(out, origin)

    def reverse(args: Sequence[Value]) -> Value:
        items.reverse()
        return array

    def fill(args: Sequence[Value]) -> Value:
        items[:] = [args[0] if args else UNDEFINED] * len(items)
        return array

    methods: dict[str, Callable[[Sequence[Value]], Value]] = {
        "map": lambda args: Array(each(args), origin),
        "forEach": lambda args: (each(args), UNDEFINED)[1],
        "push": push,
        "reduce": reduce,
        "includes": includes,
        "some": some,
        "every": every,
        "indexOf": index_of,
        "slice": slice_,
        "concat": concat,
        "reverse": reverse,
        "fill": fill,
    }
    if name not in methods:
        raise NotSupported(f"the array method '{name}'")
    chosen = methods[name]
    return Method(name, array, lambda _b, args: chosen(args))


def _static(value: Expr) -> float:
    if not value.constant:
        raise NotSupported("a per-pixel array position")
    return float(value.value if value.value is not None else 0.0)


def pick(b: Builder, array: Array, position: Expr) -> Value:
    """``array[position]`` for a per-pixel position (undefined, as NaN, outside)."""
    result: Value = UNDEFINED
    for i in range(len(array.items) - 1, -1, -1):
        hit = b.apply("({0} == {1})", [position, const(float(i))], "b", lambda p, q: p == q)
        result = _select(b, hit, array.items[i], result)
    return result


def _select(b: Builder, mask: Expr, new: Value, old: Value) -> Value:
    if isinstance(new, Array):
        olds = old.items if isinstance(old, Array) else [UNDEFINED] * len(new.items)
        return Array([_select(b, mask, n, o) for n, o in zip(new.items, olds, strict=False)])
    return where(b, mask, number(b, new), number(b, old))
