"""LIKE patterns: one reader of wildcards and escapes, a CQL2 pattern's matcher (without
backtracking) and FES patterns (their own wildCard/singleChar/escapeChar) written as CQL2."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

ANY, ONE = object(), object()  # the tokens of ``%`` and ``_`` (or FES's wildCard/singleChar)


def tokens(pattern: str, wild: str = "%", single: str = "_", escape: str = "\\") -> Iterator:
    """The pattern as ANY, ONE and literal characters (an escaped character is literal; a
    trailing escape character is itself)."""
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == escape and index + 1 < len(pattern):
            index += 1
            yield pattern[index]
        else:
            yield ANY if char == wild else ONE if char == single else char
        index += 1


def cql2_pattern(pattern: str, wild: str, single: str, escape: str) -> str:
    """A pattern with the given wildcards as a CQL2 ``like`` pattern."""
    out = []
    for token in tokens(pattern, wild, single, escape):
        if token is ANY or token is ONE:
            out.append("%" if token is ANY else "_")
        else:
            out.append("\\" + token if token in "%_\\" else token)
    return "".join(out)


def like_matcher(pattern: str, *, match_case: bool = True) -> Callable[[str], bool]:
    """A CQL2 ``like`` pattern (``%`` any run, ``_`` one character, ``\\`` escapes) as a test
    of a text. The pieces between ``%`` have a fixed length, so each is found left to right at
    its first place (always a right one): no regular expression of many ``.*``, which
    backtracks for hours on a pattern of a few thousand ``%``."""
    pieces: list[tuple[str, int]] = []  # (regular expression, length)
    piece, size = "", 0
    for token in tokens(pattern):
        if token is ANY:
            pieces.append((piece, size))
            piece, size = "", 0
        else:
            piece += "." if token is ONE else re.escape(token)
            size += 1
    pieces.append((piece, size))
    flags = re.DOTALL | (0 if match_case else re.IGNORECASE)
    compiled = [(re.compile(p, flags), n) for p, n in pieces]
    if len(compiled) == 1:
        return lambda text: compiled[0][0].fullmatch(text) is not None
    (first, _), *middle, (last, last_size) = compiled

    def test(text: str) -> bool:
        found = first.match(text)
        if found is None:
            return False
        at = found.end()
        for part, _ in middle:
            found = part.search(text, at)
            if found is None:
                return False
            at = found.end()
        start = len(text) - last_size  # the last piece ends the text
        return start >= at and last.fullmatch(text, start) is not None

    return test
