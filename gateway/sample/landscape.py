"""The synthetic ground: land cover and clear-sky surface reflectance as functions of (lon, lat).

The world is defined on geographic coordinates, so both UTM tiles (zones 31 and 32) see exactly
the same ground where they overlap. Named landmarks give tests known places to look at.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from numpy.typing import ArrayLike

from gateway.sample.bands import MODEL_BANDS
from gateway.sample.noise import cell_hash, fbm, value_noise

LON0, LAT0 = 6.0, 52.6  # origin of the local metric frame
M_PER_DEG_LON = 111320.0 * math.cos(math.radians(LAT0))
M_PER_DEG_LAT = 110574.0


class Cover(IntEnum):
    """Land-cover classes of the synthetic world."""

    WATER = 1
    FOREST = 2  # dense vegetation
    CROPS = 3  # vegetation whose vigour grows through June
    GRASS = 4  # sparse vegetation
    BARE = 5  # bare soil
    BUILT = 6  # built-up


VEGETATION = (Cover.FOREST, Cover.CROPS, Cover.GRASS)

# Surface reflectance per band. Vegetation is a mix of a sparse and a dense end-member
# weighted by vigour; the other classes have one spectrum.
#                water  bare   built  sparse dense
_SPECTRA = {
    "B01": (0.040, 0.090, 0.100, 0.060, 0.020),
    "B02": (0.045, 0.100, 0.110, 0.070, 0.025),
    "B03": (0.055, 0.130, 0.125, 0.100, 0.050),
    "B04": (0.030, 0.160, 0.140, 0.120, 0.028),
    "B05": (0.022, 0.190, 0.150, 0.160, 0.075),
    "B06": (0.018, 0.210, 0.160, 0.200, 0.240),
    "B07": (0.016, 0.230, 0.170, 0.220, 0.330),
    "B08": (0.015, 0.250, 0.180, 0.240, 0.430),
    "B8A": (0.013, 0.260, 0.185, 0.250, 0.440),
    "B09": (0.010, 0.260, 0.180, 0.240, 0.420),
    "B11": (0.008, 0.330, 0.210, 0.300, 0.195),
    "B12": (0.006, 0.280, 0.190, 0.220, 0.085),
}
_FLAT = {
    cover: tuple(_SPECTRA[b][k] for b in MODEL_BANDS)
    for k, cover in enumerate((Cover.WATER, Cover.BARE, Cover.BUILT))
}
_SPARSE_VEG = tuple(_SPECTRA[b][3] for b in MODEL_BANDS)
_DENSE_VEG = tuple(_SPECTRA[b][4] for b in MODEL_BANDS)
# Relative brightness texture amplitude per class.
_TEXTURE = {
    Cover.WATER: 0.04,
    Cover.FOREST: 0.08,
    Cover.CROPS: 0.06,
    Cover.GRASS: 0.08,
    Cover.BARE: 0.10,
    Cover.BUILT: 0.30,
}


@dataclass(frozen=True)
class Landmark:
    """A named patch of one land cover.

    ``bbox`` (lon_min, lat_min, lon_max, lat_max) bounds the whole patch; every pixel inside
    ``core`` is of ``cover``. ``seen_by`` names the tiles whose small windows contain it.
    """

    name: str
    cover: Cover
    lon: float
    lat: float
    half_width_m: float
    half_height_m: float
    roundness: float  # superellipse exponent: 2 ellipse, 4 rounded rectangle
    seen_by: tuple[str, ...]

    _EDGE = 0.12  # relative edge wobble

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        return self._box(1 + self._EDGE)

    @property
    def core(self) -> tuple[float, float, float, float]:
        inner = (1 - self._EDGE) / 2 ** (1 / self.roundness)
        return self._box(inner * 0.98)

    def _box(self, k: float) -> tuple[float, float, float, float]:
        dlon = k * self.half_width_m / M_PER_DEG_LON
        dlat = k * self.half_height_m / M_PER_DEG_LAT
        return (
            round(self.lon - dlon, 5),
            round(self.lat - dlat, 5),
            round(self.lon + dlon, 5),
            round(self.lat + dlat, 5),
        )

    def contains(self, x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
        """Mask of ground points (local metres) inside the patch, with a wobbly edge."""
        cx, cy = ground_xy(np.float64(self.lon), np.float64(self.lat))
        a, b, p = self.half_width_m, self.half_height_m, self.roundness
        k = 1 + self._EDGE
        out = np.zeros(np.shape(x), dtype=bool)
        near = (np.abs(x - cx) < k * a) & (np.abs(y - cy) < k * b)
        if not near.any():
            return out
        xs, ys = x[near], y[near]
        r = (np.abs((xs - cx) / a) ** p + np.abs((ys - cy) / b) ** p) ** (1 / p)
        out[near] = r < 1 + self._EDGE * value_noise(xs, ys, 180.0, seed)
        return out


_BOTH = ("31UFU", "32ULD")
LANDMARKS: dict[str, Landmark] = {
    lm.name: lm
    for lm in (
        Landmark("bare_field", Cover.BARE, 6.072, 52.6595, 800, 400, 4, _BOTH),
        Landmark("lake", Cover.WATER, 6.072, 52.645, 750, 550, 2, _BOTH),
        Landmark("forest", Cover.FOREST, 6.073, 52.6095, 1150, 1250, 4, _BOTH),
        Landmark("town", Cover.BUILT, 6.073, 52.582, 1000, 850, 4, _BOTH),
        Landmark("meadow_west", Cover.GRASS, 5.975, 52.650, 900, 500, 4, ("31UFU",)),
        Landmark("town_west", Cover.BUILT, 5.960, 52.607, 1100, 800, 4, ("31UFU",)),
        Landmark("forest_east", Cover.FOREST, 6.160, 52.650, 1300, 900, 4, ("32ULD",)),
        Landmark("lake_east", Cover.WATER, 6.200, 52.590, 500, 400, 2, ("32ULD",)),
    )
}

#: The river: centre latitude, meander amplitude and wavelength (m), half width (m).
RIVER = {"lat": 52.630, "amplitude_m": 250.0, "wavelength_m": 5000.0, "half_width_m": 30.0}


def ground_xy(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Local metric coordinates (metres east/north of LON0, LAT0) of geographic points."""
    x = ((np.asarray(lon, dtype=np.float64) - LON0) * M_PER_DEG_LON).astype(np.float32)
    y = ((np.asarray(lat, dtype=np.float64) - LAT0) * M_PER_DEG_LAT).astype(np.float32)
    return x, y


def _parcels(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Field parcels of a farmed plain: (cover, per-parcel random value in [0, 1))."""
    theta = math.radians(17.0)
    u = x * np.float32(math.cos(theta)) + y * np.float32(math.sin(theta))
    v = -x * np.float32(math.sin(theta)) + y * np.float32(math.cos(theta))
    u = u + 60 * value_noise(x, y, 700.0, 11)
    v = v + 60 * value_noise(x, y, 700.0, 12)
    i = np.floor(u / 380.0).astype(np.int64)
    j = np.floor((v + 140.0 * (i % 2)) / 260.0).astype(np.int64)
    kind = cell_hash(i, j, 7)
    cover = np.select(
        [kind < 0.46, kind < 0.72, kind < 0.86],
        [Cover.CROPS, Cover.GRASS, Cover.BARE],
        Cover.FOREST,
    ).astype(np.uint8)
    return cover, cell_hash(i, j, 8)


def _river(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    _, yc = ground_xy(LON0, RIVER["lat"])
    centre = yc + RIVER["amplitude_m"] * np.sin(2 * np.pi * x / RIVER["wavelength_m"])
    centre = centre + 40 * value_noise(x, y, 900.0, 13)
    return np.abs(y - centre) < RIVER["half_width_m"]


def land_cover(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Land cover of ground points (local metres) and a [0, 1) value per field parcel."""
    cover, parcel = _parcels(x, y)
    woods = fbm(x, y, 1800.0, 21) > 0.42
    cover[woods] = Cover.FOREST
    for k, lm in enumerate(LANDMARKS.values()):
        inside = lm.contains(x, y, 300 + k)
        cover[inside] = lm.cover
        parcel[inside] = 0.5
    cover[_river(x, y)] = Cover.WATER
    return cover, parcel


@dataclass(frozen=True)
class Ground:
    """The date-independent part of the world at a set of points."""

    cover: np.ndarray  # uint8 Cover codes
    parcel: np.ndarray  # float32 [0, 1) per field parcel
    brightness: np.ndarray  # float32 multiplicative texture


def ground(lon: np.ndarray, lat: np.ndarray) -> Ground:
    """Land cover and texture of geographic points."""
    x, y = ground_xy(lon, lat)
    cover, parcel = land_cover(x, y)
    amp = np.zeros(len(Cover) + 1, dtype=np.float32)
    for c, a in _TEXTURE.items():
        amp[c] = a
    texture = fbm(x, y, 60.0, 31, octaves=2)
    built = cover == Cover.BUILT
    if built.any():
        texture[built] = fbm(x[built], y[built], 25.0, 41, octaves=2)
    brightness = (1 + amp[cover] * texture) * (0.94 + 0.12 * parcel)
    return Ground(cover, parcel, brightness.astype(np.float32))


def vigour(cover: np.ndarray, parcel: np.ndarray, day_of_year: int) -> np.ndarray:
    """Vegetation vigour in [0, 1] by class, parcel and date (crops grow through June)."""
    d = np.float32(day_of_year - 149)
    v = np.zeros(cover.shape, dtype=np.float32)
    p = parcel - np.float32(0.5)
    forest = cover == Cover.FOREST
    crops = cover == Cover.CROPS
    grass = cover == Cover.GRASS
    v[forest] = 0.90 + 0.002 * d + 0.06 * p[forest]
    v[crops] = 0.38 + 0.014 * d + 0.25 * p[crops]
    v[grass] = 0.50 - 0.003 * d + 0.12 * p[grass]
    return np.clip(v, 0.15, 0.98)


def surface_reflectance(g: Ground, day_of_year: int) -> np.ndarray:
    """Clear-sky surface reflectance, float32 of shape (len(MODEL_BANDS), *points shape)."""
    v = vigour(g.cover, g.parcel, day_of_year)
    is_veg = np.isin(g.cover, VEGETATION)
    flat = np.zeros((len(Cover) + 1, len(MODEL_BANDS)), dtype=np.float32)
    for c, spectrum in _FLAT.items():
        flat[c] = spectrum
    refl = np.empty((len(MODEL_BANDS), *g.cover.shape), dtype=np.float32)
    for k in range(len(MODEL_BANDS)):
        veg = np.float32(_SPARSE_VEG[k]) + v * np.float32(_DENSE_VEG[k] - _SPARSE_VEG[k])
        refl[k] = np.where(is_veg, veg, flat[g.cover, k]) * g.brightness
    return refl
