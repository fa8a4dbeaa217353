"""A search cache in front of any catalog, so a burst of tiles over one area makes one search."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import replace

from shapely.geometry import box, shape

from gateway.core.catalog.base import Catalog
from gateway.core.catalog.models import Scene, SearchQuery


def snap_bbox(bbox: tuple[float, float, float, float], cell: float) -> tuple[float, ...]:
    """Grow a lon/lat bbox outwards to multiples of ``cell`` degrees."""
    minx, miny, maxx, maxy = bbox
    return (
        max(-180.0, math.floor(minx / cell) * cell),
        max(-90.0, math.floor(miny / cell) * cell),
        min(180.0, math.ceil(maxx / cell) * cell),
        min(90.0, math.ceil(maxy / cell) * cell),
    )


def _covers(cached: SearchQuery, wanted: SearchQuery) -> bool:
    """True when ``cached`` asked the same thing as ``wanted`` over an area that contains it."""
    if replace(cached, bbox=wanted.bbox) != wanted:
        return False
    cminx, cminy, cmaxx, cmaxy = cached.bbox
    minx, miny, maxx, maxy = wanted.bbox
    return cminx <= minx and cminy <= miny and cmaxx >= maxx and cmaxy >= maxy


class CachedCatalog:
    """Caches searches for ``ttl_s`` seconds.

    Every query is widened to a ``cell``-degree grid before it is sent, so the tiles
    of one map share one backend search; the exact bbox is then applied locally.
    Concurrent identical searches wait for the first one (single flight).
    """

    def __init__(self, backend: Catalog, *, ttl_s: float = 60.0, cell: float = 0.5) -> None:
        self._backend = backend
        self._ttl_s = ttl_s
        self._cell = cell
        self._entries: dict[SearchQuery, tuple[float, list[Scene]]] = {}
        self._inflight: dict[SearchQuery, threading.Lock] = {}
        self._lock = threading.Lock()
        self.backend_searches = 0

    def clear(self) -> None:
        """Forget every cached answer."""
        with self._lock:
            self._entries.clear()

    def search(self, query: SearchQuery) -> list[Scene]:
        wide = replace(query, bbox=snap_bbox(query.bbox, self._cell))
        scenes = self._wide_search(wide)
        area = box(*query.bbox)
        return [s for s in scenes if shape(s.geometry).intersects(area)][: query.limit]

    def _wide_search(self, wide: SearchQuery) -> list[Scene]:
        cached = self._fresh(wide)
        if cached is not None:
            return cached
        with self._lock:
            flight = self._inflight.setdefault(wide, threading.Lock())
        with flight:
            cached = self._fresh(wide)
            if cached is not None:
                return cached
            scenes = self._backend.search(wide)
            with self._lock:
                self.backend_searches += 1
                self._entries[wide] = (time.monotonic() + self._ttl_s, scenes)
                self._inflight.pop(wide, None)
                self._evict_expired()
            return scenes

    def _fresh(self, wide: SearchQuery) -> list[Scene] | None:
        """A live answer for ``wide``, or for any cached search of a larger area that holds it."""
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(wide)
            if entry is not None and entry[0] >= now:
                return entry[1]
            for cached, (expires, scenes) in self._entries.items():
                if expires >= now and _covers(cached, wide):
                    return scenes
        return None

    def _evict_expired(self) -> None:
        now = time.monotonic()
        for key in [k for k, (expires, _) in self._entries.items() if expires < now]:
            del self._entries[key]
