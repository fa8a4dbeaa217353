"""The event loop first: a serving worker's other threads at a lower CPU priority, and the
GIL handed over sooner.

A worker answers cached tiles on its event loop thread (``gateway.core.tiles.service``: one
Redis GET on the loop's connection), while its render threads, MapProxy's WSGI threads and
the coverage threads decode, warp and encode. Under a map service's load the cores are busy
and a hit waits twice: for a core, behind those threads and other processes' (Linux shares a
core by weight, equal at equal nice values), and for the GIL, which a thread that wants it
asks for only after the switch interval (5 ms by default), every time it comes back from I/O.

``LoopFirst`` (started on the event loop thread by the app's lifespan) lowers the priority of
every other thread of the process to ``nice`` (Linux applies ``setpriority`` to one thread; a
thread starts with its creator's value, and the loop starts them all, so they are looked at
again every ``every_s``: a new thread runs at the loop's priority until then), and sets the
interpreter's switch interval. Raising the loop's own priority instead needs a privilege
(``RLIMIT_NICE``) a container seldom has. Threads that answer for the loop (the tile
service's hit lookups) call ``keep_priority`` and are left as they are. Figures:
docs/performance.md (bench_load).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading

log = logging.getLogger(__name__)

TASKS = "/proc/self/task"
# Threads that keep the loop's priority (``keep_priority``): they answer for the loop. Ids of
# ended threads stay (the executor's threads live as long as the process).
_KEPT: set[int] = set()


def thread_nice(tid: int) -> int:
    """A thread's nice value, from ``/proc`` (``getpriority`` says the same for a thread)."""
    with open(f"{TASKS}/{tid}/stat", "rb") as stat:
        fields = stat.read().rsplit(b")", 1)[1].split()
    return int(fields[16])  # field 19 of stat(5); fields[0] is field 3 (the state)


class LoopFirst:
    """Keeps the threads of this process other than the event loop's at ``nice`` (0: left
    as they are) and the switch interval at ``switch_interval_ms`` (0: Python's own). The
    main thread is left too: it runs the loop under uvicorn, and is the embedding program's
    own when the app runs elsewhere (a test client's thread)."""

    def __init__(self, nice: int, switch_interval_ms: float, every_s: float = 1.0) -> None:
        self.nice = nice
        self.switch_interval_ms = switch_interval_ms
        self.every_s = every_s
        self._keep: set[int | None] = set()  # the loop's thread and the main thread
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """From the event loop thread: set the switch interval, lower the other threads now
        and every ``every_s``."""
        if self.switch_interval_ms > 0:
            sys.setswitchinterval(self.switch_interval_ms / 1000)
        if self.nice <= 0 or not os.path.isdir(TASKS):
            return
        self._keep = {threading.get_native_id(), threading.main_thread().native_id}
        self._sweep()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _sweep(self) -> None:
        try:
            tids = [int(name) for name in os.listdir(TASKS)]
        except OSError:
            tids = []
        for tid in tids:
            if tid not in self._keep and tid not in _KEPT:
                lower(tid, self.nice)
        self._timer = asyncio.get_running_loop().call_later(self.every_s, self._sweep)


def keep_priority() -> None:
    """Leave the calling thread at the loop's priority (a thread a cache hit waits for;
    niced, it would wait behind every other job's threads)."""
    _KEPT.add(threading.get_native_id())


def lower(tid: int, nice: int) -> None:
    """Set thread ``tid``'s nice value to ``nice`` unless it is that or higher already."""
    try:
        if os.getpriority(os.PRIO_PROCESS, tid) < nice:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
    except ProcessLookupError:  # the thread ended
        pass
    except PermissionError:  # a seccomp or LSM policy said no: the threads stay as they are
        log.debug("could not lower thread %d's priority", tid)
