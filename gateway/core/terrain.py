"""Terrain from heights: slope and hillshade, by Horn's 3 x 3 method as ``gdaldem`` computes it.

They need each pixel's eight neighbours, so the engine reads the heights on the output grid
grown by one pixel on every side (``padded``: the same pixel lattice, so a pixel's neighbours
are the same whichever window asks) and keeps the inside. Distances are ground metres: the
geodesic length of one column and one row step at each pixel's centre, so slopes are right in
EPSG:4326 (degrees) and EPSG:3857 (whose metres stretch with latitude) as in a UTM grid.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pyproj import Geod

from gateway.core.grid import WGS84, Grid, transformer

Terrain = Literal["hillshade", "slope"]
TERRAINS: tuple[Terrain, ...] = ("hillshade", "slope")
SUN_AZIMUTH = 315.0  # degrees clockwise from north: light from the north-west
SUN_ALTITUDE = 45.0  # degrees above the horizon
_GEOD = Geod(ellps="WGS84")


def padded(grid: Grid) -> Grid:
    """``grid`` grown by one pixel on every side, on the same lattice."""
    return grid.window(-1, -1, grid.width + 2, grid.height + 2)


def ground_steps(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Ground metres of one column step (east) and one row step (south) at the centre of every
    pixel of ``grid`` (float64 arrays, shape (height, width))."""
    minx, _, _, maxy = grid.bounds
    rx, ry = grid.resolution
    xs = minx + (np.arange(grid.width) + 0.5) * rx
    ys = maxy - (np.arange(grid.height) + 0.5) * ry
    x, y = np.meshgrid(xs, ys)
    to_lonlat = transformer(grid.crs, WGS84)
    lon, lat = to_lonlat.transform(x, y)
    lon_e, lat_e = to_lonlat.transform(x + rx, y)
    lon_s, lat_s = to_lonlat.transform(x, y - ry)
    _, _, east = _GEOD.inv(lon, lat, lon_e, lat_e)
    _, _, south = _GEOD.inv(lon, lat, lon_s, lat_s)
    return np.asarray(east), np.asarray(south)


def _gradients(z: np.ndarray, east: np.ndarray, south: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Horn's dz/d(east) and dz/d(north) of the inside of ``z`` (one pixel smaller all round)."""
    a, b, c = z[:-2, :-2], z[:-2, 1:-1], z[:-2, 2:]
    d, f = z[1:-1, :-2], z[1:-1, 2:]
    g, h, i = z[2:, :-2], z[2:, 1:-1], z[2:, 2:]
    dzdx = ((c + 2 * f + i) - (a + 2 * d + g)) / (8 * east)
    dzdy = ((a + 2 * b + c) - (g + 2 * h + i)) / (8 * south)
    return dzdx, dzdy


def _inside_valid(valid: np.ndarray) -> np.ndarray:
    """Pixels of the inside whose whole 3 x 3 neighbourhood is valid."""
    ok = np.ones((valid.shape[0] - 2, valid.shape[1] - 2), dtype=bool)
    for dy in range(3):
        for dx in range(3):
            ok &= valid[dy : dy + ok.shape[0], dx : dx + ok.shape[1]]
    return ok


def terrain(
    kind: Terrain, heights: np.ndarray, valid: np.ndarray, grid: Grid
) -> tuple[np.ndarray, np.ndarray]:
    """``kind`` of the heights on ``grid`` (a ``padded`` grid): float32 values and validity of
    its inside. Slope in degrees; hillshade 1-255 as ``gdaldem hillshade`` (1 in full shadow)."""
    east, south = ground_steps(padded_inside(grid))
    z = np.where(valid, heights, 0.0).astype(np.float64)
    dzdx, dzdy = _gradients(z, east, south)
    if kind == "slope":
        out = np.degrees(np.arctan(np.hypot(dzdx, dzdy)))
    else:
        az, alt = np.radians(SUN_AZIMUTH), np.radians(SUN_ALTITUDE)
        lit = (np.sin(alt) - np.cos(alt) * (dzdx * np.sin(az) + dzdy * np.cos(az))) / np.sqrt(
            1.0 + dzdx**2 + dzdy**2
        )
        out = 1.0 + 254.0 * np.maximum(lit, 0.0)
    ok = _inside_valid(valid)
    return np.where(ok, out, np.nan).astype(np.float32), ok


def padded_inside(grid: Grid) -> Grid:
    """The grid inside a ``padded`` one (one pixel less on every side)."""
    return grid.window(1, 1, grid.width - 2, grid.height - 2)
