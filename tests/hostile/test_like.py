"""CQL2 ``like`` (and WFS's PropertyIsLike, which is translated to it) never backtracks: a
pattern of a few thousand wildcards held a worker, and the GIL, for hours as a regular
expression of as many ``.*``. Same answers as that regular expression on ordinary patterns."""

from __future__ import annotations

import itertools
import re
import time

import pytest

from gateway.core.catalog.filters.like import like_matcher


def _reference(pattern: str) -> re.Pattern[str]:
    """The textbook translation (fine for short patterns, exponential for hostile ones)."""
    regex, index = "", 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            regex += re.escape(pattern[index + 1])
            index += 2
            continue
        regex += ".*" if char == "%" else "." if char == "_" else re.escape(char)
        index += 1
    return re.compile(f"^{regex}$", re.DOTALL)


ALPHABET = "ab%_\\"
PATTERNS = ["".join(p) for n in range(5) for p in itertools.product(ALPHABET, repeat=n)]
TEXTS = ["".join(t) for n in range(5) for t in itertools.product("ab%_\\", repeat=n)][::7]


def test_same_answers_as_the_regular_expression():
    for pattern in PATTERNS:
        like, reference = like_matcher(pattern), _reference(pattern)
        for text in TEXTS:
            assert like(text) == bool(reference.match(text)), (pattern, text)


def test_case_insensitive_on_request():
    assert like_matcher("S2%", match_case=False)("s2b")
    assert not like_matcher("S2%")("s2b")


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("%" * 3000 + "x", "a" * 5000),
        ("%a" * 1500 + "x", "a" * 5000),
        ("%" + "a" * 2000 + "b", "a" * 5000),
        ("_%" * 1000 + "b", "a" * 3000),
    ],
)
def test_hostile_patterns_take_no_time(pattern, text):
    start = time.perf_counter()
    assert not like_matcher(pattern)(text)
    assert time.perf_counter() - start < 1.0
