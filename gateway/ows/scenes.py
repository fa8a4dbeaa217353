"""Scene listings for the classic doors: every scene of a collection, and its extent in time/space.

Goes through the engine's catalog (static or STAC API, behind its search cache) with a
whole-world query. Summaries are kept for ``ttl`` seconds so capabilities documents do not
list the catalog on every request.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

from gateway.core.catalog import Catalog, Scene, SearchQuery, TimeRange

WORLD = (-180.0, -90.0, 180.0, 90.0)
MAX_LISTED = 10_000  # scenes listed per collection at most
ALL_TIME = TimeRange()


@dataclass(frozen=True)
class Summary:
    """What a collection holds: its scenes' lon/lat extent and acquisition times (sorted)."""

    bbox: tuple[float, float, float, float] | None
    times: tuple[datetime, ...]
    count: int


def list_scenes(
    catalog: Catalog,
    collection: str,
    *,
    bbox: tuple[float, float, float, float] = WORLD,
    time: TimeRange = ALL_TIME,
    limit: int = MAX_LISTED,
) -> list[Scene]:
    """The scenes of ``collection`` in ``bbox`` (lon/lat) and ``time`` (up to ``limit``)."""
    query = SearchQuery(
        collection=collection, bbox=bbox, time=time, order="leastRecent", limit=limit
    )
    return catalog.search(query)


def summarize(scenes: list[Scene]) -> Summary:
    if not scenes:
        return Summary(None, (), 0)
    boxes = [scene.bbox for scene in scenes]
    bbox = (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )
    times = tuple(sorted({scene.datetime for scene in scenes}))
    return Summary(bbox, times, len(scenes))


class SceneIndex:
    """Summaries per collection, recomputed after ``ttl`` seconds (thread-safe)."""

    def __init__(self, catalog: Catalog, ttl: float = 300.0) -> None:
        self._catalog = catalog
        self._ttl = ttl
        self._lock = threading.Lock()
        self._summaries: dict[str, tuple[float, Summary]] = {}

    def scenes(
        self,
        collection: str,
        bbox: tuple[float, float, float, float] = WORLD,
        time: TimeRange = ALL_TIME,
    ) -> list[Scene]:
        """Scenes narrowed in the catalog by ``bbox``/``time`` (callers still filter exactly)."""
        return list_scenes(self._catalog, collection, bbox=bbox, time=time)

    def summary(self, collection: str) -> Summary:
        now = time.monotonic()
        with self._lock:
            found = self._summaries.get(collection)
        if found is not None and now - found[0] < self._ttl:
            return found[1]
        summary = summarize(self.scenes(collection))
        with self._lock:
            self._summaries[collection] = (now, summary)
        return summary
