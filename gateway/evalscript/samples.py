"""Output values to their sample type, as Sentinel Hub writes them.

AUTO clamps to [0, 1] and stretches to 0-255; integer types round to the nearest integer
(halves up, as JavaScript's Math.round) and clamp to their range; NaN becomes 0; FLOAT32
keeps the values.
"""

from __future__ import annotations

import numpy as np

_RANGES: dict[str, tuple[float, float, type]] = {
    "UINT8": (0, 255, np.uint8),
    "UINT16": (0, 65535, np.uint16),
    "INT8": (-128, 127, np.int8),
    "INT16": (-32768, 32767, np.int16),
}


def convert(values: np.ndarray, sample_type: str) -> np.ndarray:
    """float64 ``values`` as ``sample_type`` (AUTO gives uint8)."""
    if sample_type == "FLOAT32":
        with np.errstate(over="ignore"):  # beyond float32: infinity, as Math.fround
            return values.astype(np.float32)
    with np.errstate(invalid="ignore"):
        if sample_type == "AUTO":
            values = np.clip(values, 0.0, 1.0) * 255.0
            low, high, dtype = _RANGES["UINT8"]
        else:
            low, high, dtype = _RANGES[sample_type]
        rounded = np.floor(values + 0.5)
        np.clip(rounded, low, high, out=rounded)
        rounded[np.isnan(rounded)] = 0
    return rounded.astype(dtype)
