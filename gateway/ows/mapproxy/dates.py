"""The TIME dimension of the WMS/WMTS capabilities: every date the catalog holds, kept fresh.

Dates come from a complete listing of each collection (``PagedCatalog.scan``: every page of
a STAC API search, or the whole static catalog), together with the collection's lon/lat
extent. MapProxy keeps one ``Dimension`` (a list with a ``default``) per layer, shared by the
layer's WMS layer and its WMTS tile layers and read each time a capabilities document is
written. ``CapabilityDates`` lists the catalog again once ``ttl_s`` has passed and rewrites
those lists in place, so both documents show new dates without rebuilding MapProxy.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.core.catalog import PagedCatalog, PageQuery

log = logging.getLogger(__name__)

WORLD = (-180.0, -90.0, 180.0, 90.0)


@dataclass(frozen=True)
class CollectionSummary:
    """What capabilities need from the catalog: the dates that exist and the covered area."""

    dates: tuple[str, ...]
    bbox: tuple[float, float, float, float]


def summarise(catalog: PagedCatalog, collection: str) -> CollectionSummary:
    """Dates (YYYY-MM-DD, ascending) and lon/lat extent of every scene of a collection."""
    dates: set[str] = set()
    west, south, east, north = WORLD[2], WORLD[3], WORLD[0], WORLD[1]
    for scene in catalog.scan(PageQuery(collections=(collection,))):
        dates.add(scene.datetime.date().isoformat())
        west, south = min(west, scene.bbox[0]), min(south, scene.bbox[1])
        east, north = max(east, scene.bbox[2]), max(north, scene.bbox[3])
    if not dates:
        return CollectionSummary((), WORLD)
    return CollectionSummary(tuple(sorted(dates)), (west, south, east, north))


class CapabilityDates:
    """Per-collection summaries, listed at start and again when older than ``ttl_s``.

    ``attach`` binds MapProxy's time ``Dimension`` objects of the layers; ``refresh_soon``
    (called when a capabilities document is asked for) lists the catalog again in the
    background when the dates are stale and writes the new dates into those objects. One
    listing runs at a time; a failed one keeps the dates and waits ``ttl_s`` again.
    """

    def __init__(
        self,
        catalog: PagedCatalog,
        collections: Iterable[str],
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._catalog = catalog
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._dimensions: list[tuple[str, Any]] = []  # (collection, MapProxy Dimension)
        self.summaries = {c: summarise(catalog, c) for c in collections}
        self._expires = clock() + ttl_s

    def attach(
        self, dimensions: Iterable[tuple[str, Any]], layer_collections: Mapping[str, str]
    ) -> None:
        """Bind MapProxy's time Dimensions, given as (layer name, Dimension) pairs."""
        for name, dimension in dimensions:
            collection = layer_collections.get(name)
            if collection is not None:
                self._dimensions.append((collection, dimension))
        self._apply()

    def stale(self) -> bool:
        return self._clock() >= self._expires

    def refresh_soon(self) -> None:
        """If the dates are stale, list the catalog again in a background thread (no wait:
        capabilities never wait for a listing; the next documents show its dates)."""
        if not self.stale() or not self._lock.acquire(blocking=False):
            return
        try:
            threading.Thread(target=self._refresh, name="capability-dates", daemon=True).start()
        except BaseException:
            self._lock.release()
            raise

    def _refresh(self) -> None:
        """List every collection and write the dates (runs holding ``_lock``)."""
        try:
            summaries = {c: summarise(self._catalog, c) for c in self.summaries}
        except Exception:  # the capabilities keep the dates they have, until the next TTL
            log.warning("listing the catalog for capabilities dates failed", exc_info=True)
        else:
            self.summaries = summaries
            self._apply()
        finally:
            self._expires = self._clock() + self._ttl_s
            self._lock.release()

    def _apply(self) -> None:
        for collection, dimension in self._dimensions:
            dates = self.summaries[collection].dates
            if dates:  # MapProxy's Dimension is a list; readers see the old or the new dates
                dimension[:] = dates
                dimension.default = dates[-1]
