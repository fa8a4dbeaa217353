"""The TIME dimension of the WMS/WMTS capabilities, kept in step with the catalog summaries.

MapProxy keeps one ``Dimension`` (a list with a ``default``) per layer, shared by the
layer's WMS layer and its WMTS tile layers and read each time a capabilities document is
written. ``CapabilityDates`` writes the acquisition days of the layer's collection
(``runtime.summaries``) and the default period (``runtime.times``) into those objects, and
again, in place, whenever a listing changes them; when a collection's listed extent (or the
note saying the listing is partial) changed, the layers' extents and abstracts are in
MapProxy's configuration, and the door builds it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gateway.core.catalog.summary import CollectionSummary
from gateway.runtime import Runtime

log = logging.getLogger(__name__)


class CapabilityDates:
    """Binds MapProxy's time Dimensions of the layers to the runtime's catalog summaries."""

    def __init__(self, runtime: Runtime, collections: Iterable[str]) -> None:
        self._runtime = runtime
        self._dimensions: list[tuple[str, Any]] = []  # (collection, MapProxy Dimension)
        # Called (in the listing thread) with new summaries whose extents (or notes on a
        # partial listing) changed: the layers' extents and abstracts are part of MapProxy's
        # configuration, which is built again.
        self.on_new_extents: Callable[[dict[str, CollectionSummary]], None] | None = None
        runtime.summaries.prime(collections)
        runtime.summaries.subscribe(self._changed)

    @property
    def summaries(self) -> dict[str, CollectionSummary]:
        return self._runtime.summaries.snapshot()

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

    def close(self) -> None:
        """No longer follow the catalog summaries (the door is closed)."""
        self._runtime.summaries.unsubscribe(self._changed)

    def refresh_soon(self) -> None:
        """A capabilities document was asked for: list the catalog again if it is stale."""
        self._runtime.summaries.refresh_soon()

    def _changed(
        self, old: dict[str, CollectionSummary], new: dict[str, CollectionSummary]
    ) -> None:
        self._apply()
        moved = any(
            (new[c].extent, new[c].note) != (old[c].extent, old[c].note) for c in new if c in old
        )
        if moved and self.on_new_extents is not None:
            try:
                self.on_new_extents(new)
            except Exception:  # the layers keep their extents until the next listing
                log.warning("rebuilding the WMS/WMTS layers failed", exc_info=True)

    def _apply(self) -> None:
        for collection, dimension in self._dimensions:
            dates = self._runtime.summaries.get(collection).dates
            if dates:  # MapProxy's Dimension is a list; readers see the old or the new dates
                dimension[:] = dates
                dimension.default = self._runtime.times.default_text(collection)
