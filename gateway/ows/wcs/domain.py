"""Coverage grids: the native lon/lat grid offered in descriptions, and output grid sizes.

Every coverage is described on one EPSG:4326 grid of ``NATIVE_RES`` degrees (about 10 m, the
finest Sentinel-2 resolution), snapped to multiples of it. A request without an explicit size
gets that resolution in a geographic output CRS and 10 m pixels in a projected one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rasterio.crs import CRS

NATIVE_RES = 0.0001  # degrees
NATIVE_RES_PROJECTED = 10.0  # CRS units (metres)


@dataclass(frozen=True)
class NativeGrid:
    """The snapped lon/lat grid of a coverage: bounds (minlon, minlat, maxlon, maxlat) and size."""

    bounds: tuple[float, float, float, float]
    width: int
    height: int

    @property
    def res(self) -> float:
        return NATIVE_RES


def native_grid(bbox: tuple[float, float, float, float]) -> NativeGrid:
    minx = math.floor(bbox[0] / NATIVE_RES) * NATIVE_RES
    miny = math.floor(bbox[1] / NATIVE_RES) * NATIVE_RES
    maxx = math.ceil(bbox[2] / NATIVE_RES) * NATIVE_RES
    maxy = math.ceil(bbox[3] / NATIVE_RES) * NATIVE_RES
    width = max(1, round((maxx - minx) / NATIVE_RES))
    height = max(1, round((maxy - miny) / NATIVE_RES))
    bounds = (round(minx, 7), round(miny, 7), round(maxx, 7), round(maxy, 7))
    return NativeGrid(bounds, width, height)


def native_size(bounds: tuple[float, float, float, float], crs: CRS) -> tuple[int, int]:
    """Pixels over ``bounds`` (in ``crs``) at the native resolution: ``NATIVE_RES`` degrees in
    a geographic CRS, ``NATIVE_RES_PROJECTED`` units (metres) in a projected one."""
    res = NATIVE_RES if crs.is_geographic else NATIVE_RES_PROJECTED
    return (
        max(1, round((bounds[2] - bounds[0]) / res)),
        max(1, round((bounds[3] - bounds[1]) / res)),
    )
