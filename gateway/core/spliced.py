"""Remote JPEG 2000 files opened with their tile-part index (``gateway.core.jp2index``).

The indexes are kept in the cache every process and replica shares (Redis) for ``ttl_s``: S3
objects do not change under their key (CDSE's products are never rewritten in place), so an
index is never checked against its file again. One process makes a file's index while the
others wait for it under the cache's lock. A file with an index is opened through GDAL's
``/vsisparse/``: its first bytes, with the TLM marker segments, from memory (``/vsimem/``),
the rest from S3 as it is.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from xml.sax.saxutils import escape

from rasterio.io import MemoryFile

from gateway.core.cache import Cache, make_key
from gateway.core.jp2index import (
    MIN_TILES,
    SENTINEL2_TILE,
    NotIndexable,
    RangeReader,
    Splice,
    index_file,
)

_PLAIN = b"plain"  # kept for a file opened as it is


class SparseFile:
    """A splice's in-memory files, kept while its path may be opened."""

    def __init__(self, path: str, spliced: Splice) -> None:
        name = hashlib.sha256(path.encode()).hexdigest()[:16]
        self.head = MemoryFile(spliced.head, filename=f"{name}.head")
        tail = spliced.size - spliced.insert_at
        xml = (
            "<VSISparseFile>"
            f"<Length>{len(spliced.head) + tail}</Length>"
            f'<SubfileRegion><Filename relative="0">{escape(self.head.name)}</Filename>'
            "<DestinationOffset>0</DestinationOffset><SourceOffset>0</SourceOffset>"
            f"<RegionLength>{len(spliced.head)}</RegionLength></SubfileRegion>"
            f'<SubfileRegion><Filename relative="0">{escape(path)}</Filename>'
            f"<DestinationOffset>{len(spliced.head)}</DestinationOffset>"
            f"<SourceOffset>{spliced.insert_at}</SourceOffset>"
            f"<RegionLength>{tail}</RegionLength></SubfileRegion>"
            "</VSISparseFile>"
        )
        self.description = MemoryFile(xml.encode(), filename=f"{name}.xml")
        self.path = "/vsisparse/" + self.description.name

    def close(self) -> None:
        self.description.close()
        self.head.close()


class TilePartIndexes:
    """Remote JPEG 2000 files' indexes: in ``cache`` (shared by the processes), and the
    spliced files of the last ``max_files`` in this process.

    ``opened(path)`` is the path to open for ``path`` when its index is known (the file's own
    path when it needs none), None when it must be made (``make``): by one process at a time,
    the others waiting for it (``wait_s`` at most) under the cache's lock.
    """

    def __init__(
        self,
        cache: Cache | None,
        ttl_s: int = 30 * 86400,
        max_files: int = 512,
        wait_s: float = 20.0,
        min_tiles: int = MIN_TILES,
    ) -> None:
        self._cache = cache
        self._min_tiles = min_tiles
        self._wait_s = wait_s
        self._ttl_ms = ttl_s * 1000
        self._max_files = max_files
        self._files: OrderedDict[str, SparseFile | None] = OrderedDict()  # None: open as it is
        self._lock = threading.Lock()
        self._making: dict[str, threading.Lock] = {}

    def applies(self, path: str, shape: tuple[int, int] | None = None) -> bool:
        """Whether ``path`` is a file to index: a JPEG 2000 file on S3 that may have
        ``min_tiles`` tiles of Sentinel-2's 1024 px by its ``shape`` (rows, columns; None:
        unknown, its header tells). A smaller one is opened as it is without a look."""
        if not (path.startswith("/vsis3/") and path.lower().endswith((".jp2", ".j2k"))):
            return False
        return shape is None or shape[0] * shape[1] >= self._min_tiles * SENTINEL2_TILE**2

    def opened(self, path: str) -> str | None:
        """The path to open for ``path``, or None when its index is not known yet."""
        with self._lock:
            if path in self._files:
                self._files.move_to_end(path)
                known = self._files[path]
                return known.path if known is not None else path
        value = self._cache.get(self.cache_key(path)) if self._cache is not None else None
        if value == _PLAIN:
            return self._remember(path, None)
        spliced = Splice.from_bytes(value) if value is not None else None
        if spliced is None:  # not kept yet, or not in this format: made (again)
            return None
        return self._remember(path, spliced)

    def make(self, path: str, read: RangeReader) -> str:
        """Index ``path`` through ``read`` (once in this process however many ask at once),
        keep it, and return the path to open. A file that cannot be indexed is opened as it
        is; what ``read`` raises goes to the caller."""
        with self._lock:
            making = self._making.setdefault(path, threading.Lock())
        try:
            with making:
                return self.opened(path) or self._made_elsewhere(path) or self._make(path, read)
        finally:
            with self._lock:
                self._making.pop(path, None)

    def _make(self, path: str, read: RangeReader) -> str:
        """Index ``path`` now (holding the cache's lock on it), keep and remember it."""
        try:
            try:
                spliced = index_file(read, self._min_tiles)
            except NotIndexable:
                spliced = None
            if self._cache is not None:
                value = spliced.to_bytes() if spliced is not None else _PLAIN
                self._cache.set(self.cache_key(path), value, self._ttl_ms)
        finally:
            if self._cache is not None:
                self._cache.release_lock(self.cache_key(path))
        return self._remember(path, spliced)

    def _made_elsewhere(self, path: str) -> str | None:
        """Take the cache's lock on indexing ``path`` (None: this process makes it), or wait
        for the process holding it to keep the index (``wait_s`` at most; then None: made
        here too)."""
        cache = self._cache
        if cache is None:
            return None
        key = self.cache_key(path)
        deadline = time.monotonic() + self._wait_s
        while not cache.acquire_lock(key, int(self._wait_s * 1000)):
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)
            known = self.opened(path)
            if known is not None:
                return known
        known = self.opened(path)  # kept between our look and the lock
        if known is not None:
            cache.release_lock(key)
        return known

    def file_of(self, opened: str) -> str:
        """The file a path given by ``opened`` reads (``opened`` itself unless spliced)."""
        with self._lock:
            for path, files in self._files.items():
                if files is not None and files.path == opened:
                    return path
        return opened

    def _remember(self, path: str, spliced: Splice | None) -> str:
        """Keep ``path``'s spliced files (made now unless another thread kept them first:
        a path handed out stays openable while it is among the last ``max_files``)."""
        files = SparseFile(path, spliced) if spliced is not None else None
        with self._lock:
            dropped: list[SparseFile | None] = []
            if path in self._files:
                dropped.append(files)
                files = self._files[path]
            self._files[path] = files
            self._files.move_to_end(path)
            while len(self._files) > self._max_files:
                dropped.append(self._files.popitem(last=False)[1])
        for item in dropped:
            # A dataset opened through it holds its own handles: closing these is safe.
            if item is not None:
                item.close()
        return files.path if files is not None else path

    @staticmethod
    def cache_key(path: str) -> str:
        """The key of ``path``'s index in the shared cache."""
        return make_key("jp2-tile-parts", {"path": path})
