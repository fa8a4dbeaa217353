"""Render what the satellite sees over rows of a scene at 10 m: reflectance, SCL, validity.

The ground (landscape) and the sky of the date are combined here, once, and every output
(bands at 10/20/60 m, SCL, TCI, statistics) is derived from the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from gateway.sample import landscape, scl, sky
from gateway.sample.bands import MODEL_BANDS
from gateway.sample.geo import pixel_lonlat
from gateway.sample.landscape import Cover, Ground
from gateway.sample.layout import Grid, ScenePlan

SENSOR_NOISE = 0.0015  # reflectance units, per pixel and band

_SCL_OF_COVER = np.zeros(len(Cover) + 1, dtype=np.uint8)
_SCL_OF_COVER[Cover.WATER] = scl.WATER
_SCL_OF_COVER[[Cover.FOREST, Cover.CROPS, Cover.GRASS]] = scl.VEGETATION
_SCL_OF_COVER[[Cover.BARE, Cover.BUILT]] = scl.NOT_VEGETATED


@dataclass(frozen=True)
class Strip:
    """Rows of a scene at 10 m."""

    refl: np.ndarray  # float32 (len(MODEL_BANDS), rows, cols); 0 where no data
    scl: np.ndarray  # uint8 scene classification
    valid: np.ndarray  # bool
    aot: np.ndarray  # float32 aerosol optical thickness
    wvp: np.ndarray  # float32 water vapour (cm)


@lru_cache(maxsize=2)
def _ground(epsg: int, grid: Grid, row0: int, nrows: int) -> tuple[np.ndarray, np.ndarray, Ground]:
    """Lon/lat and ground of some rows; cached because every date of a tile sees the same ground."""
    lon, lat = pixel_lonlat(epsg, grid, row0, nrows)
    return lon, lat, landscape.ground(lon, lat)


def _noise(shape: tuple[int, int], seed: list[int]) -> np.ndarray:
    """Independent-looking sensor noise per band from two Gaussian fields (cheap to draw)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape, dtype=np.float32)
    b = rng.standard_normal(shape, dtype=np.float32)
    out = np.empty((len(MODEL_BANDS), *shape), dtype=np.float32)
    for k in range(len(MODEL_BANDS)):
        out[k] = np.float32(np.cos(0.7 * k) * SENSOR_NOISE) * a
        out[k] += np.float32(np.sin(0.7 * k) * SENSOR_NOISE) * b
    return out


def render_strip(plan: ScenePlan, row0: int, nrows: int, sun: tuple[float, float]) -> Strip:
    """Observed reflectance and SCL of rows ``row0 .. row0+nrows`` of an L2A scene at 10 m."""
    acq = plan.acquisition
    if acq is None:
        raise ValueError(f"{plan.item_id} is not an L2A scene")
    grid = plan.grids[10]
    lon, lat, g = _ground(plan.tile.epsg, grid, row0, nrows)
    valid = sky.swath_mask(lon, lat, acq, plan.tile.name)
    air = sky.sky(lon, lat, acq, plan.profile, *sun)

    refl = landscape.surface_reflectance(g, acq.sensing.timetuple().tm_yday)
    refl *= np.where(air.shadow, np.float32(sky.SHADOW_FACTOR), np.float32(1))
    opacity = air.opacity
    for k in range(len(MODEL_BANDS)):
        refl[k] += air.cirrus * np.float32(sky.CIRRUS_SPECTRUM[k])
        cloud = air.cloud_brightness * np.float32(sky.CLOUD_SPECTRUM[k])
        refl[k] += opacity * (cloud - refl[k])
    refl += _noise(lon.shape, [acq.seed, plan.tile.epsg, row0])
    refl[:, ~valid] = 0

    labels = _SCL_OF_COVER[g.cover]
    labels[air.shadow] = scl.CLOUD_SHADOW
    labels[air.cirrus > 0] = scl.THIN_CIRRUS
    labels[opacity > 0] = scl.CLOUD_MEDIUM
    labels[opacity >= sky.HIGH_PROBABILITY] = scl.CLOUD_HIGH
    labels[~valid] = scl.NODATA

    aot, wvp = sky.aerosol_and_vapour(lon, lat, acq)
    return Strip(refl, labels, valid, aot, wvp)


def clear_surface(plan: ScenePlan, row0: int, nrows: int, day_of_year: int) -> np.ndarray:
    """Cloud-free surface reflectance of some rows of any plan's 10 m grid (for mosaics)."""
    _, _, g = _ground(plan.tile.epsg, plan.grids[10], row0, nrows)
    return landscape.surface_reflectance(g, day_of_year)
