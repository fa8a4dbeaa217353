"""The synthetic sky of each acquisition: clouds, thin cirrus, cloud shadows, swath edge, AOT, WVP.

Clouds are smooth random fields on the ground frame, seeded per date and thresholded so that
the date reaches its target cover over the sample area of the profile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from gateway.sample.geo import pixel_lonlat
from gateway.sample.landscape import ground_xy
from gateway.sample.layout import PROFILES, TILES, Acquisition, Grid, tile_grid
from gateway.sample.noise import fourier_field, value_noise

# Cloud top reflectance per model band (B01 ... B12): bright and flat, lower in the SWIR.
CLOUD_SPECTRUM = (0.63, 0.62, 0.61, 0.60, 0.60, 0.61, 0.62, 0.62, 0.62, 0.44, 0.37, 0.25)
# What a fully developed thin cirrus adds to the surface reflectance.
CIRRUS_SPECTRUM = (0.26, 0.25, 0.24, 0.23, 0.22, 0.22, 0.21, 0.21, 0.21, 0.15, 0.12, 0.07)
CIRRUS_MAX = 0.25  # opacity of the thickest cirrus
SHADOW_FACTOR = 0.35  # shadowed surface keeps this fraction of its reflectance
CLOUD_HEIGHT_M = 2000.0
HIGH_PROBABILITY = 0.8  # cloud opacity from which SCL says "high probability"
MIN_OPACITY = 0.6  # opacity at the rim of a cloud

#: Swath edge of the acquisitions that have one: no data east of lon = LON + SLOPE * (lat - LAT).
SWATH_EDGE = {"lon": 6.16, "lat": 52.567, "slope": 0.5}


@dataclass(frozen=True)
class Sky:
    """The atmosphere over a set of ground points at one acquisition."""

    opacity: np.ndarray  # thick-cloud opacity, 0 where clear
    cirrus: np.ndarray  # thin-cirrus opacity in [0, CIRRUS_MAX], 0 where none
    shadow: np.ndarray  # bool: the ground is in a cloud's shadow
    cloud_brightness: np.ndarray  # multiplier of CLOUD_SPECTRUM (cloud-top texture)


def _cloud_field(x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    return fourier_field(x, y, seed, waves=48, shortest=350.0, longest=9000.0)


def _cirrus_field(x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    # Streaks: stretch the ground along a wind direction before sampling a smooth field.
    angle = math.radians(35 + seed % 40)
    u = x * np.float32(math.cos(angle)) + y * np.float32(math.sin(angle))
    v = -x * np.float32(math.sin(angle)) + y * np.float32(math.cos(angle))
    return fourier_field(
        u * np.float32(0.25), v, seed + 7, waves=32, shortest=300.0, longest=6000.0
    )


@lru_cache(maxsize=64)
def thresholds(profile: str, acq: Acquisition) -> tuple[float, float]:
    """Field levels above which a pixel is cloud / cirrus, so covers hit the date's targets.

    Computed on a coarse lattice over all windows of the profile, so every tile of a date
    shares the same sky.
    """
    xs, ys = [], []
    for name, window in PROFILES[profile].items():
        tile = TILES[name]
        grid = tile_grid(tile, window, 10)
        step = max(1, grid.shape[0] // 150)
        a, b, c, d, e, f = grid.transform
        shape = (grid.shape[0] // step, grid.shape[1] // step)
        coarse = Grid(grid.res * step, (a * step, b, c, d, e * step, f), shape)
        lon, lat = pixel_lonlat(tile.epsg, coarse)
        x, y = ground_xy(lon, lat)
        xs.append(x.ravel())
        ys.append(y.ravel())
    x = np.concatenate(xs)
    y = np.concatenate(ys)

    def level(field: np.ndarray, fraction: float) -> float:
        return math.inf if fraction <= 0 else float(np.quantile(field, 1 - fraction))

    return (
        level(_cloud_field(x, y, acq.seed), acq.cloud_fraction),
        level(_cirrus_field(x, y, acq.seed), acq.cirrus_fraction),
    )


def _opacity(field: np.ndarray, level: float) -> np.ndarray:
    if math.isinf(level):
        return np.zeros(field.shape, dtype=np.float32)
    ramp = np.clip(MIN_OPACITY + (field - np.float32(level)) / np.float32(0.5), MIN_OPACITY, 1)
    return np.where(field > level, ramp, np.float32(0)).astype(np.float32)


def sky(
    lon: np.ndarray,
    lat: np.ndarray,
    acq: Acquisition,
    profile: str,
    sun_azimuth: float,
    sun_elevation: float,
) -> Sky:
    """Clouds, cirrus and shadows over geographic points at one acquisition."""
    x, y = ground_xy(lon, lat)
    cloud_level, cirrus_level = thresholds(profile, acq)
    opacity = _opacity(_cloud_field(x, y, acq.seed), cloud_level)
    # A point is shadowed when a cloud sits between it and the sun.
    reach = CLOUD_HEIGHT_M / math.tan(math.radians(sun_elevation))
    dx = np.float32(reach * math.sin(math.radians(sun_azimuth)))
    dy = np.float32(reach * math.cos(math.radians(sun_azimuth)))
    if math.isinf(cloud_level):
        shadow = np.zeros(x.shape, dtype=bool)
    else:
        towards_sun = _opacity(_cloud_field(x + dx, y + dy, acq.seed), cloud_level)
        shadow = (towards_sun >= 0.5) & (opacity == 0)
    if math.isinf(cirrus_level):
        cirrus = np.zeros(x.shape, dtype=np.float32)
    else:
        field = _cirrus_field(x, y, acq.seed)
        cirrus = np.where(
            field > cirrus_level,
            np.clip((field - np.float32(cirrus_level)) / np.float32(1.2), 0.04, 1) * CIRRUS_MAX,
            np.float32(0),
        ).astype(np.float32)
    brightness = (1.1 + 0.22 * value_noise(x, y, 300.0, acq.seed + 3)).astype(np.float32)
    return Sky(opacity, cirrus, shadow, brightness)


def swath_mask(lon: np.ndarray, lat: np.ndarray, acq: Acquisition, tile: str) -> np.ndarray:
    """True where the acquisition has data (False beyond the swath edge, if this tile has one)."""
    if tile not in acq.swath_edge_tiles:
        return np.ones(np.shape(lon), dtype=bool)
    edge = SWATH_EDGE["lon"] + SWATH_EDGE["slope"] * (lat - SWATH_EDGE["lat"])
    return lon < edge


def aerosol_and_vapour(
    lon: np.ndarray, lat: np.ndarray, acq: Acquisition
) -> tuple[np.ndarray, ...]:
    """Aerosol optical thickness (unitless) and water vapour (cm) fields, both smooth."""
    x, y = ground_xy(lon, lat)
    aot = 0.12 + 0.04 * value_noise(x, y, 6000.0, acq.seed + 11)
    wvp = 2.2 + 0.4 * value_noise(x, y, 8000.0, acq.seed + 12)
    return aot.astype(np.float32), wvp.astype(np.float32)
