"""application/netcdf output: the engine's float32 GeoTIFF rewritten by GDAL's netCDF driver."""

from __future__ import annotations

import tempfile
from pathlib import Path

from rasterio.io import MemoryFile
from rasterio.shutil import copy

MEDIA_TYPE = "application/netcdf"


def geotiff_to_netcdf(content: bytes) -> bytes:
    """The same bands, georeferencing and nodata as a CF netCDF file (GDAL writes to disk only)."""
    with tempfile.TemporaryDirectory(prefix="wcs-nc-") as folder:
        target = Path(folder) / "coverage.nc"
        with MemoryFile(content) as memory, memory.open() as src:
            copy(src, target, driver="netCDF")  # the driver writes by CreateCopy only
        return target.read_bytes()
