"""Processing units (PU): what one render costs a caller's quota, in Sentinel Hub's sense.

One PU is an output of 512 x 512 pixels computed from 3 input bands, one data sample per
pixel, in a format of at most 16 bits per sample; other requests are scaled by multiplication
factors (https://docs.sentinel-hub.com/api/latest/api/overview/processing-unit/):

- area: output width x height / (512 x 512), at least 0.01;
- input bands: the bands read / 3 (the cloud-mask band too when a layer masks clouds);
- output format: x 2 for 32-bit float output (GeoTIFF and COG, whose values are float32);
- data samples: 1 (the engine's mosaic takes the first valid pixel: Sentinel Hub's SIMPLE
  mosaicking);
- a request costs at least 0.005 PU (Process API and OGC API).

Costs are counted in whole micro-PUs (``micro``) so that counters stay exact integers in
Redis; a cost is capped at ``MAX_UNITS`` so no client size overflows them.
"""

from __future__ import annotations

import math

PU_PIXELS = 512 * 512
PU_BANDS = 3
MIN_AREA_FACTOR = 0.01
FLOAT_FACTOR = 2.0
MIN_UNITS = 0.005
MAX_UNITS = 1e9  # 1e15 micro-PUs: exact in a Lua number (a double) and a Redis integer
MICRO = 1_000_000


def processing_units(width: int, height: int, bands: int, *, float_output: bool = False) -> float:
    """The PUs of an output of ``width`` x ``height`` pixels from ``bands`` input bands."""
    area = max(MIN_AREA_FACTOR, max(0, width) * max(0, height) / PU_PIXELS)
    units = area * max(1, bands) / PU_BANDS * (FLOAT_FACTOR if float_output else 1.0)
    return min(MAX_UNITS, max(MIN_UNITS, units))


def micro(units: float) -> int:
    """``units`` in whole micro-PUs, rounded up (0 for nothing, NaN or less)."""
    if not units > 0:
        return 0
    return math.ceil(min(units, MAX_UNITS) * MICRO)
