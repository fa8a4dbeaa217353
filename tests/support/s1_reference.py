"""An independent numpy reference for Sentinel-1 GRD calibration and geocoding, written from
ESA's formula and not from the gateway's code: the tables are read with the standard library's
XML parser, interpolated per pixel by explicit bracketing, and the geocoding is the affine
map that least squares fit to the file's GCPs (the sample's geometry is affine in lon/lat).

    value = (DN² - noise) / A², negative powers clamped to 0, NaN where DN is 0
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import rasterio

TAGS = {"sigma0": "sigmaNought", "beta0": "betaNought", "gamma0": "gamma"}


def _floats(node: ET.Element, tag: str) -> np.ndarray:
    return np.array([float(v) for v in node.findtext(tag, "").split()])


def _vectors(path: Path, vector: str, value: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lines, samples, values[line, sample]) of vectors that share one sample list."""
    root = ET.parse(path).getroot()
    nodes = root.iter(vector)
    rows = [(float(n.findtext("line")), _floats(n, "pixel"), _floats(n, value)) for n in nodes]
    samples = rows[0][1]
    assert all(np.array_equal(r[1], samples) for r in rows)
    return np.array([r[0] for r in rows]), samples, np.stack([r[2] for r in rows])


def _bilinear(
    lines: np.ndarray, samples: np.ndarray, table: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    """The table at every (line, sample) of an image of ``shape``, by bracketing."""
    ln = np.arange(shape[0], dtype=np.float64)
    sp = np.arange(shape[1], dtype=np.float64)
    i = np.clip(np.searchsorted(lines, ln, side="right") - 1, 0, len(lines) - 2)
    j = np.clip(np.searchsorted(samples, sp, side="right") - 1, 0, len(samples) - 2)
    u = ((ln - lines[i]) / (lines[i + 1] - lines[i]))[:, None]
    v = ((sp - samples[j]) / (samples[j + 1] - samples[j]))[None, :]
    a = table[i][:, j]
    b = table[i][:, j + 1]
    c = table[i + 1][:, j]
    d = table[i + 1][:, j + 1]
    return a * (1 - u) * (1 - v) + b * (1 - u) * v + c * u * (1 - v) + d * u * v


def noise_power(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """Range LUT x azimuth LUT (each block over its own samples) at every pixel."""
    lines, samples, table = _vectors(path, "noiseRangeVector", "noiseRangeLut")
    noise = _bilinear(lines, samples, table, shape)
    root = ET.parse(path).getroot()
    rows = np.arange(shape[0], dtype=np.float64)
    for block in root.iter("noiseAzimuthVector"):
        first = int(block.findtext("firstRangeSample"))
        last = int(block.findtext("lastRangeSample"))
        along = np.interp(rows, _floats(block, "line"), _floats(block, "noiseAzimuthLut"))
        noise[:, first : last + 1] *= along[:, None]
    return noise


def calibrated(
    measurement: Path,
    calibration: Path,
    noise: Path | None,
    kind: str = "sigma0",
) -> np.ndarray:
    """Calibrated backscatter (linear, float64) of a whole measurement file."""
    with rasterio.open(measurement) as src:
        dn = src.read(1).astype(np.float64)
    lines, samples, table = _vectors(calibration, "calibrationVector", TAGS[kind])
    power = dn**2
    if noise is not None:
        power = np.maximum(power - noise_power(noise, dn.shape), 0.0)
    value = power / _bilinear(lines, samples, table, dn.shape) ** 2
    value[dn == 0] = np.nan
    return value


def gcp_affine(measurement: Path) -> np.ndarray:
    """The 2 x 3 least-squares map from (lon, lat, 1) to GDAL image (col, row) of the GCPs."""
    with rasterio.open(measurement) as src:
        gcps, _ = src.gcps
    lonlat1 = np.array([[g.x, g.y, 1.0] for g in gcps])
    colrow = np.array([[g.col, g.row] for g in gcps])
    solution, *_ = np.linalg.lstsq(lonlat1, colrow, rcond=None)
    return solution.T


def sample_at(
    values: np.ndarray, affine: np.ndarray, lon: np.ndarray, lat: np.ndarray
) -> np.ndarray:
    """``values`` bilinearly at lon/lat points (NaN outside or beside no data)."""
    col = affine[0, 0] * lon + affine[0, 1] * lat + affine[0, 2] - 0.5
    row = affine[1, 0] * lon + affine[1, 1] * lat + affine[1, 2] - 0.5
    h, w = values.shape
    out = np.full(lon.shape, np.nan)
    inside = (row >= -0.5) & (row <= h - 0.5) & (col >= -0.5) & (col <= w - 0.5)
    r, c = np.clip(row, 0, h - 1), np.clip(col, 0, w - 1)
    r0 = np.minimum(np.floor(r).astype(int), h - 2)
    c0 = np.minimum(np.floor(c).astype(int), w - 2)
    fr, fc = r - r0, c - c0
    interp = (
        values[r0, c0] * (1 - fr) * (1 - fc)
        + values[r0, c0 + 1] * (1 - fr) * fc
        + values[r0 + 1, c0] * fr * (1 - fc)
        + values[r0 + 1, c0 + 1] * fr * fc
    )
    out[inside] = interp[inside]
    return out
