"""numpy kernels for what numexpr has no operation for: which interval of a sorted list of
limits each pixel falls in, a table lookup by that interval, JavaScript's remainder."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np


def segment_left(x: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """The first i with x <= edges[i] (len(edges) if none, and for NaN)."""
    return np.searchsorted(np.asarray(edges), x, side="left").astype(np.int32)


def segment_right(x: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """The first i with x < edges[i] (len(edges) if none, and for NaN)."""
    return np.searchsorted(np.asarray(edges), x, side="right").astype(np.int32)


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
