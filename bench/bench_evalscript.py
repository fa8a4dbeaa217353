"""Translated evalscripts against the EXPRESSION kernel and against Node, Mpix/s.

Rows (all on the same float32 reflectance, every pixel valid; the first five timed in turn,
round after round, each its fastest round: a shared machine's load weighs on them alike):
  EXPRESSION NDVI        gateway.core.bandmath's Expression.evaluate of (B08-B04)/(B08+B04)
  script NDVI (FLOAT32)  an evalscript returning [(B08-B04)/(B08+B04)], FLOAT32 output
  script index() FLOAT32 the same with Sentinel Hub's index() (a zero-sum guard)
  script NDVI ramp       the published NDVI colour-ramp script (21 points, UINT8 RGBA)
  script true colour     the published true colour with gain (UINT8 RGBA)
  JS engine NDVI / ramp  the NDVI FLOAT32 and ramp scripts run by the JavaScript-engine
                         fallback (embedded V8, one call over the whole array, typed arrays
                         in and out; a fresh context per call included), as an untranslatable
                         script would be
  Node NDVI ramp         the same ramp script pixel by pixel in Node (the JavaScript reference
                         harness, JSON in and out included; a smaller array)

Run: .venv/bin/python bench/bench_evalscript.py [--size 1024] [--threads 2] [--repeat 9]
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.timing import kernel_arguments, mpix_per_s, mpix_per_s_interleaved, reflectances
from gateway.core.bandmath import parse_expression
from gateway.evalscript import compile_evalscript
from gateway.evalscript.jsengine import JsLimits, JsProgramme
from tests.support.evalscript_node import NODE, node_reference

ROOT = Path(__file__).resolve().parents[1]
NDVI_RAMP = ROOT / "config" / "evalscripts" / "ndvi_ramp.js"  # the NDVI_RAMP layer's script
TRUE_COLOUR = """//VERSION=3
function setup() { return { input: ["B02", "B03", "B04"], output: { bands: 3 } }; }
function evaluatePixel(s) { return [2.5 * s.B04, 2.5 * s.B03, 2.5 * s.B02]; }"""
HEADER = "//VERSION=3\nfunction setup() { return { input: ['B04', 'B08'], output: { bands: 1, "
SCRIPTS = {
    "script NDVI (FLOAT32)": HEADER
    + "sampleType: 'FLOAT32' } }; }\n"
    + "function evaluatePixel(s) { return [(s.B08 - s.B04) / (s.B08 + s.B04)]; }",
    "script index() FLOAT32": HEADER
    + "sampleType: 'FLOAT32' } }; }\n"
    + "function evaluatePixel(s) { return [index(s.B08, s.B04)]; }",
    "script NDVI ramp": NDVI_RAMP.read_text(),
    "script true colour": TRUE_COLOUR,
}


def main() -> None:
    args = kernel_arguments(__doc__.splitlines()[0], size=1024, repeat=9)
    shape = (args.size, args.size)
    bands = reflectances(("B02", "B03", "B04", "B08"), args.size)
    valid = np.ones(shape, dtype=bool)
    pixels = valid.size

    expression = parse_expression("(B08-B04)/(B08+B04)", bands)
    runs: dict[str, Callable[[], object]] = {
        "EXPRESSION NDVI": lambda: expression.evaluate(bands, valid)
    }
    for name, text in SCRIPTS.items():
        script = compile_evalscript(text)
        runs[name] = partial(script.evaluate, bands, valid)
    rows = list(mpix_per_s_interleaved(runs, pixels, args.repeat).items())
    for name, key in (("JS engine NDVI FLOAT32", "script NDVI (FLOAT32)"),
                      ("JS engine NDVI ramp", "script NDVI ramp")):  # fmt: skip
        text = SCRIPTS[key]
        engine = JsProgramme(text, JsLimits(ms=120_000, memory=2 << 30), "bench")
        script = replace(compile_evalscript(text), javascript=engine)
        assert script.engine == "javascript"
        rate = mpix_per_s(partial(script.evaluate, bands, valid), pixels, min(args.repeat, 3))
        rows.append((name, rate))
    if NODE is not None:
        small = 128
        sub = {k: v[:small, :small] for k, v in bands.items()}
        text = SCRIPTS["script NDVI ramp"]
        rows.append(
            (
                "Node NDVI ramp",
                mpix_per_s(
                    lambda: node_reference(text, sub, valid[:small, :small]), small * small, 3
                ),
            )
        )
    base = rows[0][1]
    size = f"{args.size}x{args.size}, {args.threads} threads"
    print(f"{'':24} {'Mpix/s':>8} {'time vs EXPRESSION':>19}   ({size})")
    for name, rate in rows:
        print(f"{name:24} {rate:8.1f} {base / rate:18.2f}x")


if __name__ == "__main__":
    main()
