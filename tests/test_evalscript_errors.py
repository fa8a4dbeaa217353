"""Bad and untranslatable evalscripts: clear errors with the script's line and column, bounded
size and translation time."""

from __future__ import annotations

import time
from typing import Any

import pytest

from gateway.errors import LimitExceeded
from gateway.evalscript import EvalscriptError, compile_evalscript

SETUP = """//VERSION=3
function setup() { return { input: ["B04", "B08"], output: { bands: 1 } }; }
"""


def _error(script: str, kind: type[Exception] = EvalscriptError, **limits: float) -> Exception:
    with pytest.raises(kind) as caught:
        compile_evalscript(script, **limits)  # type: ignore[arg-type]
    return caught.value


@pytest.mark.parametrize(
    ("body", "construct", "line", "column"),
    [
        ("class A {}\nfunction evaluatePixel(s) { return [1]; }", "a class", 3, 1),
        ("function evaluatePixel(s) {\n  try { return [1]; } finally {}\n}", "try/finally", 4, 31),
        (
            "function evaluatePixel(s) {\n  let x = s.B04;\n  while (x < 1) x *= 2;\n"
            "  return [x];\n}",
            "a loop whose condition depends on pixel values",
            5,
            10,
        ),
        ("function evaluatePixel(s) { return [this.x]; }", "'this'", 3, 37),
        (
            "function evaluatePixel(s) { return [/a/.test('a') ? 1 : 0]; }",
            "a regular expression",
            3,
            37,
        ),
        (
            "function evaluatePixel(s) { return [s.B04 | 0]; }",
            "the bitwise operator '|' on per-pixel values",
            3,
            37,
        ),
        (
            "function evaluatePixel(s) {\n  return [s.B04.toFixed(2)];\n}",
            "the property 'toFixed'",
            4,
            11,
        ),
        (
            "function f(n) { return n > 0 ? f(n - 1) : 0; }\n"
            "function evaluatePixel(s) { return [f(s.B04)]; }",
            "calls nested more than",
            3,
            32,
        ),
        (
            "function evaluatePixel(s) {\n  let a = [];\n  if (s.B04 > 0.1) a.push(1);\n"
            "  return [a.length];\n}",
            "an array that grows for some pixels only",
            5,
            20,
        ),
        (
            "function evaluatePixel(s) {\n  let v = s.B04 > 0.2 ? [1] : 'text';\n  return [v];\n}",
            "a value that is an array of 1 for some pixels and a string for others",
            4,
            11,
        ),
    ],
)
def test_not_supported_names_the_construct_and_position(
    body: str, construct: str, line: int, column: int
) -> None:
    """Valid JavaScript beyond the translator goes to the JavaScript engine; the translator's
    reason names the construct and where it is."""
    reason = _fallback_reason(SETUP + body)
    assert "not supported" in reason and construct in reason, reason
    assert f"(line {line}, column {column})" in reason, reason


def _fallback_reason(script: str, **limits: Any) -> str:
    compiled = compile_evalscript(script, **limits)
    assert compiled.javascript is not None, "the script was translated"
    return compiled.javascript.reason


def test_state_kept_between_pixels_is_not_translated() -> None:
    script = (
        SETUP + "let count = 0;\nfunction evaluatePixel(s) {\n  count += 1;\n  return [count];\n}"
    )
    reason = _fallback_reason(script)
    assert "reads the global 'count' before it sets it" in reason
    assert "(line 5, column 3)" in reason
    written_first = SETUP + "var r;\nfunction evaluatePixel(s) { r = s.B04; return [r * 2]; }"
    compile_evalscript(written_first)  # a global written, then read: no state


def test_syntax_error_has_line_and_column() -> None:
    error = _error(SETUP + "function evaluatePixel(s) {\n  return [s.B04 +];\n}")
    assert "syntax error" in str(error)
    assert (error.line, error.column) == (4, 18), str(error)


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("function setup() {}", "VERSION=3"),
        ("//VERSION=3\nfunction evaluatePixel(s) { return [1]; }", "no function setup()"),
        (SETUP, "no function evaluatePixel()"),
        (
            SETUP + "function evaluatePixel(s) { return [1, 2]; }",
            "returns 2 values for output 'default'",
        ),
        (SETUP + "function evaluatePixel(s) { return [nope]; }", "'nope' is not defined"),
        (SETUP + "const k = 1;\nfunction evaluatePixel(s) { k = 2; return [k]; }", "constant 'k'"),
        (
            "//VERSION=3\nfunction setup() { return { input: ['B04'], output: { bands: 0 } }; }\n"
            "function evaluatePixel(s) { return []; }",
            "1 to 64 are allowed",
        ),
        (
            "//VERSION=3\n"
            "function setup() {\n"
            "  return { input: ['B04'], output: { bands: 1, sampleType: 'X' } }; }\n"
            "function evaluatePixel(s) { return [1]; }",
            "unknown sampleType 'X'",
        ),
        (
            "//VERSION=3\n"
            "function setup() {\n"
            "  return { input: ['B04'], output: { bands: 1 }, mosaicking: 'DAILY' }; }\n"
            "function evaluatePixel(s) { return [1]; }",
            "mosaicking DAILY",
        ),
    ],
)
def test_script_errors(script: str, message: str) -> None:
    error = _error(script)
    assert message in str(error), str(error)


def test_size_and_translation_time_are_bounded() -> None:
    body = SETUP + "function evaluatePixel(s) { return [s.B04]; }\n"
    error = _error(body + "//" + "x" * 200, LimitExceeded, max_chars=200)
    assert "characters long" in str(error)
    endless = SETUP + "function evaluatePixel(s) { let v = 0; while (true) { v += s.B04; } }"
    assert "more than 50 iterations" in _fallback_reason(endless, max_iterations=50)
    slow = SETUP + (
        "function evaluatePixel(s) { let v = s.B04;\n"
        "  for (let i = 0; i < 900; i++) { for (let j = 0; j < 900; j++) { v = v + i * j; } }\n"
        "  return [v]; }"
    )
    started = time.monotonic()
    error = _error(slow, LimitExceeded, max_seconds=0.3)
    assert time.monotonic() - started < 2.0
    assert "too long to translate" in str(error)
