"""Open datasets shared by a process's threads, lent one reader at a time.

GDAL caches decoded blocks (a whole JPEG 2000 tile, a COG block) per open dataset. A
256 px map tile at 10 m covers a small part of one 1024 px JPEG 2000 tile, so reopening
the file for every map tile decodes the same JPEG 2000 tile again and again. Keeping the
last datasets open lets the next map tiles reuse the decoded blocks (and the file's parsed
header).

A GDAL dataset must not be read by two threads at once, but may be read by one thread after
another. So the pool lends a dataset to one reader at a time (``lease``) and takes it back
when the read is done; any thread may borrow it next. What the process keeps open is then
bounded by ``size`` idle datasets plus those being read, however many threads the frameworks
run (MapProxy's WSGI threads, AnyIO's and asyncio's pools: about 60 in a worker). Kept per
thread instead, each of those threads ended up holding its own two dozen datasets, each with
its decoder's state: a worker's memory grew by gigabytes under a map service's load.

Whatever is still open when the interpreter exits is closed by an ``atexit`` hook: left to
the interpreter's last clean-up, rasterio's finalizers run after the modules they need are
gone and print "Error in sys.excepthook" for every dataset.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from typing import ClassVar

import rasterio
from rasterio.io import DatasetReader

Key = tuple[str, int | None]


class OpenDatasets:
    """A process-wide LRU of idle rasterio datasets, keyed by path and file level, lent out
    one reader at a time."""

    _pools: ClassVar[weakref.WeakSet[OpenDatasets]] = weakref.WeakSet()

    def __init__(self, size: int = 32) -> None:
        self._size = size
        self._idle: OrderedDict[tuple[Key, int], DatasetReader] = OrderedDict()  # oldest first
        self._lent = 0
        self._serial = 0
        self._lock = threading.Lock()
        OpenDatasets._pools.add(self)

    @contextlib.contextmanager
    def lease(self, path: str, level: int | None = None) -> Iterator[DatasetReader]:
        """The dataset of ``path``, or of its overview ``level`` as a dataset of its own, for
        this thread alone until the block ends (an idle one, else opened now: call inside the
        storage Env). A read that raises closes it instead of keeping it."""
        key = (path, level)
        dataset = self._take(key)
        if dataset is None:
            dataset = (
                rasterio.open(path) if level is None else rasterio.open(path, overview_level=level)
            )
        with self._lock:
            self._lent += 1
        try:
            yield dataset
        except BaseException:
            dataset.close()
            raise
        finally:
            with self._lock:
                self._lent -= 1
        self._give_back(key, dataset)

    def _take(self, key: Key) -> DatasetReader | None:
        with self._lock:
            for entry in reversed(self._idle):  # the most recent first
                if entry[0] == key:
                    dataset = self._idle.pop(entry)
                    if not dataset.closed:
                        return dataset
        return None

    def _give_back(self, key: Key, dataset: DatasetReader) -> None:
        evicted = []
        with self._lock:
            if not dataset.closed:
                self._serial += 1
                self._idle[(key, self._serial)] = dataset
            while len(self._idle) > self._size:
                evicted.append(self._idle.popitem(last=False)[1])
        for old in evicted:
            old.close()

    def is_open(self, path: str) -> bool:
        """True when an idle dataset of ``path`` is kept (reading it needs no new open)."""
        with self._lock:
            return any(key == (path, None) for key, _ in self._idle)

    def counts(self) -> tuple[int, int]:
        """Datasets kept idle and datasets lent out now."""
        with self._lock:
            return len(self._idle), self._lent

    def discard(self, path: str) -> None:
        """Close and forget the idle datasets of ``path`` and its levels (after a read error)."""
        with self._lock:
            gone = [entry for entry in self._idle if entry[0][0] == path]
            datasets = [self._idle.pop(entry) for entry in gone]
        for dataset in datasets:
            dataset.close()

    def close_all(self) -> None:
        """Close every idle dataset: a cold start, for measurements."""
        with self._lock:
            datasets = list(self._idle.values())
            self._idle.clear()
        for dataset in datasets:
            dataset.close()

    @classmethod
    def close_all_pools(cls) -> None:
        """Close every idle dataset of every pool (a cold start; when the process exits)."""
        for pool in list(cls._pools):
            pool.close_all()


atexit.register(OpenDatasets.close_all_pools)
