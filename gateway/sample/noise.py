"""Deterministic procedural noise on ground coordinates (metres), vectorised with numpy.

Every function is a pure function of its inputs: the same ground point gets the same value
whichever tile, zone or resolution asks for it.
"""

from __future__ import annotations

import numpy as np


def hash01(i: np.ndarray, j: np.ndarray, seed: int) -> np.ndarray:
    """A well-mixed hash of integer lattice coordinates, as float32 in [0, 1)."""
    with np.errstate(over="ignore"):
        h = (
            np.asarray(i).astype(np.uint32) * np.uint32(0x9E3779B1)
            + np.asarray(j).astype(np.uint32) * np.uint32(0x85EBCA77)
            + np.uint32((seed * 0xC2B2AE3D) & 0xFFFFFFFF)
        )
        h ^= h >> np.uint32(15)
        h *= np.uint32(0x2C1B3C6D)
        h ^= h >> np.uint32(12)
        h *= np.uint32(0x297A2D39)
        h ^= h >> np.uint32(15)
    return (h >> np.uint32(8)).astype(np.float32) * np.float32(1.0 / (1 << 24))


def hash_cells(i: np.ndarray, j: np.ndarray, seed: int, pad: int = 0) -> tuple[np.ndarray, int]:
    """Hash values of every lattice cell a set of points falls in, as a small table.

    Returns (flat table, row stride) indexed by ``(i - i.min()) * stride + (j - j.min())``;
    ``pad`` extra cells on the high side allow lookups of neighbours. Hashing the covered
    lattice once and gathering is far cheaper than hashing every pixel.
    """
    i0, j0 = int(i.min()), int(j.min())
    ni, nj = int(i.max()) - i0 + 1 + pad, int(j.max()) - j0 + 1 + pad
    gi, gj = np.meshgrid(np.arange(i0, i0 + ni), np.arange(j0, j0 + nj), indexing="ij")
    return hash01(gi, gj, seed).ravel(), nj


def cell_hash(i: np.ndarray, j: np.ndarray, seed: int) -> np.ndarray:
    """hash01 of many integer cells (same values), computed through a lattice table."""
    table, stride = hash_cells(i, j, seed)
    return table[(i - i.min()) * stride + (j - j.min())]


def value_noise(x: np.ndarray, y: np.ndarray, scale: float, seed: int) -> np.ndarray:
    """Smooth lattice noise in [-1, 1] with features of about ``scale`` metres."""
    gx = x / np.float32(scale)
    gy = y / np.float32(scale)
    fx0 = np.floor(gx)
    fy0 = np.floor(gy)
    tx = gx - fx0
    ty = gy - fy0
    tx = tx * tx * (3 - 2 * tx)
    ty = ty * ty * (3 - 2 * ty)
    ix = fx0.astype(np.int32)
    iy = fy0.astype(np.int32)
    table, stride = hash_cells(ix, iy, seed, pad=1)
    k = (ix - ix.min()) * stride + (iy - iy.min())
    v00 = table[k]
    v10 = table[k + stride]
    v01 = table[k + 1]
    v11 = table[k + stride + 1]
    top = v00 + (v10 - v00) * tx
    bottom = v01 + (v11 - v01) * tx
    return ((top + (bottom - top) * ty) * 2 - 1).astype(np.float32)


def fbm(x: np.ndarray, y: np.ndarray, scale: float, seed: int, octaves: int = 3) -> np.ndarray:
    """Fractal sum of value noise octaves (scale, scale/2, ...), roughly in [-1, 1]."""
    total = np.zeros(np.shape(x), dtype=np.float32)
    amp, norm = 1.0, 0.0
    for k in range(octaves):
        total += np.float32(amp) * value_noise(x, y, scale / 2**k, seed + 101 * k)
        norm += amp
        amp *= 0.5
    return total / np.float32(norm)


def fourier_field(
    x: np.ndarray,
    y: np.ndarray,
    seed: int,
    waves: int = 40,
    shortest: float = 400.0,
    longest: float = 9000.0,
) -> np.ndarray:
    """A smooth Gaussian-like random field (zero mean, unit variance) made of random plane waves.

    Wavelengths are spread log-uniformly between ``shortest`` and ``longest`` metres, with
    amplitudes proportional to wavelength (a red spectrum: blobs with ragged edges).
    """
    rng = np.random.default_rng(seed)
    wavelengths = np.exp(rng.uniform(np.log(shortest), np.log(longest), waves))
    angles = rng.uniform(0.0, np.pi, waves)
    phases = rng.uniform(0.0, 2 * np.pi, waves)
    amps = wavelengths / np.sqrt(np.sum(wavelengths**2) / 2)
    total = np.zeros(np.shape(x), dtype=np.float32)
    for wl, ang, ph, amp in zip(wavelengths, angles, phases, amps, strict=True):
        kx = np.float32(2 * np.pi * np.cos(ang) / wl)
        ky = np.float32(2 * np.pi * np.sin(ang) / wl)
        total += np.float32(amp) * np.cos(kx * x + ky * y + np.float32(ph))
    return total
