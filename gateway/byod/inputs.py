"""Checks on a raster before it is ingested: allowed folder, size, GDAL can read it whole."""

from __future__ import annotations

import os
from pathlib import Path

import rasterio
from rasterio.errors import RasterioError

from gateway.errors import InvalidParameterValue


class BadInput(InvalidParameterValue):
    """An input the ingest refuses; the message says why."""


def check_allowed(path: Path, allowed: tuple[Path, ...]) -> Path:
    """``path`` resolved (symlinks followed); refused unless inside one of ``allowed``."""
    real = Path(os.path.realpath(path))
    for folder in allowed:
        if real.is_relative_to(Path(os.path.realpath(folder))):
            return real
    names = ", ".join(str(f) for f in allowed)
    raise BadInput(f"outside the allowed folders ({names}); see GATEWAY_INGEST_DIRS")


def check_readable(path: Path) -> None:
    """A file that is not empty, that GDAL opens as a georeferenced raster and reads whole."""
    if not path.is_file():
        raise BadInput("no such file")
    if path.stat().st_size == 0:
        raise BadInput("empty file (0 bytes)")
    try:
        with rasterio.open(path) as src:
            if src.count == 0:
                raise BadInput("GDAL finds no raster band in it")
            if src.crs is None:
                raise BadInput("no CRS: georeference it first (gdal_edit.py -a_srs EPSG:...)")
            if src.transform.is_identity:
                raise BadInput("no geotransform: the file is not georeferenced")
            for _, window in src.block_windows(1):
                src.read(window=window)
    except RasterioError as exc:
        raise BadInput(f"not a raster GDAL can read: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or ["unreadable"])[0]
