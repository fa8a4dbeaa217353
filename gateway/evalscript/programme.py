"""Run a translated script over arrays: its numexpr steps, then each output's band expressions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numexpr
import numpy as np

from gateway.core.bandmath import numexpr_program
from gateway.evalscript.expr import BOOL, Expr, Step, constant_value
from gateway.evalscript.kernels import KERNELS
from gateway.evalscript.precision import single_precision
from gateway.evalscript.samples import DTYPES, clamp, clamped, convert, template

FUSED_TEXT = 120  # a longer output expression is computed once before its conversion
_TYPES: Mapping[str, type] = {"f": np.float64, "b": bool, "i": np.int32}


@dataclass(frozen=True)
class Programme:
    """``inputs``: array name -> band name; ``outputs``: output id -> one expression per band."""

    inputs: Mapping[str, str]
    steps: tuple[Step, ...]
    outputs: Mapping[str, tuple[Expr, ...]]

    def run(
        self, bands: Mapping[str, np.ndarray], shape: tuple[int, ...], types: Mapping[str, str]
    ) -> dict[str, np.ndarray]:
        """The outputs (n_bands, *shape) named in ``types`` (output id -> sample type), in
        their sample type; ``bands``: band name -> array."""
        arrays = {name: bands[band] for name, band in self.inputs.items()}
        results = {}
        with np.errstate(all="ignore"):
            for step in self.steps:
                if step.op == "numexpr":
                    arrays[step.name] = _evaluate(
                        step.source, step.kind, step.inputs, arrays, shape
                    )
                else:
                    args = [arrays[n] if n in arrays else _constant(n) for n, _ in step.inputs]
                    arrays[step.name] = KERNELS[step.op](*args, step.params)
            for id_, exprs in self.outputs.items():
                if id_ not in types:
                    continue
                data: np.ndarray = np.empty((len(exprs), *shape), dtype=DTYPES[types[id_]])
                for band, expr in zip(data, exprs, strict=True):
                    _output(expr, types[id_], arrays, band)
                results[id_] = data
        return results


def _output(expr: Expr, sample_type: str, arrays: dict[str, np.ndarray], out: np.ndarray) -> None:
    """Evaluate ``expr`` into ``out``, converted to ``sample_type`` on the way."""
    if expr.constant:
        out[...] = convert(
            np.full(1, float(expr.value if expr.value is not None else 0.0)), sample_type
        )[0]
        return
    conversion = template(sample_type)
    if sample_type == "FLOAT32" and _single(expr, arrays, out):
        return
    inputs = tuple(sorted((n, _kind(n, arrays)) for n in expr.names))
    if conversion.count("{0}") > 1 and expr.text not in arrays and len(expr.text) > FUSED_TEXT:
        arrays = {**arrays, "v": _evaluate(expr.text, expr.kind, inputs, arrays, out.shape)}
        expr, inputs = Expr("v", expr.kind), (("v", expr.kind),)
    source = conversion.format(expr.text if expr.kind != BOOL else f"where({expr.text}, 1.0, 0.0)")
    program = numexpr_program(source, tuple((n, _TYPES[k]) for n, k in inputs))
    args = [arrays[n] if n in arrays else _constant(n) for n, _ in inputs]
    if not clamped(sample_type):
        program(*args, out=out, order="K", casting="unsafe", ex_uses_vml=numexpr.use_vml)
        return
    values = np.empty(out.shape, dtype=np.float64)
    program(*args, out=values, order="K", casting="safe", ex_uses_vml=numexpr.use_vml)
    clamp(values, sample_type, out)


def _single(expr: Expr, arrays: Mapping[str, np.ndarray], out: np.ndarray) -> bool:
    """Evaluate ``expr`` in float32 into ``out`` when ``gateway.evalscript.precision`` allows
    it; False (nothing done) otherwise."""
    named = {n: arrays[n].dtype for n in expr.names if n in arrays}
    exact = frozenset(n for n, dtype in named.items() if dtype == np.float32)
    masks = frozenset(n for n, dtype in named.items() if dtype == np.bool_)
    source = expr.text if expr.kind != BOOL else f"where({expr.text}, 1.0, 0.0)"
    single = single_precision(source, exact, masks)
    if single is None:
        return False
    signature = tuple((n, bool if n in masks else float) for n in single.names)
    program = numexpr_program(single.source, signature)
    args = [single.constants[n] if n in single.constants else arrays[n] for n in single.names]
    program(*args, out=out, order="K", casting="safe", ex_uses_vml=numexpr.use_vml)
    return True


def _kind(name: str, arrays: Mapping[str, np.ndarray]) -> str:
    if constant_value(name) is not None:
        return "f"
    return {np.dtype(bool): BOOL, np.dtype(np.int32): "i"}.get(arrays[name].dtype, "f")


@lru_cache(maxsize=4096)
def _constant(name: str) -> np.ndarray:
    """The read-only 0-d float64 array of a constant's name."""
    array = np.array(constant_value(name), dtype=np.float64)
    array.flags.writeable = False
    return array


def _evaluate(
    source: str,
    kind: str,
    inputs: tuple[tuple[str, str], ...],
    arrays: Mapping[str, np.ndarray],
    shape: tuple[int, ...],
) -> np.ndarray:
    """One numexpr evaluation; inputs are float64 (float32 bands are widened as they are read)."""
    program = numexpr_program(source, tuple((n, _TYPES[k]) for n, k in inputs))
    out: np.ndarray = np.empty(shape, dtype=_TYPES[kind])
    args = [arrays[n] if n in arrays else _constant(n) for n, _ in inputs]
    if all(a.ndim == 0 for a in args):
        out[...] = program(*args, ex_uses_vml=numexpr.use_vml)
        return out
    program(*args, out=out, order="K", casting="safe", ex_uses_vml=numexpr.use_vml)
    return out
