"""numpy kernels for what numexpr has no operation for: which interval of a sorted list of
limits each pixel falls in, a table lookup by that interval, JavaScript's remainder."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

SEARCH_EDGES = 32  # beyond, a sorted search; up to it, a count of comparisons


def segment_left(x: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """The first i with x <= edges[i] (len(edges) if none, and for NaN)."""
    if len(edges) > SEARCH_EDGES:
        return np.searchsorted(np.asarray(edges), x, side="left").astype(np.int32)
    return _count(x, edges, np.greater)


def segment_right(x: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """The first i with x < edges[i] (len(edges) if none, and for NaN)."""
    if len(edges) > SEARCH_EDGES:
        return np.searchsorted(np.asarray(edges), x, side="right").astype(np.int32)
    return _count(x, edges, np.greater_equal)


def _count(x: np.ndarray, edges: tuple[float, ...], passed: np.ufunc) -> np.ndarray:
    """How many of the sorted ``edges`` each pixel has ``passed`` (len(edges) for NaN): what
    the sorted search finds, in branch-free passes (a search mispredicts on noisy pixels)."""
    index = np.zeros(np.shape(x), dtype=np.int32)
    test = np.empty(np.shape(x), dtype=bool)
    for edge in edges:
        passed(x, np.float64(edge), out=test)  # float64, as JavaScript compares
        index += test
    np.copyto(index, np.int32(len(edges)), where=np.isnan(x))
    return index


def take(index: np.ndarray, table: tuple[float, ...]) -> np.ndarray:
    """table[index] per pixel, as float64."""
    return np.asarray(table, dtype=np.float64)[index]


def fmod(x: np.ndarray, y: np.ndarray, params: tuple[float, ...]) -> np.ndarray:
    """JavaScript's ``x % y``: C's fmod, exact, with the sign of x (numexpr's ``%`` is
    Python's, with the sign of y, and not exact)."""
    return np.asarray(np.fmod(x, y), dtype=np.float64)


KERNELS: Mapping[str, Callable[..., np.ndarray]] = {
    "segment_left": segment_left,
    "segment_right": segment_right,
    "take": take,
    "fmod": fmod,
}
