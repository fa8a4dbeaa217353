"""Raster files: written strip by strip into a temporary GTiff, then encoded once complete.

JPEG 2000 (JP2OpenJPEG only supports CreateCopy) is written lossless, tiled 1024 like the real
Sentinel-2 files, with resolution levels that GDAL exposes as overviews and, like CDSE's files,
no nodata tag and no ``.aux.xml`` sidecar (readers take ``nodata`` from the STAC asset). COGs go
through rio-cogeo.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile
from rasterio.shutil import copy as gdal_copy
from rasterio.windows import Window
from rio_cogeo.cogeo import cog_translate
from rio_cogeo.profiles import cog_profiles

from gateway.sample.layout import Grid
from gateway.sample.results import FileFacts

OverviewResampling = Literal["nearest", "average"]

JP2_TILE = 1024
JP2_MAX_RESOLUTIONS = 5  # real S2 10 m files expose 4 overview levels
_ENV = {"GDAL_PAM_ENABLED": "NO", "GDAL_NUM_THREADS": "1", "CPL_LOG_ERRORS": "OFF"}


def jp2_resolutions(width: int, height: int) -> int:
    """Number of JPEG 2000 resolution levels: halve while the coarsest stays >= 128 px."""
    levels, size = 1, min(width, height)
    while levels < JP2_MAX_RESOLUTIONS and size // 2 >= 128:
        levels += 1
        size //= 2
    return levels


class RasterSink:
    """One output raster, filled in row strips, encoded to its final format on ``finish``."""

    def __init__(
        self,
        tmp_path: Path,
        grid: Grid,
        crs: str,
        dtype: str,
        count: int = 1,
        nodata: float | None = None,
    ) -> None:
        self.tmp_path = tmp_path
        self.grid = grid
        profile = {
            "driver": "GTiff",
            "width": grid.shape[1],
            "height": grid.shape[0],
            "count": count,
            "dtype": dtype,
            "crs": crs,
            "transform": rasterio.Affine(*grid.transform),
            "nodata": nodata,
        }
        if count == 3:
            profile["photometric"] = "RGB"
        tmp_path.parent.mkdir(parents=True, exist_ok=True)
        with rasterio.Env(**_ENV):
            self._ds = rasterio.open(tmp_path, "w", **profile)

    def write(self, data: np.ndarray, row_off: int) -> None:
        """Write rows (2-D for one band, 3-D band-first for several) starting at ``row_off``."""
        data = data if data.ndim == 3 else data[None]
        window = Window(0, row_off, data.shape[2], data.shape[1])
        self._ds.write(data, window=window)

    def _close(self) -> None:
        if not self._ds.closed:
            self._ds.close()

    def finish_jp2(self, path: Path) -> None:
        """Encode to lossless JPEG 2000 at ``path`` and drop the temporary file."""
        self._close()
        rows, cols = self.grid.shape
        path.parent.mkdir(parents=True, exist_ok=True)
        with rasterio.Env(**_ENV):
            gdal_copy(
                self.tmp_path,
                path,
                driver="JP2OpenJPEG",
                QUALITY="100",
                REVERSIBLE="YES",
                BLOCKXSIZE=str(min(JP2_TILE, cols)),
                BLOCKYSIZE=str(min(JP2_TILE, rows)),
                RESOLUTIONS=str(jp2_resolutions(cols, rows)),
            )
        self.tmp_path.unlink()

    def finish_cog(
        self, path: Path, resampling: OverviewResampling = "average", predictor: int = 2
    ) -> None:
        """Encode to a deflate COG with internal overviews at ``path``; drop the temporary file.
        ``predictor``: 2 for integers, 3 for floating point."""
        self._close()
        profile = cog_profiles.get("deflate")
        profile.update(blockxsize=512, blockysize=512, predictor=predictor)
        path.parent.mkdir(parents=True, exist_ok=True)
        with rasterio.Env(**_ENV):
            cog_translate(
                str(self.tmp_path),
                str(path),
                profile,
                overview_resampling=resampling,
                use_cog_driver=False,
                in_memory=False,
                quiet=True,
            )
        self.tmp_path.unlink()

    def abort(self) -> None:
        """Close and remove the temporary file (on errors)."""
        self._close()
        self.tmp_path.unlink(missing_ok=True)


def write_jpeg(path: Path, rgb: np.ndarray) -> None:
    """A plain (not georeferenced) JPEG quicklook from a (3, rows, cols) uint8 array."""
    write_picture(path, rgb, "JPEG", QUALITY="85")


def write_picture(path: Path, bands: np.ndarray, driver: str, **options: str) -> None:
    """A plain (not georeferenced) picture from a (count, rows, cols) uint8 array."""
    profile = {
        "driver": "GTiff",
        "width": bands.shape[2],
        "height": bands.shape[1],
        "count": bands.shape[0],
        "dtype": "uint8",
    }
    with rasterio.Env(**_ENV), MemoryFile() as mem, warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with mem.open(**profile) as ds:
            ds.write(bands)
        gdal_copy(mem.name, path, driver=driver, **options)


def read_resampled(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """All bands of a raster averaged onto a smaller shape."""
    with rasterio.Env(**_ENV), rasterio.open(path) as src:
        return src.read(out_shape=(src.count, *shape), resampling=Resampling.average)


def file_digests(path: Path) -> tuple[int, str, str]:
    """(size, sha3-256 hex, md5 hex) of a file, read once."""
    sha3, md5 = hashlib.sha3_256(), hashlib.md5()
    size = 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            sha3.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return size, sha3.hexdigest(), md5.hexdigest()


def file_facts(root: Path, rel: str) -> FileFacts:
    """Size and digests of the file at ``root/rel``."""
    size, sha3, md5 = file_digests(root / rel)
    return FileFacts(rel, size, sha3, md5)
