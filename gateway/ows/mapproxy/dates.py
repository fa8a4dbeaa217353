"""The TIME dimension of the WMS/WMTS capabilities: every date the catalog holds, kept fresh.

Dates come from a listing of each collection (``PagedCatalog.scan``: every page of a STAC
API search, or the whole static catalog; on a global catalog, of the deployment's area and
period: ``ListingScope``), together with the lon/lat extent of the scenes listed. MapProxy
keeps one ``Dimension`` (a list with a ``default``) per layer, shared by the
layer's WMS layer and its WMTS tile layers and read each time a capabilities document is
written. ``CapabilityDates`` lists the catalog again once ``ttl_s`` has passed and rewrites
those lists in place, so both documents show new dates without rebuilding MapProxy; when the
listed extent of a collection changed, its layers' extents (capabilities bounding boxes and
the area MapProxy reads) are in MapProxy's configuration, and the door builds it again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.core.catalog import PagedCatalog, PageQuery, cql2_text
from gateway.settings import Settings

log = logging.getLogger(__name__)

WORLD = (-180.0, -90.0, 180.0, 90.0)


@dataclass(frozen=True)
class CollectionSummary:
    """What capabilities need from the catalog: the dates that exist and the covered area.

    ``complete`` is false when the listing stopped at its scan limit (the newest dates kept).
    """

    dates: tuple[str, ...]
    bbox: tuple[float, float, float, float]
    complete: bool = True


@dataclass(frozen=True)
class ListingScope:
    """Which scenes a capabilities listing reads: those touching ``bbox`` (lon/lat), acquired
    in the last ``days``, newest first, at most ``scan_limit`` of them. A global collection
    such as CDSE's Sentinel-2 L2A holds tens of millions of scenes: a deployment on the live
    catalog names its area and period (settings ``capabilities_bbox``/``capabilities_days``).
    """

    bbox: tuple[float, float, float, float] | None = None
    days: int | None = None
    scan_limit: int = 100_000

    def query(self, collection: str, now: datetime) -> PageQuery:
        """The paged search of this scope (newest first: PageQuery's default order)."""
        parts: list[dict[str, Any]] = []
        if self.bbox is not None:
            west, south, east, north = self.bbox
            ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
            area = {"type": "Polygon", "coordinates": [ring]}
            parts.append({"op": "s_intersects", "args": [{"property": "geometry"}, area]})
        if self.days is not None:
            moment = (now - timedelta(days=self.days)).astimezone(UTC)
            since = {"timestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ")}
            parts.append({"op": ">=", "args": [{"property": "datetime"}, since]})
        expression = (
            parts[0] if len(parts) == 1 else {"op": "and", "args": parts} if parts else None
        )
        return PageQuery(collections=(collection,), filter=cql2_text(expression))


def listing_scope(settings: Settings) -> ListingScope:
    """The listing scope the settings name (``capabilities_bbox``, ``_days``, ``_scan_limit``)."""
    return ListingScope(
        settings.capabilities_bbox, settings.capabilities_days, settings.capabilities_scan_limit
    )


def summarise(
    catalog: PagedCatalog,
    collection: str,
    scope: ListingScope = ListingScope(),
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> CollectionSummary:
    """Dates (YYYY-MM-DD, ascending) and lon/lat extent of the scenes of a collection in
    ``scope``."""
    dates: set[str] = set()
    west, south, east, north = WORLD[2], WORLD[3], WORLD[0], WORLD[1]
    complete = True
    for count, scene in enumerate(catalog.scan(scope.query(collection, now()))):
        if count >= scope.scan_limit:
            complete = False
            log.warning(
                "capabilities list the newest %d scenes of %s only (capabilities_scan_limit);"
                " capabilities_bbox and capabilities_days narrow the listing",
                scope.scan_limit,
                collection,
            )
            break
        dates.add(scene.datetime.date().isoformat())
        west, south = min(west, scene.bbox[0]), min(south, scene.bbox[1])
        east, north = max(east, scene.bbox[2]), max(north, scene.bbox[3])
    if not dates:
        return CollectionSummary((), WORLD, complete)
    return CollectionSummary(tuple(sorted(dates)), (west, south, east, north), complete)


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
        scope: ListingScope = ListingScope(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._catalog = catalog
        self._scope = scope
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._dimensions: list[tuple[str, Any]] = []  # (collection, MapProxy Dimension)
        # Called (in the listing thread) with new summaries whose extents changed: the
        # layers' extents are part of MapProxy's configuration, which is built again.
        self.on_new_extents: Callable[[dict[str, CollectionSummary]], None] | None = None
        self.summaries = {c: summarise(catalog, c, scope) for c in collections}
        self._expires = clock() + ttl_s

    def attach(
        self, dimensions: Iterable[tuple[str, Any]], layer_collections: Mapping[str, str]
    ) -> None:
        """Bind MapProxy's time Dimensions, given as (layer name, Dimension) pairs (in place
        of those bound before: a MapProxy built again has its own)."""
        self._dimensions = [
            (layer_collections[name], dimension)
            for name, dimension in dimensions
            if name in layer_collections
        ]
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
            summaries = {c: summarise(self._catalog, c, self._scope) for c in self.summaries}
        except Exception:  # the capabilities keep the dates they have, until the next TTL
            log.warning("listing the catalog for capabilities dates failed", exc_info=True)
        else:
            moved = any(summaries[c].bbox != self.summaries[c].bbox for c in summaries)
            self.summaries = summaries
            self._apply()
            if moved and self.on_new_extents is not None:
                try:
                    self.on_new_extents(summaries)
                except Exception:  # the layers keep their extents until the next listing
                    log.warning("rebuilding the WMS/WMTS layers failed", exc_info=True)
        finally:
            self._expires = self._clock() + self._ttl_s
            self._lock.release()

    def _apply(self) -> None:
        for collection, dimension in self._dimensions:
            dates = self.summaries[collection].dates
            if dates:  # MapProxy's Dimension is a list; readers see the old or the new dates
                dimension[:] = dates
                dimension.default = dates[-1]
