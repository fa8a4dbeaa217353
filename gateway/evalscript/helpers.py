"""Sentinel Hub's evalscript helper functions and visualizers over per-pixel values.

Each follows Sentinel Hub's documentation (docs.sentinel-hub.com/api/latest/evalscript/
functions) and its documented examples; ``tests/support/evalscript_reference.js`` defines the
same helpers in JavaScript, and the tests hold the two to the same pixels. Where the
documentation is silent the choice is the natural JavaScript one, the same in both:

- ``valueInterpolate``/``colorBlend``: at or below the first limit the first value, above the
  last limit (or NaN) the last; ``value*(1-t) + next*t`` between limits, per colour channel;
- ``valueMap``: the value of the first interval whose upper limit is >= value, else the last;
- ``ColorRampVisualizer``: colours in 0-255 (hex, or normalised arrays times 255), between
  two points ``floor(c0 + (c1 - c0) * t) / 255`` (the documented ``process(250)``); the
  optional minVal/maxVal rescale the points linearly;
- ``ColorMapVisualizer``: the colour of the last point not above the value;
- ``ColorGradientVisualizer`` (deprecated): points are fractions from maxVal (0) to minVal
  (1), channels rounded, as its documented examples show;
- ``HighlightCompressVisualizer(Single)`` (with EO Browser's ``processList``), ``index``,
  ``inverse``, ``combine``, ``normalizeRGB``, ``rgb2int``, ``int2rgb`` as documented;
  ``Identity`` (the V1 converter's visualizer: its value as an array).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import cast

import numpy as np

from gateway.evalscript.errors import NotSupported
from gateway.evalscript.expr import BOOL, FLOAT, INT, Builder, Expr, const
from gateway.evalscript.jsops import both, extreme, negate, number, where
from gateway.evalscript.values import UNDEFINED, Array, Builtin, Object, Value

JAVA_DOUBLE_MAX_VAL = 1.7976931348623157e308
HIGHLIGHT_POINT = 0.92
CLIP_POINT = 2.0

Helper = Callable[[Builder, Sequence[Value]], Value]


def _arg(args: Sequence[Value], i: int) -> Value:
    return args[i] if i < len(args) else UNDEFINED


def _numbers(b: Builder, value: Value, what: str) -> list[Expr]:
    if not isinstance(value, Array):
        raise NotSupported(f"{what} that is not an array")
    return [number(b, v) for v in value.items]


def _static(value: Expr, what: str) -> float:
    if not value.constant:
        raise NotSupported(f"a per-pixel {what}")
    return float(value.value if value.value is not None else 0.0)


def _ratio(b: Builder, x: Expr, lo: Expr, hi: Expr) -> Expr:
    """(x - lo) / (hi - lo), the width computed first (as a constant when it is one)."""
    width = b.apply("({0} - {1})", [hi, lo], FLOAT, lambda p, q: np.float64(p) - q)
    return b.apply("(({0} - {1}) / {2})", [x, lo, width], FLOAT, lambda p, q, r: (p - q) / r)


def _lerp(b: Builder, p: Value, q: Value, t: Expr) -> Value:
    """``p*(1-t) + q*t``, per channel for colours."""
    if isinstance(p, Array) and isinstance(q, Array):
        return Array([_lerp(b, x, y, t) for x, y in zip(p.items, q.items, strict=False)])
    return b.apply(
        "({0} * (1 - {2}) + {1} * {2})",
        [number(b, p), number(b, q), t],
        FLOAT,
        lambda x, y, s: x * (1 - s) + y * s,
    )


def _choose(b: Builder, mask: Expr, new: Value, old: Value) -> Value:
    if isinstance(new, Array) and isinstance(old, Array):
        return Array([_choose(b, mask, n, o) for n, o in zip(new.items, old.items, strict=False)])
    return where(b, mask, number(b, new), number(b, old))


def _sorted_limits(edges: Sequence[Expr]) -> list[float] | None:
    """The limits as floats if they are constants in ascending order, else None."""
    if not edges or not all(e.constant for e in edges):
        return None
    values = [float(e.value if e.value is not None else 0.0) for e in edges]
    ok = all(math.isfinite(v) for v in values) and values == sorted(values)
    return values if ok else None


def _channels(items: Sequence[Value]) -> list[list[float]] | None:
    """Constant numbers (one channel) or constant colours of one length, else None."""
    rows: list[list[float]] = []
    for item in items:
        values = item.items if isinstance(item, Array) else [item]
        if not all(isinstance(v, Expr) and v.constant and v.kind == FLOAT for v in values):
            return None
        rows.append(
            [float(v.value if v.value is not None else 0.0) for v in values if isinstance(v, Expr)]
        )
    return rows if rows and len({len(r) for r in rows}) == 1 else None


def _table(b: Builder, index: Expr, table: list[float]) -> Expr:
    return b.kernel("take", [index], tuple(table), FLOAT)


def _piecewise(
    b: Builder,
    x: Expr,
    limits: list[float],
    points: list[list[float]],
    ends: tuple[list[float], list[float]],
    mix: Callable[[Expr, Expr, Expr], Expr],
) -> list[Expr]:
    """Per channel: ``ends[0]`` at or below the first limit, ``ends[1]`` above the last (and for
    NaN), ``mix(a, b, t)`` between limits i-1 and i (a, b: points i-1 and i; t: the position
    in the interval). Computed from the interval of each pixel (one search, table lookups)
    rather than a where() per interval."""
    n = len(limits)
    segment = b.kernel("segment_left", [x], tuple(limits), INT)
    inner_range = range(1, n)
    lo = _table(b, segment, [0.0, *(limits[s - 1] for s in inner_range), 0.0])
    hi = _table(b, segment, [1.0, *(limits[s] for s in inner_range), 1.0])
    t = b.materialise(
        b.apply(
            "(({0} - {1}) / ({2} - {1}))", [x, lo, hi], FLOAT, lambda p, q, r: (p - q) / (r - q)
        )
    )
    inner = b.materialise(
        b.apply("(({0} > 0) & ({0} < {1}))", [segment, const(float(n))], BOOL, bool)
    )
    channels = []
    for k in range(len(points[0])):
        a = _table(b, segment, [0.0, *(points[s - 1][k] for s in inner_range), 0.0])
        z = _table(b, segment, [0.0, *(points[s][k] for s in inner_range), 0.0])
        end = _table(b, segment, [ends[0][k], *([0.0] * (n - 1)), ends[1][k]])
        channels.append(where(b, inner, mix(a, z, t), end))
    return channels


def _shaped(channels: list[Expr], like: Value) -> Value:
    return Array(list(channels)) if isinstance(like, Array) else channels[0]


def _lookup_args(
    b: Builder, args: Sequence[Value], what: str
) -> tuple[Expr, list[Expr], list[Value]] | None:
    """``(value, limits, outputs)`` of a lookup helper as (the value as a materialised number,
    the limits, the outputs); None when limits or outputs are not arrays (the helper then
    answers the value as it is)."""
    limits, outputs = _arg(args, 1), _arg(args, 2)
    if not isinstance(limits, Array) or not isinstance(outputs, Array):
        return None
    x = b.materialise(number(b, _arg(args, 0)))
    return x, _numbers(b, limits, what), outputs.items


def value_interpolate(b: Builder, args: Sequence[Value]) -> Value:
    """``valueInterpolate(value, intervals, values)`` (and the deprecated ``colorBlend``)."""
    found = _lookup_args(b, args, "a list of limits")
    if found is None:
        return _arg(args, 0)
    x, edges, items = found
    if len(items) < len(edges) or not edges:
        raise NotSupported("fewer values than limits in valueInterpolate/colorBlend")
    sorted_limits, points = _sorted_limits(edges), _channels(items)
    if sorted_limits is not None and points is not None and not x.constant:
        lerp = cast(Callable[[Expr, Expr, Expr], Expr], lambda p, q, t: _lerp(b, p, q, t))
        channels = _piecewise(b, x, sorted_limits, points, (points[0], points[-1]), lerp)
        return _shaped(channels, items[0])
    result = items[-1]
    for i in range(len(edges) - 1, 0, -1):
        t = b.materialise(_ratio(b, x, edges[i - 1], edges[i]))
        inside = b.apply("({0} <= {1})", [x, edges[i]], BOOL, lambda p, q: p <= q)
        result = _choose(b, inside, _lerp(b, items[i - 1], items[i], t), result)
    first = b.apply("({0} <= {1})", [x, edges[0]], BOOL, lambda p, q: p <= q)
    return _choose(b, first, items[0], result)


def value_map(b: Builder, args: Sequence[Value]) -> Value:
    """``valueMap(value, intervals, values)``: intervals (from, to]."""
    found = _lookup_args(b, args, "a list of intervals")
    if found is None:
        return _arg(args, 0)
    x, edges, items = found
    if len(items) < len(edges) or not items:
        raise NotSupported("fewer values than intervals in valueMap")
    sorted_limits, points = _sorted_limits(edges), _channels(items)
    if sorted_limits is not None and points is not None and not x.constant:
        segment = b.kernel("segment_left", [x], tuple(sorted_limits), INT)
        n = len(sorted_limits)
        rows = [*points[:n], points[-1]]
        channels = [_table(b, segment, [r[k] for r in rows]) for k in range(len(points[0]))]
        return _shaped(channels, items[0])
    result = items[-1]
    for i in range(len(edges) - 1, -1, -1):
        inside = b.apply("({0} <= {1})", [x, edges[i]], BOOL, lambda p, q: p <= q)
        result = _choose(b, inside, items[i], result)
    return result


def index(b: Builder, args: Sequence[Value]) -> Value:
    """``index(x, y)``: (x - y) / (x + y), 0 where the sum is 0."""
    x, y = number(b, _arg(args, 0)), number(b, _arg(args, 1))
    return b.apply(
        "where(({0} + {1}) != 0, ({0} - {1}) / ({0} + {1}), 0.0)",
        [x, y],
        FLOAT,
        lambda p, q: (np.float64(p) - q) / (p + q) if p + q != 0 else 0.0,
    )


def inverse(b: Builder, args: Sequence[Value]) -> Value:
    """``inverse(x)``: 1 / x, JAVA_DOUBLE_MAX_VAL where x is 0."""
    x = number(b, _arg(args, 0))
    return b.apply(
        f"where({{0}} != 0, 1.0 / {{0}}, {JAVA_DOUBLE_MAX_VAL!r})",
        [x],
        FLOAT,
        lambda p: 1.0 / np.float64(p) if p != 0 else JAVA_DOUBLE_MAX_VAL,
    )


def combine(b: Builder, args: Sequence[Value]) -> Value:
    """``combine(color1, color2, alpha)``: color1*alpha + color2*(1-alpha), per channel."""
    alpha = number(b, _arg(args, 2))
    return _lerp(b, _arg(args, 1), _arg(args, 0), alpha)


def normalize_rgb(b: Builder, args: Sequence[Value]) -> Value:
    """``normalizeRGB(rgb)``: every channel / 255."""
    channels = _numbers(b, _arg(args, 0), "a colour")
    return Array(
        [b.apply("({0} / {1})", [c, const(255.0)], FLOAT, lambda p, q: p / q) for c in channels]
    )


def rgb2int(b: Builder, args: Sequence[Value]) -> Value:
    """``rgb2int([r, g, b])``: r*65536 + g*256 + b."""
    r, g, bl = (_numbers(b, _arg(args, 0), "a colour") + [const(0.0)] * 3)[:3]
    return b.apply(
        "({0} * 65536 + {1} * 256 + {2})",
        [r, g, bl],
        FLOAT,
        lambda x, y, z: x * 65536 + y * 256 + z,
    )


def int2rgb(b: Builder, args: Sequence[Value]) -> Value:
    """``int2rgb(color)``: [red, green, blue] of a 24-bit colour known at translation."""
    return Array(
        [const(float(c)) for c in _hex_channels(_static(number(b, _arg(args, 0)), "colour"))]
    )


def _hex_channels(colour: float) -> tuple[int, int, int]:
    n = int(colour) & 0xFFFFFFFF
    return (n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF


def _colour255(b: Builder, value: Value) -> list[float]:
    """A colour point of a visualizer in 0-255: a hex number or a normalised array."""
    if isinstance(value, Array):
        return [_static(number(b, c), "colour") * 255 for c in value.items]
    return [float(c) for c in _hex_channels(_static(number(b, value), "colour"))]


def _points(b: Builder, pairs: Value, what: str) -> list[tuple[float, Value]]:
    if not isinstance(pairs, Array) or not pairs.items:
        raise NotSupported(f"{what} without a list of [value, colour] pairs")
    points = []
    for pair in pairs.items:
        if not isinstance(pair, Array) or len(pair.items) < 2:
            raise NotSupported(f"{what} with a point that is not [value, colour]")
        points.append((_static(number(b, pair.items[0]), "point"), pair.items[1]))
    return points


def _visualizer(process: Helper, **methods: Helper) -> Object:
    props: dict[str, Value] = {"process": Builtin("process", process)}
    props.update({name: Builtin(name, call) for name, call in methods.items()})
    return Object(props)


def _ramp_object(positions: list[float], colours: list[list[float]]) -> Object:
    def mix(b: Builder) -> Callable[[Expr, Expr, Expr], Expr]:
        def channel(p: Expr, q: Expr, t: Expr) -> Expr:
            return b.apply(
                "(floor({0} + ({1} - {0}) * {2}) / {3})",
                [p, q, t, const(255.0)],
                FLOAT,
                lambda u, v, s, d: np.floor(u + (v - u) * s) / d,
            )

        return channel

    def process(b: Builder, args: Sequence[Value]) -> Value:
        x = b.materialise(number(b, _arg(args, 0)))
        if not x.constant and _sorted_limits([const(p) for p in positions]) is not None:
            ends = ([c / 255 for c in colours[0]], [c / 255 for c in colours[-1]])
            return Array(list(_piecewise(b, x, positions, colours, ends, mix(b))))
        last = Array([const(c / 255) for c in colours[-1]])
        result: Value = last
        for i in range(len(positions) - 1, 0, -1):
            lo, hi = positions[i - 1], positions[i]
            t = b.materialise(_ratio(b, x, const(lo), const(hi)))
            mixed = [
                mix(b)(const(p), const(q), t)
                for p, q in zip(colours[i - 1], colours[i], strict=True)
            ]
            inside = b.apply("({0} <= {1})", [x, const(hi)], BOOL, lambda p, q: p <= q)
            result = _choose(b, inside, Array(list(mixed)), result)
        first = b.apply("({0} <= {1})", [x, const(positions[0])], BOOL, lambda p, q: p <= q)
        return _choose(b, first, Array([const(c / 255) for c in colours[0]]), result)

    def inverse_ramp(b: Builder, args: Sequence[Value]) -> Value:
        return _ramp_object(positions, colours[::-1])

    return _visualizer(process, inverse=inverse_ramp)


def color_ramp_visualizer(b: Builder, args: Sequence[Value]) -> Value:
    """``new ColorRampVisualizer(ramps, minVal, maxVal)``."""
    points = _points(b, _arg(args, 0), "ColorRampVisualizer")
    positions = [p for p, _ in points]
    lo, hi = positions[0], positions[-1]
    low, high = _arg(args, 1), _arg(args, 2)
    a = lo if low is UNDEFINED else _static(number(b, low), "minVal")
    z = hi if high is UNDEFINED else _static(number(b, high), "maxVal")
    if hi != lo and (low is not UNDEFINED or high is not UNDEFINED):
        positions = [a + (p - lo) / (hi - lo) * (z - a) for p in positions]
    return _ramp_object(positions, [_colour255(b, c) for _, c in points])


def color_map_visualizer(b: Builder, args: Sequence[Value]) -> Value:
    """``new ColorMapVisualizer(valColPairs)``: discrete colours."""
    points = _points(b, _arg(args, 0), "ColorMapVisualizer")

    def process(b: Builder, args: Sequence[Value]) -> Value:
        x = b.materialise(number(b, _arg(args, 0)))
        limits = _sorted_limits([const(p) for p, _ in points])
        colours = _channels([_normalised(c, b) for _, c in points])
        if limits is not None and colours is not None and not x.constant:
            segment = b.kernel("segment_right", [x], tuple(limits), INT)
            rows = [colours[max(s - 1, 0)] for s in range(len(limits) + 1)]
            return Array([_table(b, segment, [r[k] for r in rows]) for k in range(len(rows[0]))])
        result: Value = _normalised(points[0][1], b)
        reached = const(True)
        for position, colour in points:
            below = b.apply("({0} < {1})", [x, const(position)], BOOL, lambda p, q: p < q)
            reached = b.materialise(both(b, reached, negate(b, below)))
            result = _choose(b, reached, _normalised(colour, b), result)
        return result

    return _visualizer(process)


def _normalised(colour: Value, b: Builder) -> Array:
    if isinstance(colour, Array):
        return Array([number(b, c) for c in colour.items])
    return Array([const(c / 255) for c in _hex_channels(_static(number(b, colour), "colour"))])


GRADIENTS = {
    "createRedTemperature": [
        (1.0, 0x000000),
        (0.525, 0xAE0000),
        (0.3, 0xFF6E00),
        (0.25, 0xFF8600),
        (0.0, 0xFFFFFF),
    ],
    "createWhiteGreen": [(1.0, 0x000000), (0.6, 0x006600), (0.3, 0x80B300), (0.0, 0xFFFFFF)],
    "createBlueRed": [
        (1.0, 0x000080),
        (0.875, 0x0000FF),
        (0.625, 0x00FFFF),
        (0.375, 0xFFFF00),
        (0.125, 0xFF0000),
        (0.0, 0x800000),
    ],
}


def color_gradient_visualizer(b: Builder, args: Sequence[Value]) -> Value:
    """``new ColorGradientVisualizer(valColPairs, minVal=0, maxVal=1)`` (deprecated)."""
    points = _points(b, _arg(args, 0), "ColorGradientVisualizer")
    low, high = _arg(args, 1), _arg(args, 2)
    a = 0.0 if low is UNDEFINED else _static(number(b, low), "minVal")
    z = 1.0 if high is UNDEFINED else _static(number(b, high), "maxVal")
    return _gradient_object(a, z, [(a * p + z * (1 - p), _colour255(b, c)) for p, c in points])


def _gradient_object(low: float, high: float, points: list[tuple[float, list[float]]]) -> Object:
    def process(b: Builder, args: Sequence[Value]) -> Value:
        x = b.materialise(number(b, _arg(args, 0)))
        result: Value = Array([const(c / 255) for c in points[-1][1]])
        for i in range(len(points) - 1, 0, -1):
            (lo, c0), (hi, c1) = points[i - 1], points[i]
            t = b.materialise(_ratio(b, x, const(lo), const(hi)))
            mixed = [
                b.apply(
                    "(floor({1} * {2} + {0} * (1 - {2}) + 0.5) / {3})",
                    [const(p), const(q), t, const(255.0)],
                    FLOAT,
                    lambda u, v, s, d: np.floor(v * s + u * (1 - s) + 0.5) / d,
                )
                for p, q in zip(c0, c1, strict=True)
            ]
            inside = b.apply(
                "(({0} > {1}) & ({0} <= {2}))",
                [x, const(lo), const(hi)],
                BOOL,
                lambda p, q, r: q < p <= r,
            )
            result = _choose(b, inside, Array(list(mixed)), result)
        top = b.apply("({0} >= {1})", [x, const(high)], BOOL, lambda p, q: p >= q)
        result = _choose(b, top, Array([const(c / 255) for c in points[-1][1]]), result)
        bottom = b.apply("({0} <= {1})", [x, const(low)], BOOL, lambda p, q: p <= q)
        return _choose(b, bottom, Array([const(c / 255) for c in points[0][1]]), result)

    return _visualizer(process)


def _gradient_factory(name: str) -> Helper:
    def create(b: Builder, args: Sequence[Value]) -> Value:
        a, z = (_static(number(b, _arg(args, i)), "bound") for i in (0, 1))
        colours = [[float(c) for c in _hex_channels(h)] for _, h in GRADIENTS[name]]
        return _gradient_object(
            a,
            z,
            [(a * p + z * (1 - p), c) for (p, _), c in zip(GRADIENTS[name], colours, strict=True)],
        )

    return create


def _clamp01(b: Builder, v: Expr) -> Expr:
    return extreme(b, [extreme(b, [v, const(1.0)], larger=False), const(0.0)], larger=True)


def _stretch(b: Builder, args: Sequence[Value], *, highlight: bool, single: bool) -> Object:
    """HighlightCompressVisualizer(Single) and DefaultVisualizer (``highlight=False``)."""
    defaults = (0.0, 1.0, 1.0, 0.0, 1.0)
    low, high, gain, offset, gamma = (
        d if _arg(args, i) is UNDEFINED else _static(number(b, _arg(args, i)), "parameter")
        for i, d in enumerate(defaults)
    )
    factor = 1.0 / (high - low) if high != low else math.inf
    adjust = highlight and 0 < high < 1
    compress = (1.0 - HIGHLIGHT_POINT) / (CLIP_POINT - HIGHLIGHT_POINT)

    def process(b: Builder, args: Sequence[Value]) -> Value:
        x = number(b, _arg(args, 0))
        v = b.apply(
            "({3} * ({0} - {1}) * {2} + {4})",
            [x, const(low), const(factor), const(gain), const(offset)],
            FLOAT,
            lambda p, lo, f, g, o: g * (p - lo) * f + o,
        )
        if gamma != 1.0:
            v = b.apply(
                "({0} ** {1})",
                [extreme(b, [const(0.0), v], larger=True), const(gamma)],
                FLOAT,
                np.power,
            )
            if not highlight:
                return v
        if adjust:
            v = b.materialise(v)
            squeezed = b.apply(
                "({1} + ({0} - {1}) * {2})",
                [v, const(HIGHLIGHT_POINT), const(compress)],
                FLOAT,
                lambda p, h, c: h + (p - h) * c,
            )
            above = b.apply("({0} > {1})", [v, const(HIGHLIGHT_POINT)], BOOL, lambda p, h: p > h)
            v = where(b, above, _clamp01(b, squeezed), v)
        result = _clamp01(b, v)
        return Array([result]) if single else result

    def process_list(b: Builder, args: Sequence[Value]) -> Value:
        values = _arg(args, 0)
        if not isinstance(values, Array):
            raise NotSupported("processList() of something that is not an array")
        return Array([process(b, [v]) for v in values.items])

    return _visualizer(process, processList=process_list)


def _stretcher(*, highlight: bool, single: bool) -> Helper:
    def construct(b: Builder, args: Sequence[Value]) -> Value:
        return _stretch(b, args, highlight=highlight, single=single)

    return construct


def identity(b: Builder, args: Sequence[Value]) -> Value:
    """``new Identity()``: ``process(v)`` is v as an array."""

    def process(b: Builder, args: Sequence[Value]) -> Value:
        value = _arg(args, 0)
        return value if isinstance(value, Array) else Array([value])

    return _visualizer(process)


FUNCTIONS: dict[str, Helper] = {
    "valueInterpolate": value_interpolate,
    "colorBlend": value_interpolate,
    "valueMap": value_map,
    "index": index,
    "inverse": inverse,
    "combine": combine,
    "normalizeRGB": normalize_rgb,
    "rgb2int": rgb2int,
    "int2rgb": int2rgb,
}

CONSTRUCTORS: dict[str, Helper] = {
    "ColorRampVisualizer": color_ramp_visualizer,
    "ColorMapVisualizer": color_map_visualizer,
    "ColorGradientVisualizer": color_gradient_visualizer,
    "HighlightCompressVisualizer": _stretcher(highlight=True, single=False),
    "HighlightCompressVisualizerSingle": _stretcher(highlight=True, single=True),
    "DefaultVisualizer": _stretcher(highlight=False, single=False),
    "Identity": identity,
}

STATIC_METHODS: dict[str, dict[str, Helper]] = {
    "ColorGradientVisualizer": {name: _gradient_factory(name) for name in GRADIENTS},
}

CONSTANTS = {"JAVA_DOUBLE_MAX_VAL": JAVA_DOUBLE_MAX_VAL}
