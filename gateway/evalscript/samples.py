"""Output values to their sample type, as Sentinel Hub writes them.

AUTO clamps to [0, 1] and stretches to 0-255; integer types round to the nearest integer
(halves up, as JavaScript's Math.round) and clamp to their range; NaN becomes 0; FLOAT32
keeps the values (beyond float32's range: infinity). The conversions are numexpr templates
over the float64 value ``{0}``, fused into the output's expression; AUTO and the unsigned
types then clamp with numpy and leave the rounding to the cast's truncation.
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
    """The numexpr source of ``sample_type``'s values from the float64 value ``{0}``: the
    values themselves, or, where ``clamped``, the values ``clamp`` finishes."""
    if sample_type == "FLOAT32":
        return "{0}"
    if sample_type == "AUTO":
        return "{0} * 255.0 + 0.5"
    low, high = _RANGES[sample_type]
    if low == 0:
        return "{0} + 0.5"
    r = "floor({0} + 0.5)"
    clamped_ = f"where({r} > {high}.0, {high}.0, where({r} < {low}.0, {low}.0, {r}))"
    return f"where({r} != {r}, 0.0, {clamped_})"


def clamped(sample_type: str) -> bool:
    """Whether ``template``'s values go through ``clamp``: AUTO and the unsigned types."""
    return sample_type == "AUTO" or _RANGES.get(sample_type, (-1, 0))[0] == 0


def clamp(values: np.ndarray, sample_type: str, out: np.ndarray) -> None:
    """``template``'s float64 ``values`` (overwritten) into ``out``: NaN and below 0 to 0,
    above the type's top to it, halves up by the cast's truncation. numpy's branch-free
    passes: numexpr's ``where`` costs a branch per pixel, mispredicted on noisy pixels."""
    top = 255.5 if sample_type == "AUTO" else _RANGES[sample_type][1] + 0.5
    np.fmax(values, 0.0, out=values)
    np.minimum(values, top, out=values)
    np.copyto(out, values, casting="unsafe")


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
