"""Process inputs shared by every process: the area, its grid, the time range."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from rasterio.crs import CRS
from rasterio.features import geometry_mask
from rasterio.warp import transform_geom
from shapely.geometry import box, mapping, shape
from shapely.geometry.base import BaseGeometry

from gateway.core.crs import parse_crs
from gateway.core.grid import Grid
from gateway.errors import InvalidParameterValue, LimitExceeded, MissingParameterValue

DEFAULT_RESOLUTION_M = 10.0
MAX_AREA_PIXELS = 40_000_000  # one process over more pixels than this is refused


@dataclass(frozen=True)
class Area:
    """A polygon on a pixel grid aligned to multiples of its resolution."""

    grid: Grid
    geometry: dict[str, Any]  # in the grid's CRS

    def mask(self, grid: Grid) -> np.ndarray:
        """True for pixels of ``grid`` whose centre lies inside the polygon."""
        return geometry_mask(
            [self.geometry],
            out_shape=(grid.height, grid.width),
            transform=grid.transform,
            invert=True,
        )


def _input_geometry(inputs: dict[str, Any]) -> BaseGeometry:
    if inputs.get("geometry") is not None:
        try:
            geometry = shape(inputs["geometry"])
        except Exception:
            raise InvalidParameterValue(
                "geometry must be a GeoJSON geometry", locator="geometry"
            ) from None
        if geometry.geom_type not in ("Polygon", "MultiPolygon") or not geometry.is_valid:
            raise InvalidParameterValue("geometry must be a valid polygon", locator="geometry")
        return geometry
    bbox = inputs.get("bbox")
    if bbox is None:
        raise MissingParameterValue("give a bbox or a geometry", locator="bbox")
    minx, miny, maxx, maxy = (float(v) for v in bbox)  # four finite numbers (validated)
    if not (minx < maxx and miny < maxy):
        raise InvalidParameterValue("bbox must be minx,miny,maxx,maxy", locator="bbox")
    return box(minx, miny, maxx, maxy)


def utm_crs(lon: float, lat: float) -> CRS:
    zone = min(60, max(1, int((lon + 180) // 6) + 1))
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def build_area(inputs: dict[str, Any]) -> Area:
    """``bbox`` or ``geometry`` in ``crs`` (default CRS84) on a grid of ``resolution``
    (inputs validated against the process description).

    A geographic input CRS is computed in the UTM zone of the area's centre. The area's size
    is checked, and its grid built (with the core's checks of a grid), before the engine
    transforms its bounds.
    """
    in_crs = parse_crs(str(inputs.get("crs") or "CRS:84"))
    if not (in_crs.is_geographic or in_crs.is_projected):
        raise InvalidParameterValue("crs must be a geographic or projected CRS", locator="crs")
    geometry = _input_geometry(inputs)
    resolution = float(inputs.get("resolution", DEFAULT_RESOLUTION_M))
    if in_crs.is_geographic:
        minx, miny, maxx, maxy = geometry.bounds
        if not (minx >= -180 and maxx <= 180 and miny >= -90 and maxy <= 90):
            raise InvalidParameterValue("the area is outside lon/lat bounds", locator="bbox")
        centre = geometry.centroid
        grid_crs = utm_crs(centre.x, centre.y)
        geometry = shape(transform_geom(in_crs, grid_crs, mapping(geometry)))
    else:
        grid_crs = in_crs
    grid = _aligned_grid(grid_crs, geometry.bounds, resolution)
    return Area(grid=grid, geometry=mapping(geometry))


def _aligned_grid(crs: CRS, bounds: tuple[float, ...], resolution: float) -> Grid:
    """The grid of ``resolution`` aligned to its multiples that covers ``bounds``, if it has
    at most MAX_AREA_PIXELS pixels (checked before any rounding can overflow)."""
    too_large = LimitExceeded(
        f"the area is over {MAX_AREA_PIXELS} pixels at {resolution:g}: use a smaller area or "
        "a coarser resolution",
        locator="bbox",
    )
    minx, miny, maxx, maxy = bounds
    if not (maxx - minx) / resolution * (maxy - miny) / resolution <= MAX_AREA_PIXELS:
        raise too_large  # also when it is not a finite number
    minx, miny = (
        math.floor(minx / resolution) * resolution,
        math.floor(miny / resolution) * resolution,
    )
    maxx, maxy = (
        math.ceil(maxx / resolution) * resolution,
        math.ceil(maxy / resolution) * resolution,
    )
    width = max(1, round((maxx - minx) / resolution))
    height = max(1, round((maxy - miny) / resolution))
    if width * height > MAX_AREA_PIXELS:
        raise too_large
    return Grid.of_client(crs, (minx, miny, maxx, maxy), width, height)
