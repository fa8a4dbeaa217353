"""The target grid of a request and the raster container every engine stage passes on."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.transform import from_bounds
from rasterio.warp import transform_bounds

from gateway.errors import InvalidParameterValue

WGS84 = CRS.from_epsg(4326)


def parse_crs(text: str) -> CRS:
    """``EPSG:3857``, ``CRS:84``, ``urn:ogc:def:crs:EPSG::4326``... -> CRS.

    Raises InvalidParameterValue for anything else.
    """
    value = text.strip()
    if value.upper() in {"CRS:84", "OGC:CRS84", "URN:OGC:DEF:CRS:OGC:1.3:CRS84"}:
        return WGS84
    try:
        crs = CRS.from_user_input(value)
    except Exception:
        raise InvalidParameterValue(f"unknown CRS {value[:40]!r}", locator="crs") from None
    return crs


@dataclass(frozen=True)
class Grid:
    """A georeferenced pixel grid: CRS, bounds (minx, miny, maxx, maxy) in CRS units, size."""

    crs: CRS
    bounds: tuple[float, float, float, float]
    width: int
    height: int

    def __post_init__(self) -> None:
        minx, miny, maxx, maxy = self.bounds
        if not (maxx > minx and maxy > miny):
            raise InvalidParameterValue(
                "bbox must have minx < maxx and miny < maxy", locator="bbox"
            )
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


@lru_cache(maxsize=4096)
def _transformed_bounds(
    src: CRS, dst: CRS, bounds: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    """Remembered: every band of every scene of a map asks the same grid's bounds again."""
    return transform_bounds(src, dst, *bounds, densify_pts=21)


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
