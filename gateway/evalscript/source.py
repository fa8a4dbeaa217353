"""Read an evalscript's text: bounded in size, ``//VERSION=3``, parsed by esprima."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import esprima

from gateway.evalscript.errors import EvalscriptError, TranslationLimit

_VERSION = re.compile(r"\A\s*//\s*VERSION\s*=\s*3\b")


def digest(tree: Any) -> str:
    """A digest of the normalised script (for cache keys): its tokens, without comments and
    spacing, and where lines break between them (JavaScript inserts semicolons there:
    ``return\n1`` is not ``return 1``)."""
    parts, line = [], None
    for token in tree.tokens:
        if line is not None and token.loc.start.line != line:
            parts.append("\n")
        parts.append(f"{token.type}\x1f{token.value}")
        line = token.loc.end.line
    text = "\x1e".join(parts)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def parse(text: str, *, max_chars: int) -> Any:
    """The esprima syntax tree of ``text`` (nodes carry ``loc``; ``tokens``: the script's)."""
    if len(text) > max_chars:
        raise TranslationLimit(
            f"the script is {len(text)} characters long; the limit is {max_chars}"
        )
    if not _VERSION.match(text):
        raise EvalscriptError("only version 3 scripts are supported: begin with //VERSION=3", 1, 1)
    try:
        return esprima.parseScript(text, {"loc": True, "tokens": True})
    except esprima.Error as exc:  # esprima's syntax error
        message = str(getattr(exc, "message", exc))
        message = re.sub(r"^Line \d+: ", "", message)[:120]
        raise EvalscriptError(
            f"syntax error: {message}",
            getattr(exc, "lineNumber", None),
            getattr(exc, "column", None),
        ) from None
    except RecursionError:
        raise TranslationLimit("the script nests too deeply") from None
