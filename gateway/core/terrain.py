"""Terrain from heights: slope and hillshade, by Horn's 3 x 3 method as ``gdaldem`` computes it.

They need each pixel's eight neighbours, so the engine reads the heights on the output grid
grown by one pixel on every side (``padded``: the same pixel lattice, so a pixel's neighbours
are the same whichever window asks) and keeps the inside. Distances are ground metres, from
the neighbours' lon/lat and the WGS84 ellipsoid's radii of curvature at each pixel, so slopes
are right in EPSG:4326 (degrees) and EPSG:3857 (whose metres stretch with latitude) as in a
UTM grid.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from gateway.core.grid import WGS84, Grid
from gateway.core.preview import WEB_MERCATOR
from gateway.core.transforms import transformer

Terrain = Literal["hillshade", "slope"]
SUN_AZIMUTH = 315.0  # degrees clockwise from north: light from the north-west
SUN_ALTITUDE = 45.0  # degrees above the horizon
_A, _E2 = 6378137.0, 0.00669437999014  # WGS84: semi-major axis, first eccentricity squared


def padded(grid: Grid) -> Grid:
    """``grid`` grown by one pixel on every side, on the same lattice."""
    return grid.window(-1, -1, grid.width + 2, grid.height + 2)


def ground_steps(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Ground metres of one column step (east) and one row step (south) at the centre of every
    pixel inside ``grid`` (a ``padded`` grid; float64 arrays of the inside's shape, or of one
    column where they depend on the row alone): half the
    distance between the pixel's two neighbours along its row and along its column, from their
    lon/lat and the ellipsoid's radii of curvature at the pixel."""
    minx, _, _, maxy = grid.bounds
    rx, ry = grid.resolution
    if grid.crs.is_geographic or grid.crs == WEB_MERCATOR:
        # Ground distances there depend on the row alone: one column (at x = 0), broadcast.
        xs = (np.arange(3) - 1.0) * rx
    else:
        xs = minx + (np.arange(grid.width) + 0.5) * rx
    ys = maxy - (np.arange(grid.height) + 0.5) * ry
    lon, lat = transformer(grid.crs, WGS84).transform(*np.meshgrid(xs, ys))
    lam, phi = np.radians(lon), np.radians(lat)
    centre = phi[1:-1, 1:-1]
    w = 1.0 - _E2 * np.sin(centre) ** 2
    across = _A / np.sqrt(w) * np.cos(centre)  # prime vertical radius x cos(lat)
    along = _A * (1.0 - _E2) / w**1.5  # meridian radius

    def half_distance(d_lam: np.ndarray, d_phi: np.ndarray) -> np.ndarray:
        d_lam = (d_lam + np.pi) % (2 * np.pi) - np.pi  # across the antimeridian
        return np.hypot(across * d_lam, along * d_phi) / 2

    east = half_distance(lam[1:-1, 2:] - lam[1:-1, :-2], phi[1:-1, 2:] - phi[1:-1, :-2])
    south = half_distance(lam[2:, 1:-1] - lam[:-2, 1:-1], phi[2:, 1:-1] - phi[:-2, 1:-1])
    return east, south


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
    z = np.where(valid, heights, 0.0).astype(np.float64)
    # Past the poles or a projection's domain distances are 0 or not finite: no value there.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        east, south = ground_steps(grid)
        dzdx, dzdy = _gradients(z, east, south)
        if kind == "slope":
            out = np.degrees(np.arctan(np.hypot(dzdx, dzdy)))
        else:
            az, alt = np.radians(SUN_AZIMUTH), np.radians(SUN_ALTITUDE)
            lit = np.sin(alt) - np.cos(alt) * (dzdx * np.sin(az) + dzdy * np.cos(az))
            out = 1.0 + 254.0 * np.maximum(lit / np.sqrt(1.0 + dzdx**2 + dzdy**2), 0.0)
    ok = _inside_valid(valid) & np.isfinite(out)
    return np.where(ok, out, np.nan).astype(np.float32), ok
