"""Process inputs shared by every process: the area, its grid, the time range."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyproj import CRS as ProjCRS
from rasterio.crs import CRS
from rasterio.features import geometry_mask
from rasterio.warp import transform_geom
from shapely.geometry import box, mapping, shape
from shapely.geometry.base import BaseGeometry

from gateway.core.crs import parse_crs
from gateway.core.grid import WGS84, Grid
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
    try:
        minx, miny, maxx, maxy = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise InvalidParameterValue("bbox must be four numbers", locator="bbox") from None
    if not (minx < maxx and miny < maxy) or not all(
        math.isfinite(v) for v in (minx, miny, maxx, maxy)
    ):
        raise InvalidParameterValue("bbox must be minx,miny,maxx,maxy", locator="bbox")
    return box(minx, miny, maxx, maxy)


def utm_crs(lon: float, lat: float) -> CRS:
    zone = min(60, max(1, int((lon + 180) // 6) + 1))
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def build_area(inputs: dict[str, Any]) -> Area:
    """``bbox`` or ``geometry`` in ``crs`` (default CRS84) on a grid of ``resolution``.

    A geographic input CRS is computed in the UTM zone of the area's centre.
    """
    in_crs = parse_crs(str(inputs.get("crs") or "CRS:84"))
    geometry = _input_geometry(inputs)
    if ProjCRS.from_user_input(in_crs.to_wkt()).is_geographic:
        minx, miny, maxx, maxy = geometry.bounds
        if not (minx >= -180 and maxx <= 180 and miny >= -90 and maxy <= 90):
            raise InvalidParameterValue("the area is outside lon/lat bounds", locator="bbox")
        centre = geometry.centroid
        grid_crs = utm_crs(centre.x, centre.y)
        geometry = shape(transform_geom(in_crs, grid_crs, mapping(geometry)))
    else:
        grid_crs = in_crs
    try:
        resolution = float(inputs.get("resolution") or DEFAULT_RESOLUTION_M)
    except (TypeError, ValueError):
        raise InvalidParameterValue("resolution must be a number", locator="resolution") from None
    if not resolution > 0:
        raise InvalidParameterValue("resolution must be positive", locator="resolution")
    minx, miny, maxx, maxy = geometry.bounds
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
        raise LimitExceeded(
            f"the area is {width}x{height} pixels at {resolution:g}; the limit is "
            f"{MAX_AREA_PIXELS} pixels: use a smaller area or a coarser resolution",
            locator="bbox",
        )
    grid = Grid(grid_crs, (minx, miny, maxx, maxy), width, height)
    return Area(grid=grid, geometry=mapping(geometry))


def wgs84_bounds(grid: Grid) -> tuple[float, float, float, float]:
    return grid.bounds_in(WGS84)
