"""The errors a bad or untranslatable evalscript gets: the script's line and column, if known."""

from __future__ import annotations

from gateway.errors import InvalidParameterValue, LimitExceeded

LOCATOR = "evalscript"


class EvalscriptError(InvalidParameterValue):
    """The script is wrong (syntax, setup(), evaluatePixel's result)."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        where = f" (line {line}, column {column})" if line is not None else ""
        super().__init__(f"Evalscript: {message}{where}.", locator=LOCATOR)
        self.line, self.column = line, column


class NotSupported(EvalscriptError):
    """The script is valid JavaScript that the translator does not handle."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(f"not supported: {message}", line, column)


class SetupNotSupported(NotSupported):
    """setup() asks for what the gateway cannot give (inputs, units, mosaicking): no engine
    could run the script."""


class TranslationLimit(LimitExceeded):
    """The script is too large or takes too long to translate."""

    def __init__(self, message: str) -> None:
        super().__init__(f"Evalscript: {message}.", locator=LOCATOR)


def at(node: object) -> tuple[int | None, int | None]:
    """The 1-based line and column where an esprima node starts."""
    loc = getattr(node, "loc", None)
    if loc is None:
        return None, None
    return loc.start.line, loc.start.column + 1
