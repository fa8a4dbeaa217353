"""Local COG copies of JPEG 2000 bands: remote files zoomed out, and hot files.

Measured (docs/performance.md, "Remote storage: requests and bytes per tile"): reading a
JPEG 2000 band at reduced resolution fetches every tile-part of the file, i.e. the whole file,
however coarse the output. So when a map covers most of a remote JP2 file, the file is copied
once into a local Cloud Optimized GeoTIFF whose overviews ARE the JPEG 2000 resolution levels
(``OVERVIEWS=FORCE_USE_EXISTING``): later zoomed-out maps of that scene cost no remote request
and give the same pixels as reading the JP2 itself. The map that asks first does not wait for
the copy (a 10,980 px band takes seconds to tens of seconds): it reads its window through the
JPEG 2000 resolution level that fits, and the copy is made in the background. Zoomed-in maps
keep reading the JP2's own tiles by range requests.

Hot files: decoding JPEG 2000 dominates a map tile's cost, and each worker thread and process
decodes the same code-stream tiles again in its own open dataset. A local JP2 file read
``hot_reads`` times is copied once, in the background, into a ZSTD COG that every thread and
process then reads at the price of a decompression (bench/bench_tiles.py).

Background copies run one at a time in one thread per cache (``BackgroundQueue``); a file
already queued is not queued again, and a lock file keeps two processes from copying the same
file.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import partial
from pathlib import Path

import rasterio
from rasterio.io import DatasetReader
from rasterio.shutil import copy as gdal_copy

from gateway.core.background import BackgroundQueue
from gateway.core.grid import Grid

log = logging.getLogger(__name__)

# Opens a file for a background copy (a context manager giving the dataset).
Opener = Callable[[], AbstractContextManager[DatasetReader]]

_COG_OPTIONS = {
    "COMPRESS": "ZSTD",
    "LEVEL": "1",
    "PREDICTOR": "2",
    "BLOCKSIZE": "512",
    "OVERVIEWS": "FORCE_USE_EXISTING",
    "NUM_THREADS": "1",
}


# A copy known to exist is checked (and its use time touched) again after this long.
_TOUCH_EVERY_S = 30.0


def coverage(src: DatasetReader, grid: Grid) -> float:
    """Share (0-1) of ``src``'s area that ``grid`` covers."""
    minx, miny, maxx, maxy = grid.bounds_in(src.crs)
    left, bottom, right, top = src.bounds
    width = max(0.0, min(maxx, right) - max(minx, left))
    height = max(0.0, min(maxy, top) - max(miny, bottom))
    area = (right - left) * (top - bottom)
    return width * height / area if area > 0 else 0.0


class CogCache:
    """A folder of COG copies of remote JP2 files, bounded in size (oldest used go first)."""

    def __init__(
        self,
        directory: Path,
        *,
        min_coverage: float = 0.5,
        max_bytes: int = 4 * 2**30,
        hot_reads: int | None = None,
    ) -> None:
        self.directory = directory
        self.min_coverage = min_coverage
        self.max_bytes = max_bytes
        self.hot_reads = hot_reads
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._reads: Counter[str] = Counter()
        self._known: dict[str, tuple[str, float]] = {}  # path -> (copy, when last checked)
        self._background = BackgroundQueue("cog-cache")

    def existing(self, path: str) -> str | None:
        """The COG copy of the file ``path`` if one was made (no request needed). A copy
        removed since (evicted by another process, or its folder cleared) is not returned."""
        now = time.monotonic()
        known = self._known.get(path)
        if known is not None and now - known[1] < _TOUCH_EVERY_S and os.path.exists(known[0]):
            return known[0]
        target = self._target(path)
        if not target.exists():
            self._known.pop(path, None)
            return None
        os.utime(target)  # eviction goes by last use
        self._known[path] = (str(target), now)
        return str(target)

    def wants(self, src: DatasetReader, grid: Grid) -> bool:
        """True for a remote JPEG 2000 file that the map covers mostly."""
        return (
            src.driver == "JP2OpenJPEG"
            and src.name.startswith("/vsi")
            and coverage(src, grid) >= self.min_coverage
        )

    def count_read(self, src: DatasetReader) -> None:
        """Note a read of a local JPEG 2000 file; the ``hot_reads``-th copies it (background)."""
        if self.hot_reads is None or src.driver != "JP2OpenJPEG" or src.name.startswith("/vsi"):
            return
        with self._guard:
            self._reads[src.name] += 1
            if self._reads[src.name] != self.hot_reads:
                return
        self.copy_later(src.name)

    def copy_later(self, path: str, opener: Opener | None = None) -> None:
        """Copy the file ``path`` in the background, never in the caller's thread; nothing
        when it is queued already. ``opener()`` opens it for the copy (in the background
        thread: the place to set up a remote file's GDAL environment and charge its quota);
        by default ``rasterio.open(path)``."""
        copy = partial(self._copy_once, path, opener or (lambda: rasterio.open(path)))
        self._background.submit(path, copy)

    def _copy_once(self, path: str, opener: Opener) -> None:
        """Copy ``path`` unless another process is already doing it (a lock file says)."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with open(self._target(path).with_suffix(".lock"), "w") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    return
                with opener() as src:
                    self.local_copy(src, path)
        except Exception as exc:  # a background job: nobody else would see it fail
            log.warning("could not make a COG copy of a JPEG 2000 band: %s", exc)

    def close(self) -> None:
        """Wait for background copies to end."""
        self._background.close()

    def _target(self, path: str) -> Path:
        digest = hashlib.sha256(path.encode()).hexdigest()[:32]
        return self.directory / f"{digest}.tif"

    def local_copy(self, src: DatasetReader, path: str | None = None) -> str:
        """The path of the COG copy of ``src`` (the file ``path``, by default its name; a
        remote JPEG 2000 file is opened through its tile-part index), made now if missing
        (call inside the read's Env)."""
        target = self._target(path or src.name)
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
            gone = str(path)
            for source in [k for k, (copy, _) in list(self._known.items()) if copy == gone]:
                self._known.pop(source, None)
