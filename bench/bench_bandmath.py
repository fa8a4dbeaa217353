"""Micro-benchmark of the band-math kernel: Mpix/s for NDVI and EVI on float32 reflectance.

Columns:
  f32 kernel   numexpr with float32 constants, as gateway.core.bandmath compiles it
  evaluate()   the same plus the nodata work (finite check, NaN fill) of Expression.evaluate
  f64 consts   numexpr on the plain text: Python float constants make it compute in float64
  numpy        plain numpy on float32 arrays

Run: .venv/bin/python bench/bench_bandmath.py [--size 2048] [--threads 2] [--repeat 15]
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numexpr
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.timing import kernel_arguments, mpix_per_s, reflectances
from gateway.config import load_config
from gateway.core.bandmath import _program, parse_expression

INDICES = {layer.name: layer.expression for layer in load_config().layers}

NUMPY: dict[str, Callable[[dict[str, np.ndarray]], np.ndarray]] = {
    "NDVI": lambda b: (b["B08"] - b["B04"]) / (b["B08"] + b["B04"]),
    "EVI": lambda b: 2.5 * (b["B08"] - b["B04"]) / (b["B08"] + 6 * b["B04"] - 7.5 * b["B02"] + 1),
}


def bench_index(
    name: str, bands: dict[str, np.ndarray], valid: np.ndarray, repeat: int
) -> list[float]:
    """Throughput of one index in the four ways, in the order of the columns."""
    pixels = valid.size
    expression = parse_expression(INDICES[name], bands)
    ((source, names),) = expression._programs
    program = _program(source, names)
    inputs = dict(expression._constants)
    inputs.update((f"v{i}", bands[band]) for i, band in enumerate(expression.bands))
    arguments = [inputs[n] for n in names]
    plain = numexpr.NumExpr(INDICES[name], [(b, float) for b in expression.bands])
    plain_arguments = [bands[b] for b in expression.bands]
    out = np.empty(valid.shape, dtype=np.float32)
    kwargs = {"order": "K", "casting": "safe", "ex_uses_vml": numexpr.use_vml}
    return [
        mpix_per_s(lambda: program(*arguments, out=out, **kwargs), pixels, repeat),
        mpix_per_s(lambda: expression.evaluate(bands, valid), pixels, repeat),
        mpix_per_s(lambda: plain(*plain_arguments, out=None, **kwargs), pixels, repeat),
        mpix_per_s(lambda: NUMPY[name](bands), pixels, repeat),
    ]


def main() -> None:
    args = kernel_arguments(__doc__.splitlines()[0], size=2048, repeat=15)
    shape = (args.size, args.size)
    bands = reflectances(("B02", "B04", "B08"), args.size)
    valid = np.ones(shape, dtype=bool)

    print(
        f"{args.size}x{args.size} float32, numexpr {numexpr.__version__}, {args.threads} thread(s)"
    )
    print(
        f"{'index':<6}{'f32 kernel':>12}{'evaluate()':>12}{'f64 consts':>12}{'numpy':>10}  Mpix/s"
    )
    for name in ("NDVI", "EVI"):
        row = bench_index(name, bands, valid, args.repeat)
        print(f"{name:<6}" + "".join(f"{v:>12.0f}" for v in row[:3]) + f"{row[3]:>10.0f}")


if __name__ == "__main__":
    main()
