"""Open datasets kept per thread, so GDAL's block cache serves neighbouring map tiles.

GDAL caches decoded blocks (a whole JPEG 2000 tile, a COG block) per open dataset. A
256 px map tile at 10 m covers a small part of one 1024 px JPEG 2000 tile, so reopening
the file for every map tile decodes the same JPEG 2000 tile again and again. Keeping the
last few datasets open in each worker thread lets the next map tiles reuse the decoded
blocks (and the file's parsed header). Datasets are not shared between threads.

Whatever is still open when the interpreter exits is closed by an ``atexit`` hook: left to
the interpreter's last clean-up, rasterio's finalizers run after the modules they need are
gone and print "Error in sys.excepthook" for every dataset.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from collections import OrderedDict
from typing import ClassVar

import rasterio
from rasterio.io import DatasetReader


class _Lru(OrderedDict[tuple[str, int | None], DatasetReader]):
    """One thread's open datasets, oldest first (a class of its own to be weakly referenced)."""


class OpenDatasets:
    """A per-thread LRU of open rasterio datasets, keyed by path and file level."""

    _pools: ClassVar[weakref.WeakSet[OpenDatasets]] = weakref.WeakSet()

    def __init__(self, size: int = 24) -> None:
        self._size = size
        self._local = threading.local()
        self._every_thread: weakref.WeakValueDictionary[int, _Lru] = (
            weakref.WeakValueDictionary()
        )  # each thread's LRU by id, for the exit
        self._lock = threading.Lock()
        OpenDatasets._pools.add(self)

    def get(self, path: str, level: int | None = None) -> DatasetReader:
        """The open dataset of ``path``, or of its overview ``level`` as a dataset of its own
        (opened now if needed; call inside the storage Env)."""
        lru: _Lru | None = getattr(self._local, "lru", None)
        if lru is None:
            lru = self._local.lru = _Lru()
            with self._lock:
                self._every_thread[id(lru)] = lru
        key = (path, level)
        dataset = lru.get(key)
        if dataset is not None and not dataset.closed:
            lru.move_to_end(key)
            return dataset
        dataset = (
            rasterio.open(path) if level is None else rasterio.open(path, overview_level=level)
        )
        lru[key] = dataset
        while len(lru) > self._size:
            _, oldest = lru.popitem(last=False)
            oldest.close()
        return dataset

    def is_open(self, path: str) -> bool:
        """True when this thread holds ``path`` open (reading it needs no new open)."""
        lru = getattr(self._local, "lru", None) or {}
        dataset = lru.get((path, None))
        return dataset is not None and not dataset.closed

    def discard(self, path: str) -> None:
        """Close and forget ``path`` and its levels in this thread (after a read error)."""
        lru = getattr(self._local, "lru", None) or {}
        for key in [k for k in lru if k[0] == path]:
            lru.pop(key).close()

    def close_all(self) -> None:
        """Close every dataset this thread holds open."""
        lru = getattr(self._local, "lru", None)
        while lru:
            lru.popitem()[1].close()

    @classmethod
    def close_all_pools(cls) -> None:
        """Close this thread's open datasets in every pool: a cold start, for measurements."""
        for pool in list(cls._pools):
            pool.close_all()

    @classmethod
    def close_every_thread(cls) -> None:
        """Close every thread's open datasets in every pool (when the process exits)."""
        for pool in list(cls._pools):
            with pool._lock:
                lrus = list(pool._every_thread.values())
            for lru in lrus:
                while lru:
                    lru.popitem()[1].close()


atexit.register(OpenDatasets.close_every_thread)
