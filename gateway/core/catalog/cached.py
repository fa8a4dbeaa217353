"""A search cache in front of any catalog, so a burst of tiles over one area makes one search."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, TypeVar

from shapely.geometry import box, shape

from gateway.core.catalog.base import CatalogBackend
from gateway.core.catalog.models import (
    DeclaredExtent,
    NearestTo,
    PageQuery,
    Scene,
    ScenePage,
    SearchQuery,
    first_and_rest,
)

T = TypeVar("T")


def snap_bbox(
    bbox: tuple[float, float, float, float], cell: float
) -> tuple[float, float, float, float]:
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

    def __init__(self, backend: CatalogBackend, *, ttl_s: float = 60.0, cell: float = 0.5) -> None:
        self._backend = backend
        self._ttl_s = ttl_s
        self._cell = cell
        self._entries: dict[SearchQuery, tuple[float, list[Scene]]] = {}
        self._pages: dict[PageQuery, tuple[float, ScenePage]] = {}  # keyed on the exact query
        self._inflight: dict[SearchQuery | PageQuery, threading.Lock] = {}
        self._lock = threading.Lock()
        self.backend_searches = 0

    def clear(self) -> None:
        """Forget every cached answer."""
        with self._lock:
            self._entries.clear()
            self._pages.clear()

    def search(self, query: SearchQuery) -> list[Scene]:
        """The scenes the backend would answer for ``query``: from the search of its grid
        cell when that holds them all, else from a search of ``query`` itself.

        A cell's answer cut at ``limit`` may lack scenes of ``query`` past the cut (and scenes
        tied in the order at the cut may be others than ``query``'s own search keeps). Where
        an answer of the same question over an area no larger than the cell's, touching it,
        was cut, the cell is not searched: it would be cut too, and each tile would pay two
        searches (on a million items over Europe, z8 and z10 views took twice as long through
        the cache as without it: bench/bench_catalog.py).
        """
        scenes = self._cell_answer(query)
        if scenes is None:
            scenes = self._cached_search(query)  # the cell's answer was cut: this area
        return _touching(scenes, query)

    def stream(self, query: SearchQuery, first: int) -> Iterator[list[Scene]]:
        """``search``'s scenes in pages, as they are consumed: from a cached answer that holds
        them all (the cell's, or one of this area's), else from the backend a page at a time
        (only a first page holding every scene is cached: a render that stops early never
        asks for the rest).

        A tile of at most a quarter of a cell asks its cell for ``first`` scenes, which the
        cell's other tiles share: where the cell holds fewer, that answer is theirs; where it
        holds more, each takes its first page from it (``_after_cell_page``). A larger tile
        shares its cell with few others, so it asks for its own first page at once (on a
        million items over Europe, asking the cell first made zoomed-out tiles pay two
        requests, and a cell's whole answer made the first tile of each neighbourhood wait
        for 40 scenes: bench/bench_catalog.py).
        """
        answer = self._fresh(query)
        if answer is None and _area(query.bbox) <= self._cell**2 / 4:
            head = replace(query, limit=min(first, query.limit))
            wide = replace(head, bbox=snap_bbox(query.bbox, self._cell))
            cell = self._cached_search(wide)
            if len(cell) < wide.limit:
                answer = cell
            elif not isinstance(query.order, NearestTo):  # (two searches merged: no cut page)
                return self._after_cell_page(query, first, _touching(cell, query))
        if answer is None:
            return self._own_pages(query, first)
        return first_and_rest(_touching(answer, query), first)

    def _own_pages(self, query: SearchQuery, first: int) -> Iterator[list[Scene]]:
        """The backend's stream of ``query``; a first page holding every scene of it (fewer
        than asked) is kept as its answer, for the next tile that asks the same."""
        pages = self._backend.stream(query, first)
        page = next(pages, [])
        if len(page) < min(first, query.limit):
            self._keep(query, page)
        if page:
            yield page
        yield from pages

    def _after_cell_page(
        self, query: SearchQuery, first: int, known: list[Scene]
    ) -> Iterator[list[Scene]]:
        """``query``'s pages: ``known`` (the scenes of its cell's first page that touch it),
        then the backend's own stream of ``query`` past them, asked only if more are taken.

        The catalogs' orders are total (ties broken by id), so the scenes of a cell's first
        page that touch a tile are the tile's own first scenes: every scene of the tile that
        comes before the page's last one in the order is a scene of the cell, in the page.
        """
        if known:
            yield known
        seen = {scene.id for scene in known}
        for page in self._backend.stream(query, first):
            unseen = [scene for scene in page if scene.id not in seen]
            if unseen:
                yield unseen

    def _cell_answer(self, query: SearchQuery) -> list[Scene] | None:
        """The answer of ``query``'s grid cell (cached, or searched now) when it holds every
        scene of ``query``; None when it was cut, or would be (``_dense_around``)."""
        wide = replace(query, bbox=snap_bbox(query.bbox, self._cell))
        scenes, dense = self._look_up(wide)
        if scenes is None and not dense:
            scenes = self._cached_search(wide)
        return None if scenes is None or len(scenes) >= wide.limit else scenes

    def search_page(self, query: PageQuery) -> ScenePage:
        """One page of a paged search (filter, sort, offset, limit), cached as asked."""
        return self._single_flight(
            query,
            lambda: self._fresh_page(query),
            lambda: self._backend.search_page(query),
            self._pages,
        )

    def scan(self, query: PageQuery) -> Iterator[Scene]:
        """Every scene of a paged search, streamed from the backend (not cached)."""
        return self._backend.scan(query)

    def declared_extent(self, collection: str) -> DeclaredExtent | None:
        return self._backend.declared_extent(collection)

    def _cached_search(self, wide: SearchQuery) -> list[Scene]:
        return self._single_flight(
            wide, lambda: self._fresh(wide), lambda: self._backend.search(wide), self._entries
        )

    def _single_flight(
        self,
        key: SearchQuery | PageQuery,
        fresh: Callable[[], T | None],
        compute: Callable[[], T],
        entries: dict,
    ) -> T:
        """A fresh cached answer, else ``compute()`` once while concurrent askers wait."""
        cached = fresh()
        if cached is not None:
            return cached
        with self._lock:
            flight = self._inflight.setdefault(key, threading.Lock())
        with flight:
            cached = fresh()
            if cached is not None:
                return cached
            answer = compute()
            with self._lock:
                self.backend_searches += 1
                self._inflight.pop(key, None)
                self._store(entries, key, answer)
            return answer

    def _keep(self, query: SearchQuery, scenes: list[Scene]) -> None:
        """Cache ``scenes`` as the answer of ``query``."""
        with self._lock:
            self._store(self._entries, query, scenes)

    def _store(self, entries: dict, key: SearchQuery | PageQuery, answer: Any) -> None:
        """Keep ``answer`` for ``ttl_s`` (under ``_lock``), dropping the expired."""
        entries[key] = (time.monotonic() + self._ttl_s, answer)
        self._evict_expired()

    def _look_up(self, wide: SearchQuery) -> tuple[list[Scene] | None, bool]:
        """``_fresh(wide)``, and whether a live answer of the same question (and limit) over an
        area no larger than ``wide``'s, touching it, was cut at its limit; in one pass."""
        now = time.monotonic()
        size = _area(wide.bbox)
        dense = False
        with self._lock:
            entry = self._entries.get(wide)
            if entry is not None and entry[0] >= now:
                return entry[1], False
            for cached, (expires, scenes) in self._entries.items():
                if expires < now:
                    continue
                if len(scenes) < cached.limit:  # complete: it answers any limit
                    if _covers(replace(cached, limit=wide.limit), wide):
                        return scenes, False
                elif not dense and replace(cached, bbox=wide.bbox) == wide:
                    dense = _area(cached.bbox) <= size and _touch(cached.bbox, wide.bbox)
        return None, dense

    def _fresh_page(self, query: PageQuery) -> ScenePage | None:
        with self._lock:
            entry = self._pages.get(query)
        return entry[1] if entry is not None and entry[0] >= time.monotonic() else None

    def _fresh(self, wide: SearchQuery) -> list[Scene] | None:
        """A live answer for ``wide``, or a complete one (not cut at its limit, whatever that
        was) of a larger area that holds it (one cut may lack scenes of this one)."""
        return self._look_up(wide)[0]

    def _evict_expired(self) -> None:
        now = time.monotonic()
        for entries in (self._entries, self._pages):
            _drop_expired(entries, now)


def _area(bbox: tuple[float, float, float, float]) -> float:
    return (bbox[2] - bbox[0]) * (bbox[3] - bbox[1])


def _touch(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    """Whether two boxes overlap or share an edge or a corner."""
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _touching(scenes: list[Scene], query: SearchQuery) -> list[Scene]:
    """The scenes of an answer (perhaps of a larger area: ``_fresh``) touching ``query``'s."""
    area = box(*query.bbox)
    return [s for s in scenes if shape(s.geometry).intersects(area)][: query.limit]


def _drop_expired(entries: dict[Any, tuple[float, Any]], now: float) -> None:
    for key in [k for k, (expires, _) in entries.items() if expires < now]:
        del entries[key]
