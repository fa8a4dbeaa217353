"""The ``EVALSCRIPT`` request parameter: a base64 evalscript, as Sentinel Hub takes it."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from gateway.errors import InvalidParameterValue
from gateway.evalscript import Evalscript, compile_evalscript

LOCATOR = "evalscript"


def read_evalscript(params: Mapping[str, str]) -> Evalscript | None:
    """The translated script of ``EVALSCRIPT`` (upper-case key), None without one; errors are
    InvalidParameterValue with the script's line and column."""
    text = params.get("EVALSCRIPT", "").strip()
    if not text:
        return None
    return compile_evalscript(decode(text))


def decode(text: str) -> str:
    """Standard or URL-safe base64 (a '+' a query turned into a space restored) -> UTF-8."""
    cleaned = text.strip().replace(" ", "+").translate(str.maketrans("-_", "+/"))
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidParameterValue(
            "EVALSCRIPT must be the script in base64 (UTF-8)", locator=LOCATOR
        ) from None
