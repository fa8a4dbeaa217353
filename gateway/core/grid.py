"""The target grid of a request and the raster container every engine stage passes on."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from affine import Affine
from pyproj.exceptions import ProjError
from rasterio.crs import CRS
from rasterio.transform import from_bounds

from gateway.core.crs import WGS84, Bounds, check_area
from gateway.core.transforms import transformer
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
        minx, miny, maxx, maxy = self.bounds
        if not (maxx > minx and maxy > miny):  # NaN fails too
            raise InvalidParameterValue("the box must have min < max on both axes", locator="bbox")
        if self.width < 1 or self.height < 1:
            raise InvalidParameterValue("width and height must be positive", locator="size")

    @classmethod
    def of_client(
        cls, crs: CRS, bounds: Bounds, width: int, height: int, locator: str = "bbox"
    ) -> Grid:
        """The grid of a box a client sent, checked first (``check_area``: finite, within
        what ``crs`` can show), so no transformation ever sees an unbounded one. Grids the
        engine derives from a checked one (lattice cells, metatiles, chunks) need no check."""
        check_area(crs, bounds, locator)
        return cls(crs, bounds, width, height)

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

    def resolution_in(self, crs: CRS, at: tuple[float, float]) -> float:
        """The size in ``crs`` units of this grid's pixel at ``at`` (a point in ``crs``), along
        its finer side: a function of the grid's CRS and resolution, not of its extent, so
        every window of one grid measures the same (and picks the same source level)."""
        steps = self.pixel_steps(crs, at)
        if steps is None:  # ``at`` outside the grid CRS's domain
            minx, miny, maxx, maxy = self.bounds_in(crs)
            return min((maxx - minx) / self.width, (maxy - miny) / self.height)
        return float(min(np.hypot(*steps[0]), np.hypot(*steps[1])))

    def pixel_steps(self, crs: CRS, at: tuple[float, float]) -> np.ndarray | None:
        """One column and one row of this grid at ``at`` (a point in ``crs``), as vectors in
        ``crs`` units: [[dx, dy] of a column, [dx, dy] of a row]; None where they cannot be
        computed."""
        return _pixel_steps(self.crs, self.resolution, crs, tuple(at))

    def window(self, col: int, row: int, width: int, height: int) -> Grid:
        """The grid of ``width`` x ``height`` pixels from pixel (``col``, ``row``) of this one's
        pixel lattice (which may lie beyond its edges)."""
        minx, _, _, maxy = self.bounds
        rx, ry = self.resolution
        left, top = minx + col * rx, maxy - row * ry
        return Grid(self.crs, (left, top - height * ry, left + width * rx, top), width, height)


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
    Through the pair's one transformer (``transforms``), which its warp and pixel steps use
    too: GDAL's own ``transform_bounds`` would search PROJ's database for the operation
    again (2–4 ms a pair, and again once its small cache of pairs let it go).
    InvalidParameterValue when the area has no extent in ``dst``."""
    try:
        out = transformer(src, dst).transform_bounds(*bounds, densify_pts=21)
    except ProjError:
        out = (math.nan,) * 4
    if not all(math.isfinite(v) for v in out):
        raise InvalidParameterValue(
            "the area cannot be shown in the requested CRS", locator=locator
        )
    return out


@lru_cache(maxsize=4096)
def _pixel_steps(
    grid_crs: CRS, resolution: tuple[float, float], crs: CRS, at: tuple[float, float]
) -> np.ndarray | None:
    """Remembered: every tile of a zoom level asks again for the same files' centres."""
    rx, ry = resolution
    x, y = at if crs == grid_crs else transformer(crs, grid_crs).transform(*at)
    xs, ys = np.array([x, x + rx, x]), np.array([y, y, y - ry])
    if crs != grid_crs:
        xs, ys = transformer(grid_crs, crs).transform(xs, ys)
    steps = np.array([[xs[1] - xs[0], ys[1] - ys[0]], [xs[2] - xs[0], ys[2] - ys[0]]])
    if not (np.isfinite(steps).all() and np.abs(steps).sum() > 0):
        return None
    steps.flags.writeable = False  # shared by every caller
    return steps


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
