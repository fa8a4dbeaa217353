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

Requests read side by side: a browser asks for six tiles of a view at once, and neighbouring
tiles need the same JPEG 2000 tiles of the same files. Each opening its own dataset would
decode them once per request (measured: a cold z12 true-colour view asked six at a time cost
3x the CPU of the same view asked one by one, and took longer). So while a dataset of a file
is lent out, a reader of the same file waits for it (``wait_s`` at most: a slow read elsewhere
delays it that long, never longer) and then finds the blocks decoded; past that, or when the
waiting thread holds that very dataset itself, it opens another. A remote file's (``/vsi...``)
reader never waits in ``lease``; it claims the file instead (``claim``) around each read of
it, so requests side by side read a file one after another and each finds what the one
before fetched: GDAL's HTTP cache shares bytes fetched, not bytes being fetched, so requests
side by side fetched the same ranges each (measured from the S3 stand-in: a zoom 10 view
asked six at a time made 3x the GETs of the view asked one by one). A claim is held per file,
not per scene, so one request reads B08 while the next reads B04 (a zoom 11 view six at a
time 0.43 s, the same GETs as one by one; claiming a scene's files together made it 0.70 s).
Waiting only until nobody read the file, as before, was not enough: every request waiting for
it went on at the same moment, side by side again (that zoom 11 view: 49 GETs against 10).

Whatever is still open when the interpreter exits is closed by an ``atexit`` hook: left to
the interpreter's last clean-up, rasterio's finalizers run after the modules they need are
gone and print "Error in sys.excepthook" for every dataset.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import time
import weakref
from collections import Counter, OrderedDict
from collections.abc import Iterator
from typing import ClassVar

import rasterio
from rasterio.io import DatasetReader

Key = tuple[str, int | None]


class OpenDatasets:
    """A process-wide LRU of idle rasterio datasets, keyed by path and file level, lent out
    one reader at a time."""

    _pools: ClassVar[weakref.WeakSet[OpenDatasets]] = weakref.WeakSet()

    def __init__(self, size: int = 32, wait_s: float = 1.0) -> None:
        self._size = size
        self._wait_s = wait_s
        self._idle: OrderedDict[tuple[Key, int], DatasetReader] = OrderedDict()  # oldest first
        self._lent: Counter[Key] = Counter()
        self._serial = 0
        self._lock = threading.Lock()
        self._returned = threading.Condition(self._lock)
        self._held = threading.local()  # the keys this thread holds a dataset of
        self._claims: dict[str, tuple[int, int]] = {}  # path -> (thread, claims it holds)
        OpenDatasets._pools.add(self)

    @contextlib.contextmanager
    def lease(self, path: str, level: int | None = None) -> Iterator[DatasetReader]:
        """The dataset of ``path``, or of its overview ``level`` as a dataset of its own, for
        this thread alone until the block ends: an idle one, else (a local file) the one
        another thread is reading once it is given back (``wait_s`` at most), else opened now
        (call inside the storage Env). A read that raises closes it instead of keeping it."""
        key = (path, level)
        held = self._held_keys()
        dataset = self._take(key, wait=held[key] == 0 and not path.startswith("/vsi"))
        if dataset is None:
            try:
                dataset = (
                    rasterio.open(path)
                    if level is None
                    else rasterio.open(path, overview_level=level)
                )
            except BaseException:
                self._give_back(key, None)
                raise
        held[key] += 1
        try:
            yield dataset
        except BaseException:
            dataset.close()
            raise
        finally:
            held[key] -= 1
            if not held[key]:
                del held[key]  # a thread's record stays as small as what it holds
            self._give_back(key, dataset)

    @contextlib.contextmanager
    def claim(self, path: str) -> Iterator[None]:
        """Read ``path`` alone among the threads that claim it: wait while another thread
        holds its claim (``wait_s`` at most; then go on without it), and hold it until the
        block ends (a thread's claims of a path it holds already are one). Of several
        threads waiting, one goes on at a time. A remote reader claims the file it reads
        while it holds a connection slot of the key: a slot held waiting is one not spent
        fetching again what the thread ahead is fetching. A local file needs no claim (its
        reader waits in ``lease``): claiming one goes on at once."""
        if not path.startswith("/vsi"):
            yield
            return
        me = threading.get_ident()
        with self._returned:
            owner, depth = self._claims.get(path, (me, 0))
            if owner != me:
                deadline = time.monotonic() + self._wait_s
                while path in self._claims:
                    left = deadline - time.monotonic()
                    if left <= 0 or not self._returned.wait(left):
                        break
                owner, depth = self._claims.get(path, (me, 0))
            mine = owner == me
            if mine:
                self._claims[path] = (me, depth + 1)
        try:
            yield
        finally:
            if mine:
                with self._returned:
                    _, depth = self._claims[path]
                    if depth > 1:
                        self._claims[path] = (me, depth - 1)
                    else:
                        del self._claims[path]
                        self._returned.notify_all()

    def _held_keys(self) -> Counter[Key]:
        """The keys this thread holds a dataset of (and how many)."""
        return self._held.__dict__.setdefault("keys", Counter())

    def _wait_for_idle(self, key: Key) -> bool:
        """With the lock held: wait until no other thread reads ``key`` or an idle dataset of
        it is kept (True), or ``wait_s`` has passed (False)."""
        deadline = time.monotonic() + self._wait_s
        while self._lent[key] and not self._has_idle(key):
            left = deadline - time.monotonic()
            if left <= 0 or not self._returned.wait(left):
                return False
        return True

    def _take(self, key: Key, *, wait: bool) -> DatasetReader | None:
        """An idle dataset of ``key``, counted as lent; with ``wait``, the one being read by
        another thread once it is back (within ``wait_s``). None: open one (counted)."""
        with self._returned:
            dataset = self._idle_one(key)
            if dataset is None and wait and self._wait_for_idle(key):
                dataset = self._idle_one(key)
            self._lent[key] += 1
            return dataset

    def _has_idle(self, key: Key) -> bool:
        return any(entry[0] == key for entry in self._idle)

    def _idle_one(self, key: Key) -> DatasetReader | None:
        for entry in reversed(self._idle):  # the most recent first
            if entry[0] == key:
                dataset = self._idle.pop(entry)
                if not dataset.closed:
                    return dataset
        return None

    def _give_back(self, key: Key, dataset: DatasetReader | None) -> None:
        """Keep ``dataset`` (None: it could not be opened) for the next reader of ``key``."""
        evicted = []
        with self._returned:
            self._lent[key] -= 1
            if not self._lent[key]:
                del self._lent[key]
            if dataset is not None and not dataset.closed:
                self._serial += 1
                self._idle[(key, self._serial)] = dataset
            while len(self._idle) > self._size:
                evicted.append(self._idle.popitem(last=False)[1])
            self._returned.notify_all()
        for old in evicted:
            old.close()

    def is_open(self, path: str) -> bool:
        """True when an idle dataset of ``path`` is kept (reading it needs no new open)."""
        with self._lock:
            return self._has_idle((path, None))

    def counts(self) -> tuple[int, int]:
        """Datasets kept idle and datasets lent out now."""
        with self._lock:
            return len(self._idle), sum(self._lent.values())

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
