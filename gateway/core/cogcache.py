"""Local COG copies of remote JPEG 2000 bands, for views that would pull the whole file anyway.

Measured (README, "Remote storage: requests and bytes per tile"): reading a JPEG 2000 band at
reduced resolution fetches every tile-part of the file, i.e. the whole file, however coarse the
output. So when a map covers most of a remote JP2 file, the file is copied once into a local
Cloud Optimized GeoTIFF whose overviews ARE the JPEG 2000 resolution levels
(``OVERVIEWS=FORCE_USE_EXISTING``): later zoomed-out maps of that scene cost no remote request
and give the same pixels as reading the JP2 itself. Zoomed-in maps keep reading the JP2's own
tiles by range requests.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path

import rasterio
from rasterio.io import DatasetReader
from rasterio.shutil import copy as gdal_copy
from rasterio.warp import transform_bounds

from gateway.core.grid import Grid

log = logging.getLogger(__name__)

_COG_OPTIONS = {
    "COMPRESS": "DEFLATE",
    "PREDICTOR": "2",
    "BLOCKSIZE": "512",
    "OVERVIEWS": "FORCE_USE_EXISTING",
    "NUM_THREADS": "1",
}


def coverage(src: DatasetReader, grid: Grid) -> float:
    """Share (0-1) of ``src``'s area that ``grid`` covers."""
    minx, miny, maxx, maxy = transform_bounds(grid.crs, src.crs, *grid.bounds, densify_pts=21)
    left, bottom, right, top = src.bounds
    width = max(0.0, min(maxx, right) - max(minx, left))
    height = max(0.0, min(maxy, top) - max(miny, bottom))
    area = (right - left) * (top - bottom)
    return width * height / area if area > 0 else 0.0


class CogCache:
    """A folder of COG copies of remote JP2 files, bounded in size (oldest used go first)."""

    def __init__(
        self, directory: Path, *, min_coverage: float = 0.5, max_bytes: int = 4 * 2**30
    ) -> None:
        self.directory = directory
        self.min_coverage = min_coverage
        self.max_bytes = max_bytes
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def existing(self, path: str) -> str | None:
        """The COG copy of the remote file ``path`` if one was made (no request needed)."""
        target = self._target(path)
        if not target.exists():
            return None
        os.utime(target)
        return str(target)

    def wants(self, src: DatasetReader, grid: Grid) -> bool:
        """True for a remote JPEG 2000 file that the map covers mostly."""
        return (
            src.driver == "JP2OpenJPEG"
            and src.name.startswith("/vsi")
            and coverage(src, grid) >= self.min_coverage
        )

    def _target(self, path: str) -> Path:
        digest = hashlib.sha256(path.encode()).hexdigest()[:32]
        return self.directory / f"{digest}.tif"

    def local_copy(self, src: DatasetReader) -> str:
        """The path of ``src``'s COG copy, made now if missing (call inside the read's Env)."""
        target = self._target(src.name)
        digest = target.stem
        with self._guard:
            lock = self._locks.setdefault(digest, threading.Lock())
        with lock:
            if target.exists():
                os.utime(target)
                return str(target)
            self.directory.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(f".{os.getpid()}.{threading.get_ident()}.part")
            try:
                with rasterio.Env(GDAL_PAM_ENABLED="NO"):
                    gdal_copy(src, str(partial), driver="COG", **_COG_OPTIONS)
                os.replace(partial, target)
            finally:
                partial.unlink(missing_ok=True)
            log.info(
                "cached a COG copy of a remote JPEG 2000 band (%d bytes)", target.stat().st_size
            )
        self._evict()
        return str(target)

    def _evict(self) -> None:
        files = sorted(self.directory.glob("*.tif"), key=lambda p: p.stat().st_mtime)
        total = sum(p.stat().st_size for p in files)
        for path in files[:-1]:  # never the newest
            if total <= self.max_bytes:
                break
            total -= path.stat().st_size
            path.unlink(missing_ok=True)
