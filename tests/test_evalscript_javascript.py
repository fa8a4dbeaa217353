"""The JavaScript-engine fallback: valid scripts the translator cannot translate run in
embedded V8 over whole arrays, equal to Node pixel by pixel; no I/O; time and memory limits
end a runaway script with the evalscript's error; errors in the script are still rejected with
their line and column."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gateway.errors import LimitExceeded
from gateway.evalscript import EvalscriptError, compile_evalscript
from gateway.evalscript.errors import SetupNotSupported
from gateway.evalscript.jsengine import JsLimits
from tests.support.evalscript_node import assert_matches_node, needs_node, sample_bands
from tests.test_evalscript_ogcapi import gateway as ogcapi_gateway  # noqa: F401 (a fixture)
from tests.test_evalscript_temporal import stack

SETUP = """//VERSION=3
function setup() {
  return { input: ["B04", "B08", "dataMask"], output: { bands: 2, sampleType: "FLOAT32" } };
}
"""

UNTRANSLATABLE: dict[str, str] = {
    "loop on pixel values": SETUP
    + """
function evaluatePixel(s) {
  let x = s.B08 * 10, n = 0;
  while (x > 1) { x /= 2; n++; }
  return [x, n];
}""",
    "try/catch of an error": SETUP
    + """
function evaluatePixel(s) {
  let v;
  try { v = s.B04 > 0.3 ? s.B04.missing.x : s.B04; } catch (e) { v = -1; }
  return [v, 0];
}""",
    "try/finally": SETUP
    + """
let calls = 0;
function evaluatePixel(s) {
  try { if (s.B04 > 0.3) return [s.B04, calls]; } finally { calls = 1; }
  return [s.B08, calls];
}""",
    "this in a method": SETUP
    + """
const ratio = { k: 2, of: function (x) { return x * this.k; } };
function evaluatePixel(s) { return [ratio.of(s.B04), s.B08]; }""",
    "prototype methods": SETUP
    + """
function Ratio(a, b) { this.a = a; this.b = b; }
Ratio.prototype.value = function () { return this.a / this.b; };
function evaluatePixel(s) { return [new Ratio(s.B08, s.B04).value(), 1]; }""",
    "recursion": SETUP
    + """
function halve(x, n) { return x > 1 ? halve(x / 2, n + 1) : [x, n]; }
function evaluatePixel(s) { return halve(s.B04 * 100, 0); }""",
    "class and try/catch": SETUP
    + """
class Ratio { constructor(a, b) { this.a = a; this.b = b; }
  value() { if (this.b === 0) throw new Error("zero"); return this.a / this.b; } }
function evaluatePixel(s) {
  try { return [new Ratio(s.B08, s.B04).value(), 1]; } catch (e) { return [0, -1]; }
}""",
    "string methods and regular expressions": SETUP
    + """
function evaluatePixel(s) {
  const text = s.B04.toFixed(3);
  return [parseFloat(text), /^0\\.[0-4]/.test(text) ? 1 : 0];
}""",
    "bitwise on pixel values": SETUP
    + """
function evaluatePixel(s) {
  const dn = Math.round(s.B08 * 10000);
  return [dn & 0xFF, (dn >> 8) | 1];
}""",
}

MEDIAN = """//VERSION=3
function setup() {
  return { input: ["B04", "dataMask"], output: { bands: 1, sampleType: "FLOAT32" },
           mosaicking: "ORBIT" };
}
function evaluatePixel(samples) {
  const values = samples.filter(s => s.dataMask === 1).map(s => s.B04).sort((a, b) => a - b);
  if (values.length === 0) return [NaN];
  const mid = Math.floor(values.length / 2);
  return [values.length % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2];
}"""


@needs_node
@pytest.mark.parametrize("name", list(UNTRANSLATABLE))
def test_untranslatable_scripts_run_in_javascript_equal_to_node(name: str) -> None:
    script = UNTRANSLATABLE[name]
    assert compile_evalscript(script).engine == "javascript"
    bands, valid = sample_bands(("B04", "B08"), shape=(32, 40), seed=3)
    assert_matches_node(script, bands, valid)


@needs_node
def test_median_composite_over_orbits_equals_node_and_numpy() -> None:
    script = compile_evalscript(MEDIAN)
    assert script.engine == "javascript" and script.mosaicking == "ORBIT"
    bands, valid = stack(("B04",), 5, seed=7)
    got = assert_matches_node(MEDIAN, bands, valid)["default"][0]
    masked = np.where(valid, bands["B04"].astype(np.float64), np.nan)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        want = np.nanmedian(masked, axis=0)
    np.testing.assert_allclose(got, want.astype(np.float32), rtol=2e-7, equal_nan=True)


def test_translatable_scripts_stay_translated() -> None:
    script = SETUP + "function evaluatePixel(s) { return [s.B04, s.B08]; }"
    assert compile_evalscript(script).engine == "translated"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("const fs = require('fs'); return [fs ? 1 : 0, 0];", "require is not defined"),
        ("fetch('http://example.com'); return [0, 0];", "fetch is not defined"),
        ("return [process.env.HOME.length, 0];", "process is not defined"),
    ],
)
def test_no_io(body: str, message: str) -> None:
    """Scripts that go to the engine (their loop is on pixel values) and ask for I/O: the
    translator checks names only as far as it gets."""
    loop = "let x = s.B04; while (x > 1) x /= 2; "
    script = compile_evalscript(SETUP + "function evaluatePixel(s) { " + loop + body + " }")
    assert script.engine == "javascript"
    bands, valid = sample_bands(("B04", "B08"), shape=(4, 4))
    with pytest.raises(EvalscriptError, match=message) as caught:
        script.evaluate(bands, valid)
    assert caught.value.line == 5  # the script's own line


RUNAWAY = {
    "endless loop": (
        "function evaluatePixel(s) { let x = s.B04; while (x === x) {} return [x, 0]; }",
        JsLimits(ms=300),
        "longer than 300 ms",
        2.0,
    ),
    "huge allocation": (
        "const kept = [];\nfunction evaluatePixel(s) {\n"
        "  while (kept.length >= 0) kept.push(new Array(1e6).fill(s.B04));\n  return [0, 0]; }",
        JsLimits(ms=20_000, memory=64 << 20),
        "more than 64 MB",
        10.0,
    ),
}


@pytest.mark.parametrize("name", list(RUNAWAY))
def test_a_runaway_script_ends_within_its_budget(name: str) -> None:
    """An endless loop ends at the time limit, a huge allocation at the memory limit: the
    evalscript's LimitExceeded, soon, and the next call runs."""
    body, limits, message, seconds = RUNAWAY[name]
    script = compile_evalscript(SETUP + body, javascript=limits)
    assert script.engine == "javascript"
    bands, valid = sample_bands(("B04", "B08"), shape=(8, 8))
    start = time.monotonic()
    with pytest.raises(LimitExceeded, match=message):
        script.evaluate(bands, valid)
    assert time.monotonic() - start < seconds
    assert compile_evalscript(UNTRANSLATABLE["recursion"]).evaluate(bands, valid)


# Eight threads whose scripts run out of time together: V8 (mini-racer) crashed the process
# (a segfault) when two contexts hit their limits at once, until contexts were made one at a
# time. In a child process, so that a crash is its exit code, not this run's end.
CONCURRENT_TIME_OUTS = """
import threading
import numpy as np
from gateway.errors import LimitExceeded
from gateway.evalscript import compile_evalscript
from gateway.evalscript.jsengine import JsLimits
SCRIPT = ('//VERSION=3\\nfunction setup() { return {input: ["B04"], output: {bands: 1}}; }\\n'
          "function evaluatePixel(s) { let x = s.B04; while (x < 9) x += 1e-9; "
          "return [globalThis.constructor ? x : 0]; }")
def work():
    for _ in range(6):
        try:
            compile_evalscript(SCRIPT, javascript=JsLimits(ms=30)).evaluate(
                {"B04": np.zeros((8, 8), np.float32)}, np.ones((8, 8), bool))
        except LimitExceeded:
            pass
threads = [threading.Thread(target=work) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
print("survived")
"""


def test_time_outs_in_several_threads_at_once_do_not_crash_the_process() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CONCURRENT_TIME_OUTS], capture_output=True, text=True,
        timeout=300, cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    assert done.returncode == 0 and "survived" in done.stdout, (done.returncode, done.stderr)


def test_an_endless_loop_in_setup_is_bounded_too() -> None:
    text = "//VERSION=3\nwhile (true) {}\n" + SETUP.removeprefix("//VERSION=3\n")
    text += "class A {}\nfunction evaluatePixel(s) { return [new A() ? 1 : 0, 0]; }"
    with pytest.raises(LimitExceeded, match="longer than 200 ms"):
        compile_evalscript(text, javascript=JsLimits(ms=200))


def test_errors_are_still_rejected_with_their_position() -> None:
    with pytest.raises(EvalscriptError, match=r"syntax error.*\(line 5, column \d+\)"):
        compile_evalscript(SETUP + "function evaluatePixel(s) { return [s.B04,, ; }")
    with pytest.raises(SetupNotSupported, match="mosaicking DAILY"):
        compile_evalscript(
            SETUP.replace('sampleType: "FLOAT32" }', 'sampleType: "FLOAT32" }, mosaicking: "DAILY"')
            + "function evaluatePixel(s) { let x = s.B04; while (x > 1) x /= 2; return [x, 0]; }"
        )


def test_a_runtime_error_names_the_line() -> None:
    text = SETUP + "function evaluatePixel(s) {\n  let x = s.B04; while (x > 1) x /= 2;\n"
    text += "  return s.missing.value;\n}"
    script = compile_evalscript(text)
    bands, valid = sample_bands(("B04", "B08"), shape=(4, 4))
    with pytest.raises(EvalscriptError, match=r"TypeError.*\(line 7, column \d+\)"):
        script.evaluate(bands, valid)


# --- through the doors -----------------------------------------------------------------------

HALVINGS = """//VERSION=3
function setup() {
  return { input: ["B04", "B08", "dataMask"], output: { bands: 2, sampleType: "FLOAT32" } };
}
function evaluatePixel(s) {
  let x = (s.B08 + s.B04) * 20, n = 0;
  while (x > 1) { x /= 2; n++; }
  return [x, n * s.dataMask];
}"""


@needs_node
def test_the_band_math_process_runs_an_untranslatable_script(ogcapi_gateway, runtime):  # noqa: F811
    """The process door (its own worker thread): the JavaScript engine's values equal Node's."""
    import rasterio

    from tests.support.process_checks import UTM_BOX, execute
    from tests.test_evalscript_doors import node_on_grid
    from tests.test_evalscript_ogcapi import PROCESS

    assert compile_evalscript(HALVINGS).engine == "javascript"
    answer = execute(ogcapi_gateway, "band-math", {**PROCESS, "evalscript": HALVINGS})
    assert answer.status_code == 200, answer.text[:300]
    with rasterio.MemoryFile(answer.content) as memory, memory.open() as src:
        data = src.read()
    outputs, valid = node_on_grid(
        runtime, HALVINGS, ("B04", "B08"), bbox=UTM_BOX, crs="EPSG:32631", size=(150, 150),
        resampling="nearest",
    )  # fmt: skip
    assert valid.mean() > 0.9
    np.testing.assert_allclose(data[:, valid], outputs["default"][:, valid], rtol=1e-6)
    assert len(np.unique(data[1][valid])) >= 2  # halvings differ from pixel to pixel


def test_the_outputs_outlive_a_garbage_collection_before_they_are_read() -> None:
    """mini-racer hands an ArrayBuffer to Python as a view of its memory without keeping it
    alive: the runner keeps its outputs until the context closes, so a garbage collection in
    V8 before Python copies them frees nothing (the outputs read as garbage before: a CI run
    had a tile of zeros under load)."""
    from py_mini_racer import MiniRacer

    from gateway.evalscript.jsengine import _ONE_AT_A_TIME, RUNNER, helpers

    with _ONE_AT_A_TIME:  # the process's one context at a time, as the engine's
        _run_and_collect(MiniRacer(), RUNNER, helpers())


def _run_and_collect(ctx, runner: str, helpers: str) -> None:
    """Run the runner on 100,000 pixels in ``ctx``, collect V8's garbage, read the outputs."""
    import json

    try:
        for source in (helpers, runner, "function evaluatePixel(s) { return [s.B04 + 1]; }"):
            ctx.eval(source)
        pixels = 100_000
        inputs = np.frombuffer(ctx.eval(f"__gateway.alloc({2 * pixels})"), dtype=np.float64)
        inputs[:pixels], inputs[pixels:] = 1.0, 5.0  # valid, then B04
        spec = {"pixels": pixels, "scenes": -1, "inputs": ["B04"],
                "outputs": [["default", 1]], "dnFactor": 10000, "described": None}  # fmt: skip
        outputs = ctx.eval(f"__gateway.run({json.dumps(spec)})")
        ctx.eval("let junk = []; for (let i = 0; i < 200; i++) junk.push(new Float64Array(1e5));")
        ctx.eval("junk = null;")
        ctx.low_memory_notification()  # a full garbage collection
        assert np.all(np.frombuffer(outputs, dtype=np.float64) == 6.0)
    finally:
        ctx.close()
