"""Block aggregation between the 10, 20 and 60 m grids (sizes are exact multiples)."""

from __future__ import annotations

import numpy as np


def _blocks(a: np.ndarray, f: int) -> np.ndarray:
    *lead, h, w = a.shape
    return a.reshape(*lead, h // f, f, w // f, f)


def block_mean(a: np.ndarray, f: int) -> np.ndarray:
    """Mean of f x f blocks over the last two axes (float32)."""
    if f == 1:
        return a
    return _blocks(a, f).mean(axis=(-3, -1), dtype=np.float32)


def block_all(a: np.ndarray, f: int) -> np.ndarray:
    """True where every pixel of an f x f block is true."""
    return _blocks(a, f).all(axis=(-3, -1)) if f > 1 else a


def block_any(a: np.ndarray, f: int) -> np.ndarray:
    """True where any pixel of an f x f block is true."""
    return _blocks(a, f).any(axis=(-3, -1)) if f > 1 else a


def block_mode(labels: np.ndarray, f: int, priority: tuple[int, ...]) -> np.ndarray:
    """Most frequent label of each f x f block; ties go to the label listed first in priority."""
    if f == 1:
        return labels
    blocks = _blocks(labels, f)
    best = np.zeros((labels.shape[0] // f, labels.shape[1] // f), dtype=np.uint8)
    best_score = np.full(best.shape, -1, dtype=np.int32)
    rank = len(priority)
    for i, value in enumerate(priority):
        score = (blocks == value).sum(axis=(-3, -1), dtype=np.int32) * (rank + 1) + (rank - i)
        score[score <= rank] = -1  # label absent from the block
        better = score > best_score
        best[better] = value
        best_score[better] = score[better]
    return best


def upsample(a: np.ndarray, f: int) -> np.ndarray:
    """Nearest-neighbour upsampling by an integer factor over the last two axes."""
    return np.repeat(np.repeat(a, f, axis=-2), f, axis=-1)
