"""Run a translated script over arrays: its numexpr steps, then each output's band expressions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numexpr
import numpy as np

from gateway.core.bandmath import numexpr_program
from gateway.evalscript.expr import BOOL, Expr, Step, constant_value

_TYPES: Mapping[str, type] = {"f": np.float64, "b": bool}


@dataclass(frozen=True)
class Programme:
    """``inputs``: array name -> band name; ``outputs``: output id -> one expression per band."""

    inputs: Mapping[str, str]
    steps: tuple[Step, ...]
    outputs: Mapping[str, tuple[Expr, ...]]

    def run(self, bands: Mapping[str, np.ndarray], shape: tuple[int, ...]) -> dict[str, np.ndarray]:
        """The float64 values (n_bands, *shape) of every output; ``bands``: name -> array."""
        arrays = {name: bands[band] for name, band in self.inputs.items()}
        with np.errstate(all="ignore"):
            for step in self.steps:
                arrays[step.name] = _evaluate(step.source, step.kind, step.inputs, arrays, shape)
            results = {}
            for id_, exprs in self.outputs.items():
                data = np.empty((len(exprs), *shape), dtype=np.float64)
                for band, expr in zip(data, exprs, strict=True):
                    if expr.constant:
                        band[...] = float(expr.value or 0.0)
                    elif expr.text in arrays:
                        band[...] = arrays[expr.text]
                    else:
                        inputs = tuple(sorted((n, _kind(n, arrays)) for n in expr.names))
                        band[...] = _evaluate(expr.text, expr.kind, inputs, arrays, shape)
                results[id_] = data
        return results


def _kind(name: str, arrays: Mapping[str, np.ndarray]) -> str:
    return "f" if constant_value(name) is not None else BOOL if arrays[name].dtype == bool else "f"


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
