"""Output values to their sample type, as Sentinel Hub writes them.

AUTO clamps to [0, 1] and stretches to 0-255; integer types round to the nearest integer
(halves up, as JavaScript's Math.round) and clamp to their range; NaN becomes 0; FLOAT32
keeps the values (beyond float32's range: infinity). The conversions are numexpr templates
over the float64 value ``{0}``, evaluated straight into the output's array, whose cast
truncates (``AUTO`` and the unsigned types leave the rounding to it).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

DTYPES: Mapping[str, type] = {
    "AUTO": np.uint8,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "INT8": np.int8,
    "INT16": np.int16,
    "FLOAT32": np.float32,
}
_RANGES: Mapping[str, tuple[int, int]] = {
    "UINT8": (0, 255),
    "UINT16": (0, 65535),
    "INT8": (-128, 127),
    "INT16": (-32768, 32767),
}


def template(sample_type: str) -> str:
    """The numexpr source converting the float64 value ``{0}`` to ``sample_type``'s values."""
    if sample_type == "FLOAT32":
        return "{0}"
    if sample_type == "AUTO":  # written to uint8, which truncates: floor for these >= 0.5
        return "where({0} >= 1, 255.0, where({0} > 0, {0} * 255.0 + 0.5, 0.0))"
    low, high = _RANGES[sample_type]
    if low == 0:  # floor is truncation (the cast) for what stays >= 0: no floor, one clamp
        return f"where({{0}} + 0.5 > 0, minimum({{0}} + 0.5, {high}.5), 0.0)"
    r = "floor({0} + 0.5)"
    clamped = f"where({r} > {high}.0, {high}.0, where({r} < {low}.0, {low}.0, {r}))"
    return f"where({r} != {r}, 0.0, {clamped})"


def convert(values: np.ndarray, sample_type: str) -> np.ndarray:
    """float64 ``values`` as ``sample_type`` (numpy; the same as ``template``)."""
    dtype = DTYPES[sample_type]
    if sample_type == "FLOAT32":
        with np.errstate(over="ignore"):
            return values.astype(np.float32)
    with np.errstate(invalid="ignore"):
        if sample_type == "AUTO":
            values = np.clip(values, 0.0, 1.0) * 255.0
            low, high = _RANGES["UINT8"]
        else:
            low, high = _RANGES[sample_type]
        rounded = np.floor(values + 0.5)
        np.clip(rounded, low, high, out=rounded)
        rounded[np.isnan(rounded)] = 0
    return rounded.astype(dtype)
