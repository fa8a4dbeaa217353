"""Compile an evalscript V3 (setup + evaluatePixel) into a vectorised programme, and run it."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import numexpr
import numpy as np

from gateway.core.bandmath import numexpr_program
from gateway.evalscript.contract import DATA_MASK, Setup, parse_setup
from gateway.evalscript.errors import EvalscriptError, NotSupported, SetupNotSupported, at
from gateway.evalscript.expr import FLOAT, Builder, Expr, const
from gateway.evalscript.interpreter import Frame, GlobalUse, Interpreter
from gateway.evalscript.jsengine import JS_LIMITS, JsLimits, JsProgramme, kept_scenes
from gateway.evalscript.jsops import number
from gateway.evalscript.programme import Programme
from gateway.evalscript.source import digest, parse
from gateway.evalscript.values import UNDEFINED, Array, Function, Object, Special, Value, type_name

Bands = Mapping[str, np.ndarray]  # band name -> values
Scenes = Mapping[str, Any] | None  # evaluatePixel's ``scenes`` (ORBIT/TILE)
NOTHING = Programme(inputs={}, steps=(), outputs={})  # a script run otherwise
DN_FACTOR = 10000.0  # Sentinel-2 digital numbers per unit of reflectance


@dataclass(frozen=True)
class Raster:
    """One output: ``data`` (bands, h, w) in the output's sample type, ``mask`` where valid."""

    data: np.ndarray
    mask: np.ndarray


@dataclass(frozen=True)
class Evalscript:
    """A translated script: its setup() and the programme of its evaluatePixel()."""

    digest: str
    setup: Setup
    programme: Programme = field(repr=False)
    per_scenes: _PerScenes | None = field(default=None, repr=False)
    javascript: JsProgramme | None = field(default=None, repr=False)
    text: str = field(default="", repr=False)
    js_limits: JsLimits = field(default=JS_LIMITS, repr=False)

    def kept_scenes(
        self, described: list[dict[str, Any]], start: datetime | None, end: datetime | None
    ) -> list[int]:
        """The positions of the acquisitions (``described`` as Sentinel Hub describes them,
        most recent first) that the script's ``preProcessScenes`` keeps: all without one."""
        if not _defines(self.text, "preProcessScenes"):
            return list(range(len(described)))
        key = "orbits" if self.mosaicking == "ORBIT" else "tiles"
        ends = [
            (moment or fallback).timestamp() * 1000
            for moment, fallback in (
                (start, datetime(1970, 1, 1, tzinfo=UTC)),
                (end, datetime.now(UTC)),
            )
        ]
        return kept_scenes(self.text, self.js_limits, {"scenes": {key: described}}, *ends)

    @property
    def engine(self) -> str:
        """``translated`` (numexpr over whole arrays) or ``javascript`` (the V8 fallback)."""
        return "translated" if self.javascript is None else "javascript"

    @property
    def mosaicking(self) -> str:
        """SIMPLE (one mosaicked sample per pixel), ORBIT or TILE (a list per acquisition)."""
        return self.setup.mosaicking

    @property
    def bands(self) -> tuple[str, ...]:
        """The bands it reads (dataMask aside)."""
        return self.setup.bands

    @property
    def map_output(self) -> tuple[int, str]:
        """Bands and sample type of the output a map shows: ``default``, else the first."""
        output = self.setup.output("default") or self.setup.outputs[0]
        return output.bands, output.sample_type

    @property
    def raw_dn_bands(self) -> tuple[str, ...]:
        """The DN bands read as the source files hold them (harmonizeValues false)."""
        if self.setup.harmonize:
            return ()
        return tuple(b for b, unit in self.setup.units.items() if unit == "DN")

    def values(
        self,
        bands: Bands,
        valid: np.ndarray,
        scenes: Scenes = None,
        raw_dn: Bands | None = None,
        classes: Collection[str] = (),
        *,
        picture: bool,
    ) -> tuple[np.ndarray, tuple[str, ...]]:
        """With ``picture``, the map output's values (n, h, w) in its sample type, named
        ``b1``...; else every output's bands in setup()'s order as float32 (n, h, w), exact
        for the integer sample types, and their ``data_names``."""
        if picture:
            output = self.setup.output("default") or self.setup.outputs[0]
            found = self.evaluate(
                bands, valid, outputs=(output.id,), scenes=scenes, raw_dn=raw_dn, classes=classes
            )
            data = found[output.id].data
            return data, tuple(f"b{i + 1}" for i in range(len(data)))
        rasters = self.evaluate(bands, valid, scenes=scenes, raw_dn=raw_dn, classes=classes)
        data = np.concatenate([r.data.astype(np.float32, copy=False) for r in rasters.values()])
        return data, self.data_names

    @property
    def data_names(self) -> tuple[str, ...]:
        """The names of ``values``' data bands: ``b1``... for one output, ``<id>_b1``... for
        several."""
        outputs = self.setup.outputs
        return tuple(
            f"{o.id}_b{i + 1}" if len(outputs) > 1 else f"b{i + 1}"
            for o in outputs
            for i in range(o.bands)
        )

    def evaluate(
        self,
        bands: Mapping[str, np.ndarray],
        valid: np.ndarray,
        *,
        dn_factor: float = DN_FACTOR,
        outputs: tuple[str, ...] | None = None,
        scenes: Mapping[str, Any] | None = None,
        raw_dn: Mapping[str, np.ndarray] | None = None,
        classes: Collection[str] = (),
    ) -> dict[str, Raster]:
        """Run over reflectance ``bands`` (name -> float (h, w)); ``valid``: bool (h, w);
        ORBIT/TILE: (acquisitions, h, w), and ``scenes`` their description; ``raw_dn`` and
        ``classes``: see ``_inputs`` (shaped as ``valid``).

        Invalid pixels read 0 in every band and 0 in dataMask, as in Sentinel Hub. Returns
        the outputs of setup() by id (those of ``outputs`` only, when given)."""
        ok = np.asarray(valid, dtype=bool)
        wanted = [o for o in self.setup.outputs if outputs is None or o.id in outputs]
        types = {o.id: o.sample_type for o in wanted}
        mask = ok if ok.ndim == 2 else ok.any(axis=0)
        if ok.ndim == 2:
            inputs = self._inputs(bands, ok, dn_factor, raw_dn, classes)
            if self.javascript is not None:
                found = self.javascript.run(self.setup, inputs, ok, dn_factor, tuple(wanted))
                return {o.id: Raster(found[o.id], mask) for o in wanted}
            results = self.programme.run(inputs, ok.shape, types)
            return {o.id: Raster(results[o.id], ok) for o in wanted}
        # ORBIT/TILE: bands and valid are (scenes, h, w), most recent first
        per_scene = [
            self._inputs(
                {b: v[k] for b, v in bands.items()},
                ok[k],
                dn_factor,
                {b: v[k] for b, v in raw_dn.items()} if raw_dn is not None else None,
                classes,
            )
            for k in range(len(ok))
        ]
        if self.javascript is not None:
            stacked = {
                b: np.stack([s[b] for s in per_scene]) if per_scene else np.zeros(ok.shape)
                for b in self.setup.units
            }
            found = self.javascript.run(self.setup, stacked, ok, dn_factor, tuple(wanted), scenes)
            return {o.id: Raster(found[o.id], mask) for o in wanted}
        assert self.per_scenes is not None
        programme = self.per_scenes.programme(len(ok))
        inputs = {
            scene_band(band, k): values
            for k, scene in enumerate(per_scene)
            for band, values in scene.items()
        }
        results = programme.run(inputs, ok.shape[1:], types)
        return {o.id: Raster(results[o.id], mask) for o in wanted}

    def _inputs(
        self,
        bands: Mapping[str, np.ndarray],
        ok: np.ndarray,
        dn_factor: float,
        raw_dn: Mapping[str, np.ndarray] | None = None,
        classes: Collection[str] = (),
    ) -> dict[str, np.ndarray]:
        """Each input band's values as evaluatePixel reads them (0 where not ``ok``), float32
        bands kept float32 (and not copied when every pixel is valid and none negative);
        ``raw_dn``: per band, what the source files' DN add to 10000 x reflectance (read
        with harmonizeValues false); ``classes``: the bands read as classes (SCL), their
        values their DN."""
        inputs: dict[str, np.ndarray] = {}
        harmonize = self.setup.harmonize
        every = bool(ok.all())
        for band, unit in self.setup.units.items():
            if band == DATA_MASK:
                inputs[band] = ok.astype(np.float32)  # 0 and 1, exact in float32
                continue
            if band not in bands:
                raise ValueError(f"band {band!r} is missing from the inputs")
            values = np.asarray(bands[band])
            if values.dtype != np.float32:
                values = values.astype(np.float64, copy=False)
            if unit == "DN" or not every or (harmonize and _below_zero(values)):
                values = _valid_values(values, ok, harmonize)
            if unit == "DN" and band not in classes:
                values = np.rint(values.astype(np.float64) * dn_factor)
                if not harmonize and raw_dn is not None and band in raw_dn:
                    values = np.where(ok, values + raw_dn[band], 0.0)
            inputs[band] = values
        return inputs


def _below_zero(values: np.ndarray) -> bool:
    """Whether some value is negative (or NaN: then the values are clamped all the same, to
    the same result); one reduction, no temporary array."""
    return values.size > 0 and not values.min() >= 0


def _valid_values(values: np.ndarray, ok: np.ndarray, harmonize: bool) -> np.ndarray:
    """``values`` where ``ok``, else 0; negative values 0 too when ``harmonize`` (as
    ``np.maximum(values, 0)``: NaN stays, -0 becomes 0); one pass, in ``values``' type."""
    kept = "where(v > 0, v, where(v != v, v, 0))" if harmonize else "v"
    typ = float if values.dtype == np.float32 else np.float64  # numexpr's float is float32
    program = numexpr_program(f"where(ok, {kept}, 0)", (("v", typ), ("ok", bool)))
    out = np.empty(values.shape, dtype=values.dtype)
    program(values, ok, out=out, order="K", casting="safe", ex_uses_vml=numexpr.use_vml)
    return out


def _defines(text: str, name: str) -> bool:
    """Whether ``text`` mentions the function ``name`` (a declaration or an assignment)."""
    return re.search(rf"\b{name}\b", text) is not None


def scene_band(band: str, scene: int) -> str:
    """The name of ``band`` of the ``scene``-th acquisition among a programme's inputs."""
    return f"{band}#{scene}"


def compile_evalscript(
    text: str,
    *,
    max_chars: int = 100_000,
    max_seconds: float = 2.0,
    max_steps: int = 5000,
    max_iterations: int = 1000,
    max_depth: int = 32,
    javascript: JsLimits = JS_LIMITS,
) -> Evalscript:
    """Translate ``text``, or, where the translator cannot (valid JavaScript beyond it), hand
    it to the JavaScript engine (each call within ``javascript``'s time and memory). Raises
    EvalscriptError with the line and column (SetupNotSupported: setup() asks for what the
    gateway cannot give), or TranslationLimit."""
    return _compile(text, max_chars, max_seconds, max_steps, max_iterations, max_depth, javascript)


@dataclass(frozen=True)
class _Limits:
    max_seconds: float
    max_steps: int
    max_iterations: int
    max_depth: int


@lru_cache(maxsize=64)
def _compile(
    text: str,
    max_chars: int,
    max_seconds: float,
    max_steps: int,
    max_iterations: int,
    max_depth: int,
    js_limits: JsLimits,
) -> Evalscript:
    tree = parse(text, max_chars=max_chars)
    limits = _Limits(max_seconds, max_steps, max_iterations, max_depth)
    try:
        setup, programme = _translate(tree, limits, None)
        if setup.mosaicking != "SIMPLE":  # translated per scene count; two now, to check it
            if _reads_argument(tree, "evaluatePixel", 1):
                raise NotSupported("evaluatePixel reading its scenes (dates, tiles)")
            _translate(tree, limits, 2)
    except SetupNotSupported:
        raise
    except NotSupported as exc:  # valid JavaScript beyond the translator: V8 runs it
        javascript = JsProgramme(text, js_limits, str(exc))
        return Evalscript(
            digest=digest(tree),
            setup=javascript.setup(),
            programme=NOTHING,
            javascript=javascript,
            text=text,
            js_limits=js_limits,
        )
    return Evalscript(
        digest=digest(tree),
        setup=setup,
        programme=programme,
        per_scenes=_PerScenes(tree, limits) if setup.mosaicking != "SIMPLE" else None,
        text=text,
        js_limits=js_limits,
    )


def _reads_argument(tree: Any, function: str, position: int) -> bool:
    """Whether the script's function ``function`` names its parameter at ``position``."""
    for node in tree.body:
        if node.type == "FunctionDeclaration" and node.id.name == function:
            if len(node.params) <= position or node.params[position].type != "Identifier":
                return len(node.params) > position
            name = node.params[position].name
            return any(_identifiers(node.body, name))
    return False


def _identifiers(node: Any, name: str) -> Iterator[Any]:
    """Each Identifier ``name`` under ``node``."""
    if isinstance(node, list):
        for item in node:
            yield from _identifiers(item, name)
        return
    if not hasattr(node, "type"):
        return
    if node.type == "Identifier" and node.name == name:
        yield node
    for key, value in vars(node).items():
        if key not in ("loc", "range") and (isinstance(value, list) or hasattr(value, "type")):
            yield from _identifiers(value, name)


def _translate(tree: Any, limits: _Limits, scenes: int | None) -> tuple[Setup, Programme]:
    """setup() and the programme of evaluatePixel(): over one sample (``scenes`` None) or a
    list of ``scenes`` samples (ORBIT/TILE), whose arrays are ``b<band>_<scene>``."""
    builder = Builder(limits.max_steps)
    interpreter = Interpreter(
        builder,
        deadline=time.monotonic() + limits.max_seconds,
        max_iterations=limits.max_iterations,
        max_depth=limits.max_depth,
    )
    interpreter.run_program(tree)
    setup_fn = _function(interpreter, "setup")
    setup = parse_setup(interpreter.call(setup_fn, [], setup_fn.node), at(setup_fn.node))
    if scenes is None and setup.mosaicking != "SIMPLE":
        return setup, NOTHING
    inputs: dict[str, str] = {}
    samples: Value
    if scenes is None:
        inputs = {f"b{i}": band for i, band in enumerate(setup.units)}
        samples = Object({band: builder.declare(name, FLOAT) for name, band in inputs.items()})
    else:
        per_scene: list[Value] = []
        for k in range(scenes):
            names = {f"b{i}_{k}": scene_band(band, k) for i, band in enumerate(setup.units)}
            inputs.update(names)
            bands = dict(zip(setup.units, names, strict=True))
            per_scene.append(Object({b: builder.declare(n, FLOAT) for b, n in bands.items()}))
        samples = Array(per_scene)
    evaluate = _function(interpreter, "evaluatePixel")
    metadata = Object({"normalizationFactor": const(1.0 / DN_FACTOR)})
    frame = Frame(check=_result_check(setup))
    interpreter.pixel = GlobalUse()
    result = interpreter.call(
        evaluate,
        [samples, Object(), metadata, Object(), Object({"userData": Object()})],
        evaluate.node,
        frame,
    )
    outputs = _outputs(builder, setup, result)
    return setup, Programme(inputs=inputs, steps=tuple(builder.steps), outputs=outputs)


@dataclass(frozen=True, eq=False)
class _PerScenes:
    """A multi-temporal script's translation for each number of scenes (cached)."""

    tree: Any = field(hash=False, compare=False)
    limits: _Limits

    def programme(self, scenes: int) -> Programme:
        return _per_scenes(self, scenes)


@lru_cache(maxsize=64)
def _per_scenes(source: _PerScenes, scenes: int) -> Programme:
    return _translate(source.tree, source.limits, scenes)[1]


def _function(interpreter: Interpreter, name: str) -> Function:
    fn = interpreter.globals.vars.get(name)
    if not isinstance(fn, Function):
        raise EvalscriptError(f"the script defines no function {name}()", None, None)
    return fn


def _result_check(setup: Setup) -> Callable[[Value, object], None]:
    """Check each value evaluatePixel returns against setup()'s outputs."""

    def check(value: Value, node: object) -> None:
        if isinstance(value, Special):
            return
        if isinstance(value, Array):
            if len(setup.outputs) != 1:
                raise EvalscriptError(
                    "evaluatePixel returns an array, but setup() declares several outputs: "
                    "return an object with a list of values per output id",
                    *at(node),
                )
            _check_bands(setup.outputs[0].id, setup.outputs[0].bands, value, node)
        elif isinstance(value, Object):
            for id_, values in value.props.items():
                output = setup.output(id_)
                if output is not None:
                    _check_bands(id_, output.bands, values, node)
        else:
            raise EvalscriptError(
                f"evaluatePixel must return an array or an object, not {type_name(value)}",
                *at(node),
            )

    return check


def _check_bands(id_: str, count: int, values: Value, node: object) -> None:
    if not isinstance(values, Array):
        raise EvalscriptError(f"the values of output '{id_}' must be an array", *at(node))
    if len(values.items) != count:
        raise EvalscriptError(
            f"evaluatePixel returns {len(values.items)} values for output '{id_}', "
            f"which setup() declares with {count} band{'s' if count != 1 else ''}",
            *at(node),
        )
    for item in values.items:
        if isinstance(item, Array | Object):
            raise EvalscriptError(f"a value of output '{id_}' is {type_name(item)}", *at(node))


def _outputs(builder: Builder, setup: Setup, result: Value) -> dict[str, tuple[Expr, ...]]:
    """Each output's band expressions from evaluatePixel's merged result."""
    if isinstance(result, Array):
        by_id: Mapping[str, Value] = {setup.outputs[0].id: result}
    elif isinstance(result, Object):
        by_id = result.props
    else:
        by_id = {}
    outputs = {}
    for output in setup.outputs:
        values = by_id.get(output.id, UNDEFINED)
        items = values.items if isinstance(values, Array) else [UNDEFINED] * output.bands
        outputs[output.id] = tuple(number(builder, v) for v in items)
    return outputs
