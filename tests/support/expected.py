"""Independent reference computations for pixel tests: plain rasterio reads + numpy + pyproj.

Nothing here uses the gateway's reader, mosaic or band math.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from pyproj import Transformer


def load_items(archive: Path, collection: str) -> list[dict]:
    folder = archive / "stac" / "collections" / collection
    lines = (folder / "items.ndjson").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def asset_path(archive: Path, item: dict, key: str) -> Path:
    href = item["assets"][key]["href"]
    assert href.startswith("s3://eodata/")
    return archive / "eodata" / href[len("s3://eodata/") :]


@dataclass
class SourceBand:
    """One asset read whole: raw DN, reflectance (NaN at nodata), georeferencing."""

    dn: np.ndarray
    values: np.ndarray
    transform: Affine
    crs: str

    def sample(self, xs: np.ndarray, ys: np.ndarray, crs: str) -> np.ndarray:
        """Nearest-neighbour values at points given in ``crs`` (NaN outside)."""
        tx = Transformer.from_crs(crs, self.crs, always_xy=True)
        sx, sy = tx.transform(xs, ys)
        t = self.transform  # north-up: no rotation terms
        cols = np.floor((np.asarray(sx) - t.c) / t.a).astype(int)
        rows = np.floor((np.asarray(sy) - t.f) / t.e).astype(int)
        inside = (
            (rows >= 0)
            & (rows < self.values.shape[0])
            & (cols >= 0)
            & (cols < self.values.shape[1])
        )
        out = np.full(np.shape(xs), np.nan, dtype=np.float64)
        out[inside] = self.values[rows[inside], cols[inside]]
        return out


def read_band(archive: Path, item: dict, key: str, *, reflectance: bool = True) -> SourceBand:
    asset = item["assets"][key]
    with rasterio.open(asset_path(archive, item, key)) as src:
        dn = src.read(1)
        transform, crs = src.transform, src.crs.to_string()
    nodata = asset.get("nodata")
    values = dn.astype(np.float64)
    if reflectance:
        scale = asset.get("raster:scale", 0.0001)
        offset = asset.get("raster:offset", 0.0)
        values = values * scale + offset
    if nodata is not None:
        values[dn == nodata] = np.nan
    return SourceBand(dn, values, transform, crs)


def pixel_centres(
    bounds: tuple[float, float, float, float], width: int, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """x, y arrays (h, w) of the pixel centres of a north-up grid."""
    minx, miny, maxx, maxy = bounds
    xs = minx + (np.arange(width) + 0.5) * (maxx - minx) / width
    ys = maxy - (np.arange(height) + 0.5) * (maxy - miny) / height
    return np.meshgrid(xs, ys)


def ndvi(nir: np.ndarray, red: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (nir - red) / (nir + red)
    out[~np.isfinite(out)] = np.nan
    return out
