"""GDAL's C library as rasterio loaded it, for the few functions rasterio does not wrap."""

from __future__ import annotations

import ctypes
import functools

import rasterio._base


@functools.cache
def libgdal() -> ctypes.CDLL:
    """The libgdal rasterio links: opened through rasterio's extension module, whose symbol
    lookup reaches the libraries it depends on (a wheel's bundled copy or the system's)."""
    return ctypes.CDLL(rasterio._base.__file__)
