"""Open datasets kept per thread, so GDAL's block cache serves neighbouring map tiles.

GDAL caches decoded blocks (a whole JPEG 2000 tile, a COG block) per open dataset. A
256 px map tile at 10 m covers a small part of one 1024 px JPEG 2000 tile, so reopening
the file for every map tile decodes the same JPEG 2000 tile again and again. Keeping the
last few datasets open in each worker thread lets the next map tiles reuse the decoded
blocks (and the file's parsed header). Datasets are not shared between threads.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import ClassVar

import rasterio
from rasterio.io import DatasetReader


class OpenDatasets:
    """A per-thread LRU of open rasterio datasets, keyed by path and file level."""

    _pools: ClassVar[weakref.WeakSet[OpenDatasets]] = weakref.WeakSet()

    def __init__(self, size: int = 24) -> None:
        self._size = size
        self._local = threading.local()
        OpenDatasets._pools.add(self)

    def get(self, path: str, level: int | None = None) -> DatasetReader:
        """The open dataset of ``path``, or of its overview ``level`` as a dataset of its own
        (opened now if needed; call inside the storage Env)."""
        lru: OrderedDict[tuple[str, int | None], DatasetReader] | None = getattr(
            self._local, "lru", None
        )
        if lru is None:
            lru = self._local.lru = OrderedDict()
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
