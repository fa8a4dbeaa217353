"""Helpers of the OGC API tests: decoding answers and comparing them with numpy references."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import rasterio
from PIL import Image

from tests.support.expected import load_items

L2A = "sentinel-2-l2a"

Sampler = Callable[[np.ndarray, np.ndarray], np.ndarray]


def item_of(archive, tile: str, day: str, collection: str = L2A) -> dict:
    found = [
        item
        for item in load_items(archive, collection)
        if item["properties"]["grid:code"] == f"MGRS-{tile}"
        and item["properties"]["datetime"].startswith(day)
    ]
    assert len(found) == 1, (tile, day)
    return found[0]


def geotiff(content: bytes):
    with rasterio.MemoryFile(content) as memory, memory.open() as src:
        return src.read(), src.crs, src.transform, src.nodata


def rgba(content: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(content)).convert("RGBA"))


def same(actual: np.ndarray, expected: np.ndarray, atol: float = 1e-5) -> np.ndarray:
    both_nan = np.isnan(actual) & np.isnan(expected)
    return both_nan | np.isclose(actual, expected, atol=atol, rtol=1e-5)


def near(
    actual: np.ndarray,
    sample: Sampler,
    xs: np.ndarray,
    ys: np.ndarray,
    shift: float,
    atol: float = 1e-5,
) -> np.ndarray:
    """Per pixel: ``actual`` equals the reference at the pixel centre or at a point ``shift``
    CRS units away (GDAL's approximate warp may pick the neighbouring source pixel)."""
    ok = np.zeros(actual.shape, dtype=bool)
    for dx in (-shift, 0.0, shift):
        for dy in (-shift, 0.0, shift):
            ok |= same(actual, sample(xs + dx, ys + dy), atol)
    return ok
