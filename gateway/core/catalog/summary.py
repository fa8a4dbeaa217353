"""What each collection holds, listed once for every door: acquisition times and extent.

A listing reads a collection's scenes newest first through the catalog's paged search
(``PagedCatalog.scan``: every page of a STAC API search, or the whole static catalog). On a
global catalog it is scoped to the deployment's area and period (``ListingScope``, from the
``capabilities_*`` settings) and stops at a scan limit. ``CatalogSummaries`` lists each
collection once when first asked, lists again in the background once ``ttl_s`` has passed,
and tells its listeners when a summary changed.

A summary knows where it is authoritative: which days it lists every acquisition of.
Whatever lies outside (another area, older than the period or than the scan limit reached)
may still hold data, so no door may refuse or move a request there on its account.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from gateway.core.catalog.base import CatalogBackend
from gateway.core.catalog.models import DeclaredExtent, PageQuery, cql2_text

log = logging.getLogger(__name__)

WORLD = (-180.0, -90.0, 180.0, 90.0)
# What a listing reads of each scene: a CDSE item is ~65 kB with its 43 assets, this ~200 B.
LISTED_FIELDS = ("id", "collection", "bbox", "properties.datetime", "properties.start_datetime")
BEGINNING = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ListingScope:
    """Which scenes a listing reads: those touching ``bbox`` (lon/lat), acquired in the last
    ``days``, newest first, at most ``scan_limit`` of them. A global collection such as
    CDSE's Sentinel-2 L2A holds tens of millions of scenes: a deployment on the live catalog
    names its area and period (settings ``capabilities_bbox``/``capabilities_days``).
    """

    bbox: tuple[float, float, float, float] | None = None
    days: int | None = None
    scan_limit: int = 100_000
    # The first listing, which start-up and the first capabilities wait for, stops after
    # this long (None: never); the whole one then runs in the background. The collections
    # listed at start-up (``CatalogSummaries.start``) share one budget, counted from the
    # process's start.
    first_listing_s: float | None = None

    def since(self, now: datetime) -> datetime | None:
        """The oldest acquisition time the scope reads (None: all time)."""
        return None if self.days is None else (now - timedelta(days=self.days)).astimezone(UTC)

    def query(self, collection: str, now: datetime) -> PageQuery:
        """The paged search of this scope (newest first: PageQuery's default order)."""
        parts: list[dict[str, Any]] = []
        if self.bbox is not None:
            west, south, east, north = self.bbox
            ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
            area = {"type": "Polygon", "coordinates": [ring]}
            parts.append({"op": "s_intersects", "args": [{"property": "geometry"}, area]})
        since = self.since(now)
        if since is not None:
            stamp = {"timestamp": since.strftime("%Y-%m-%dT%H:%M:%SZ")}
            parts.append({"op": ">=", "args": [{"property": "datetime"}, stamp]})
        expression = (
            parts[0] if len(parts) == 1 else {"op": "and", "args": parts} if parts else None
        )
        return PageQuery((collection,), filter=cql2_text(expression), fields=LISTED_FIELDS)


@dataclass(frozen=True)
class CollectionSummary:
    """A collection's listed acquisitions (``times``, ascending, distinct) and their lon/lat
    extent (``bbox``), and the extent doors advertise and accept (``extent``, ``first``,
    ``last``).

    ``complete`` is false when the listing stopped at its scan limit (the newest kept).
    ``authoritative_since`` is the moment from which ``times`` holds every acquisition of
    the collection, everywhere (None: nowhere, e.g. a listing scoped to an area). Where the
    listing is not the whole collection, what the collection's own document declares
    (``declared``) widens the advertised extent, or it is open: never narrower than the
    catalog, so no request for data that exists is refused as out of range.
    """

    times: tuple[datetime, ...]
    bbox: tuple[float, float, float, float]
    complete: bool = True
    authoritative_since: datetime | None = BEGINNING
    declared: DeclaredExtent | None = None

    @property
    def whole(self) -> bool:
        """True when the listing holds every acquisition of the collection."""
        return self.authoritative_since == BEGINNING

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """The lon/lat extent to advertise: the listed one, widened where it is partial."""
        if self.whole:
            return self.bbox
        if self.declared is None:
            return WORLD
        if not self.times:
            return self.declared.bbox
        return _union(self.bbox, self.declared.bbox)

    @property
    def first(self) -> datetime | None:
        """The first acquisition to advertise (None: open, the listing cannot say)."""
        if self.whole:
            return self.times[0] if self.times else None
        declared = self.declared.start if self.declared is not None else None
        if declared is None or not self.times:
            return declared
        return min(declared, self.times[0])

    @property
    def last(self) -> datetime | None:
        """The last acquisition to advertise (None: open)."""
        if self.whole or self.authoritative_since is not None:
            return self.times[-1] if self.times else None  # listed newest first: all there
        declared = self.declared.end if self.declared is not None else None
        if declared is None or not self.times:
            return None
        return max(declared, self.times[-1])

    @property
    def note(self) -> str | None:
        """What a document listing ``dates`` says when they are not every acquisition."""
        if self.whole:
            return None
        if self.authoritative_since is None:
            return (
                "TIME values list the acquisitions over part of the area only;"
                " other acquisition days are served too."
            )
        return (
            f"TIME values list every acquisition from {self.authoritative_since.date()} on;"
            " earlier ones are not listed but are served too."
        )

    @property
    def dates(self) -> tuple[str, ...]:
        """The acquisition days, ``YYYY-MM-DD``, ascending."""
        return tuple(sorted({moment.date().isoformat() for moment in self.times}))

    @property
    def latest(self) -> datetime | None:
        return self.times[-1] if self.times else None

    def has_acquisition(self, start: datetime, end: datetime) -> bool:
        """True when a listed acquisition lies in [start, end]."""
        index = bisect.bisect_left(self.times, start)
        return index < len(self.times) and self.times[index] <= end

    def lists_everything_in(self, start: datetime) -> bool:
        """True when every acquisition from ``start`` on is listed."""
        return self.authoritative_since is not None and start >= self.authoritative_since

    def nearest_day(self, start: datetime, end: datetime) -> date | None:
        """The listed acquisition day nearest to the days of [start, end], counted in whole
        days (the earlier one on a tie)."""
        if not self.times:
            return None
        index = bisect.bisect_left(self.times, start)
        candidates = [self.times[i].date() for i in (index - 1, index) if 0 <= i < len(self.times)]
        first, last = start.date(), end.date()

        def distance(day: date) -> int:
            return (first - day).days if day < first else max((day - last).days, 0)

        return min(candidates, key=lambda day: (distance(day), day))


def _union(
    a: tuple[float, float, float, float], b: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def summarise(
    catalog: CatalogBackend,
    collection: str,
    scope: ListingScope = ListingScope(),
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    budget_s: float | None = None,
) -> CollectionSummary:
    """List the scenes of ``collection`` in ``scope``: their times and lon/lat extent (and,
    where the listing is not the whole collection, what the collection declares). With
    ``budget_s``, the listing stops after that many seconds, partial like one cut at its
    scan limit (the newest scenes kept; none left: the newest scene only)."""
    moment = now()
    deadline = None if budget_s is None else time.monotonic() + budget_s
    times: set[datetime] = set()
    west, south, east, north = WORLD[2], WORLD[3], WORLD[0], WORLD[1]
    complete = True
    oldest: datetime | None = None
    for count, scene in enumerate(catalog.scan(scope.query(collection, moment))):
        if count >= scope.scan_limit:
            complete = False
            log.warning(
                "the catalog summary lists the newest %d scenes of %s only"
                " (capabilities_scan_limit); capabilities_bbox and capabilities_days narrow it",
                scope.scan_limit,
                collection,
            )
            break
        if deadline is not None and count and time.monotonic() >= deadline:
            complete = False
            log.warning(
                "the first catalog summary of %s lists its newest %d scenes only"
                " (capabilities_first_listing_s); the whole listing runs in the background",
                collection,
                count,
            )
            break
        times.add(scene.datetime)
        oldest = scene.datetime if oldest is None else min(oldest, scene.datetime)
        west, south = min(west, scene.bbox[0]), min(south, scene.bbox[1])
        east, north = max(east, scene.bbox[2]), max(north, scene.bbox[3])
    bbox = (west, south, east, north) if times else WORLD
    since = _authoritative_since(scope, moment, complete, oldest)
    declared = None if since == BEGINNING else catalog.declared_extent(collection)
    return CollectionSummary(tuple(sorted(times)), bbox, complete, since, declared)


def _authoritative_since(
    scope: ListingScope, now: datetime, complete: bool, oldest: datetime | None
) -> datetime | None:
    """From when a listing holds every acquisition (newest first: a listing cut at its scan
    limit holds all of them after its oldest one's day)."""
    if scope.bbox is not None:
        return None
    if not complete:
        assert oldest is not None
        return datetime.combine(oldest.date() + timedelta(days=1), datetime.min.time(), UTC)
    return scope.since(now) or BEGINNING


UNKNOWN = CollectionSummary((), WORLD, complete=False, authoritative_since=None)
"""What doors say of a collection whose listing failed: nothing listed, extents open."""
RETRY_FAILED_S = 30.0  # a failed listing is tried again, in the background, after this long

Listener = Callable[[dict[str, CollectionSummary], dict[str, CollectionSummary]], None]


class CatalogSummaries:
    """Every door's view of what the catalog holds, per collection.

    A collection is listed when first asked (``start`` lists them all in the background, as
    the app does when it starts; ``prime`` in this thread); ``refresh_soon`` lists every
    collection again in a background thread once ``ttl_s`` has passed (no caller ever waits
    for it), and listeners get the old and new summaries when anything changed. A failed
    listing keeps the summaries it had and waits ``ttl_s`` again. ``version`` counts the
    changes, for caches of what summaries decided.
    """

    def __init__(
        self,
        catalog: CatalogBackend,
        ttl_s: float,
        scope: ListingScope = ListingScope(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._catalog = catalog
        self._scope = scope
        self._ttl_s = ttl_s
        self._clock = clock
        self._refreshing = threading.Lock()
        self._listing = threading.Lock()
        self._summaries: dict[str, CollectionSummary] = {}
        self._listeners: list[Listener] = []
        self._expires = clock() + ttl_s
        self._first_s = scope.first_listing_s
        self._startup: frozenset[str] = frozenset()
        self._startup_deadline = 0.0  # time.monotonic() at which start-up listings stop
        self.version = 0

    @property
    def scope(self) -> ListingScope:
        return self._scope

    def prime(self, collections: Iterable[str]) -> None:
        """List the collections not listed yet (in this thread)."""
        for collection in collections:
            self.get(collection)

    def start(self, collections: Iterable[str], started_at: float) -> threading.Thread:
        """List ``collections`` in a background thread while the app starts (``get`` waits
        for a collection being listed). Their first listings share the budget
        ``first_listing_s`` counted from ``started_at`` (``time.time()`` of the process's
        start): however long start-up took, they end by then, partial if need be."""
        wanted = tuple(collections)
        if self._first_s is not None:
            left_s = started_at + self._first_s - time.time()
            self._startup_deadline = time.monotonic() + left_s
            self._startup = frozenset(wanted)
        thread = threading.Thread(
            target=self.prime, args=(wanted,), name="catalog-summary-start", daemon=True
        )
        thread.start()
        return thread

    def _budget_s(self, collection: str) -> float | None:
        """How long the first listing of ``collection`` may take, from now."""
        if self._first_s is not None and collection in self._startup:
            return self._startup_deadline - time.monotonic()
        return self._first_s

    def get(self, collection: str) -> CollectionSummary:
        """The summary of ``collection`` (listed now if it never was). A listing that fails
        (an unreachable catalog must not stop the app, nor fail every request) leaves
        ``UNKNOWN`` in its place, listed again in the background ``RETRY_FAILED_S`` later."""
        found = self._summaries.get(collection)
        if found is UNKNOWN:
            self.refresh_soon()
        if found is not None:
            return found
        with self._listing:
            found = self._summaries.get(collection)
            if found is None:
                try:
                    found = summarise(
                        self._catalog, collection, self._scope, budget_s=self._budget_s(collection)
                    )
                    if not found.complete and self._first_s is not None:
                        self._expires = self._clock()  # the whole listing, at the next ask
                except Exception:
                    log.warning("listing %s for its summary failed", collection, exc_info=True)
                    found = UNKNOWN
                    self._expires = min(self._expires, self._clock() + RETRY_FAILED_S)
                self._summaries = {**self._summaries, collection: found}
        return found

    def snapshot(self) -> dict[str, CollectionSummary]:
        """Every summary listed so far."""
        return dict(self._summaries)

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(old, new)`` (in the listing thread) after a listing changed."""
        self._listeners = [*self._listeners, listener]

    def unsubscribe(self, listener: Listener) -> None:
        """Stop calling ``listener`` (a door built again is done with its old one)."""
        self._listeners = [other for other in self._listeners if other != listener]

    def stale(self) -> bool:
        return self._clock() >= self._expires

    def refresh_soon(self) -> None:
        """If the summaries are stale, list the catalog again in a background thread."""
        if not self.stale() or not self._refreshing.acquire(blocking=False):
            return
        try:
            threading.Thread(target=self._refresh, name="catalog-summary", daemon=True).start()
        except BaseException:
            self._refreshing.release()
            raise

    def refresh(self) -> None:
        """List every known collection again now (in this thread)."""
        with self._refreshing:
            self._refresh_held()

    def _refresh(self) -> None:
        try:
            self._refresh_held()
        finally:
            self._refreshing.release()

    def _refresh_held(self) -> None:
        old = self._summaries
        try:
            new = {c: summarise(self._catalog, c, self._scope) for c in old}
        except Exception:  # the doors keep what they have until the next TTL
            log.warning("listing the catalog for its summary failed", exc_info=True)
            return
        finally:
            self._expires = self._clock() + self._ttl_s
        if new == old:
            return
        self._summaries = new
        self.version += 1
        for listener in self._listeners:
            try:
                listener(old, new)
            except Exception:
                log.warning("a catalog summary listener failed", exc_info=True)
