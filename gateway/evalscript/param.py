"""The ``EVALSCRIPT`` / ``evalscript`` parameter of every door: base64, as Sentinel Hub takes
it, or the script's own text (it begins with ``//VERSION=3``)."""

from __future__ import annotations

import base64
import binascii
import re

from gateway.evalscript.errors import EvalscriptError
from gateway.evalscript.jsengine import JS_LIMITS, JsLimits
from gateway.evalscript.script import Evalscript, compile_evalscript

_PLAIN = re.compile(r"\A\s*//")  # a script's first line is a comment: not base64


def read_script(text: str | None, javascript: JsLimits = JS_LIMITS) -> Evalscript | None:
    """The translated script of a parameter's value, None when absent or blank; errors are
    InvalidParameterValue (locator ``evalscript``) with the script's line and column."""
    if text is None or not text.strip():
        return None
    return compile_evalscript(script_text(text), javascript=javascript)


def script_text(text: str) -> str:
    """The script of a parameter's value: as it is when it begins with ``//``, else decoded
    from standard or URL-safe base64 (a '+' a query turned into a space restored), UTF-8."""
    if _PLAIN.match(text):
        return text
    cleaned = text.strip().replace(" ", "+").translate(str.maketrans("-_", "+/"))
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise EvalscriptError(
            "EVALSCRIPT must be the script in base64 (UTF-8), or its text beginning with "
            "//VERSION=3"
        ) from None
