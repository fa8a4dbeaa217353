"""Work done off the request path, in threads of its own (one job at a time in each).

A request that finds something worth doing for the next ones (a COG copy of a remote file, a
JPEG 2000 file's tile-part index) hands it over here and goes on. Each job has a key: a key
waiting or running is not queued again, and beyond ``max_waiting`` keys a job is dropped (a
later request asks for it again), so a burst of requests bounds the memory the queue holds.
A job that fails is logged without a traceback: nobody waits for its answer. ``Activity``
counts the requests' work in flight, so that background work can give way to it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial

log = logging.getLogger(__name__)


class BackgroundQueue:
    """Jobs run in ``workers`` threads named ``name`` (one after the other in each), started
    with the first job."""

    def __init__(self, name: str, max_waiting: int = 256, workers: int = 1) -> None:
        self.name = name
        self.max_waiting = max_waiting
        self.workers = workers
        self._guard = threading.Lock()
        self._keys: set[str] = set()  # waiting or running
        self._pool: ThreadPoolExecutor | None = None
        self.dropped = 0

    def submit(self, key: str, job: Callable[[], object]) -> bool:
        """Queue ``job`` unless ``key`` is queued already or the queue is full; whether it
        was queued now."""
        with self._guard:
            if key in self._keys:
                return False
            if len(self._keys) >= self.max_waiting:
                self.dropped += 1
                return False
            self._keys.add(key)
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix=self.name)
            pool = self._pool
        future = pool.submit(self._run, key, job)
        future.add_done_callback(partial(self._forget_cancelled, key))
        return True

    def pending(self) -> int:
        """Jobs waiting or running."""
        with self._guard:
            return len(self._keys)

    def _run(self, key: str, job: Callable[[], object]) -> None:
        try:
            job()
        except Exception as exc:  # a background job: nobody else would see it fail
            log.warning("%s: %s", self.name, exc)
        finally:
            self._forget(key)

    def _forget_cancelled(self, key: str, future: Future) -> None:
        if future.cancelled():  # it never ran to forget its key
            self._forget(key)

    def _forget(self, key: str) -> None:
        """``key`` is no longer waiting or running (its job ended, or was cancelled)."""
        with self._guard:
            self._keys.discard(key)

    def close(self, *, drop_waiting: bool = False) -> None:
        """Wait for the jobs queued to end, or only for the one running (``drop_waiting``: at
        shutdown); a job submitted later starts a new thread."""
        with self._guard:
            pool, self._pool = self._pool, None
        if pool is not None:  # a job cancelled forgets its key (submit's done callback)
            pool.shutdown(wait=True, cancel_futures=drop_waiting)


class Activity:
    """Work of the requests in flight, which background work waits for (``wait_idle``)."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = threading.Condition()

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Count the caller's work in flight while the block runs."""
        with self._idle:
            self._count += 1
        try:
            yield
        finally:
            with self._idle:
                self._count -= 1
                if not self._count:
                    self._idle.notify_all()

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no work is in flight (``timeout_s`` at most: background work is slowed,
        never starved); whether it is idle."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._count, timeout_s)
