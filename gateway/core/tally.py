"""Thread-safe named counters of what this process did (read by ``/metrics`` when scraped)."""

from __future__ import annotations

import threading
from collections import Counter


class Tally:
    """Named running totals; ``add`` is a dict update under a lock (cheap enough per call)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, name: str, count: int = 1) -> None:
        with self._lock:
            self._counts[name] += count

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)
