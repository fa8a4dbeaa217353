"""The target grid of a request and the raster container every engine stage passes on."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from affine import Affine
from rasterio._err import CPLE_BaseError
from rasterio.crs import CRS
from rasterio.errors import RasterioError
from rasterio.transform import from_bounds
from rasterio.warp import transform_bounds

from gateway.core.crs import WGS84, Bounds, check_area
from gateway.errors import InvalidParameterValue

__all__ = ["WGS84", "Grid", "Raster", "reproject_bounds"]


@dataclass(frozen=True)
class Grid:
    """A georeferenced pixel grid: CRS, bounds (minx, miny, maxx, maxy) in CRS units, size."""

    crs: CRS
    bounds: tuple[float, float, float, float]
    width: int
    height: int

    def __post_init__(self) -> None:
        check_area(self.crs, self.bounds)
        if self.width < 1 or self.height < 1:
            raise InvalidParameterValue("width and height must be positive", locator="size")

    @property
    def transform(self) -> Affine:
        return from_bounds(*self.bounds, self.width, self.height)

    @property
    def resolution(self) -> tuple[float, float]:
        minx, miny, maxx, maxy = self.bounds
        return (maxx - minx) / self.width, (maxy - miny) / self.height

    def bounds_in(self, crs: CRS) -> tuple[float, float, float, float]:
        """The grid's bounds in another CRS (densified edges)."""
        if crs == self.crs:
            return self.bounds
        return _transformed_bounds(self.crs, crs, self.bounds)

    def resolution_in(self, crs: CRS) -> float:
        """Approximate pixel size of this grid measured in ``crs`` units (the finer axis)."""
        minx, miny, maxx, maxy = self.bounds_in(crs)
        return min((maxx - minx) / self.width, (maxy - miny) / self.height)


def reproject_bounds(bounds: Bounds, source: CRS, target: CRS, locator: str = "bbox") -> Bounds:
    """A client's box in ``source`` as bounds in ``target`` (densified edges); the box is
    checked first (``check_area``), so no transformation ever sees an unbounded one."""
    check_area(source, bounds, locator)
    if source == target:
        return bounds
    return _transformed_bounds(source, target, bounds, locator)


@lru_cache(maxsize=4096)
def _transformed_bounds(src: CRS, dst: CRS, bounds: Bounds, locator: str = "bbox") -> Bounds:
    """Remembered: every band of every scene of a map asks the same grid's bounds again.
    InvalidParameterValue when the area has no extent in ``dst``."""
    try:
        out = transform_bounds(src, dst, *bounds, densify_pts=21)
    except (RasterioError, CPLE_BaseError):
        out = (math.nan,) * 4
    if not all(math.isfinite(v) for v in out):
        raise InvalidParameterValue(
            "the area cannot be shown in the requested CRS", locator=locator
        )
    return out


@dataclass
class Raster:
    """Float32 bands on a grid with one validity mask, as rio-tiler's ImageData.

    ``source`` holds, per pixel, the index in ``scenes`` of the scene the value came
    from (-1 where no scene filled it).
    """

    data: np.ndarray  # float32 (bands, h, w)
    valid: np.ndarray  # bool (h, w)
    grid: Grid
    band_names: tuple[str, ...]
    source: np.ndarray | None = None  # int16 (h, w)
    scenes: tuple = field(default_factory=tuple)

    def band(self, name: str) -> np.ndarray:
        return self.data[self.band_names.index(name)]

    @property
    def coverage(self) -> float:
        """Fraction of valid pixels."""
        return float(self.valid.mean()) if self.valid.size else 0.0
