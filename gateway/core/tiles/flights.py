"""Blocks of tiles being rendered in this process, for the requests that wait for them.

The first request for a missing block renders it (its ``Flight`` leads); requests for tiles of
the same block that come meanwhile, from the event loop or from worker threads (WMTS, WMS,
OGC API Tiles, seeding alike), wait for that render instead of taking a render slot or polling
the cache lock, then read their tile from the cache.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Hashable
from concurrent.futures import Future, wait
from dataclasses import dataclass

# A thread waits this long for another's render, then renders itself (the cache lock's wait).
WAIT_S = 10.0


@dataclass(frozen=True)
class Flight:
    """One render of a block: ``leads`` when this caller renders it."""

    block: Hashable
    done: Future[None]
    leads: bool

    def wait(self, timeout: float = WAIT_S) -> None:
        """Block the calling thread until the render ends (or ``timeout`` passes)."""
        wait([self.done], timeout)

    async def landed(self) -> None:
        """Wait in the event loop until the render ends."""
        await asyncio.wrap_future(self.done)


class Flights:
    """The blocks being rendered in this process, by block."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flying: dict[Hashable, Future[None]] = {}
        self.joined = 0  # callers that waited for a render another one led

    def join(self, block: Hashable) -> Flight:
        """The render of ``block`` under way, else a new one that this caller leads."""
        with self._lock:
            done = self._flying.get(block)
            if done is not None:
                self.joined += 1
                return Flight(block, done, leads=False)
            done = self._flying[block] = Future()
            return Flight(block, done, leads=True)

    def land(self, flight: Flight) -> None:
        """The leader's render ended (rendered or failed): its waiters go on."""
        if not flight.leads:
            return
        with self._lock:
            if self._flying.get(flight.block) is flight.done:
                del self._flying[flight.block]
        flight.done.set_result(None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._flying)
