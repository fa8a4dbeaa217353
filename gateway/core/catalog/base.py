"""The one catalog interface every backend implements."""

from __future__ import annotations

from typing import Protocol

from gateway.core.catalog.models import Scene, SearchQuery


class Catalog(Protocol):
    """Finds scenes. Backends: the static local catalog and a STAC API client."""

    def search(self, query: SearchQuery) -> list[Scene]:
        """Scenes of ``query.collection`` intersecting ``query.bbox``, filtered and ordered."""
        ...
