"""The catalog interfaces: searches for one map, paged searches over whole collections."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from gateway.core.catalog.models import DeclaredExtent, PageQuery, Scene, ScenePage, SearchQuery


class Catalog(Protocol):
    """Finds scenes. Backends: the static local catalog and a STAC API client."""

    def search(self, query: SearchQuery) -> list[Scene]:
        """Scenes of ``query.collection`` intersecting ``query.bbox``, filtered and ordered."""
        ...

    def stream(self, query: SearchQuery, first: int) -> Iterator[list[Scene]]:
        """The scenes ``search`` finds, in its order, as pages fetched as they are consumed:
        each page what one answer held (the first at most ``first`` scenes, none empty), so
        a render that stops early asks for no more and knows what it has at hand."""
        ...


class PagedCatalog(Protocol):
    """Paged, filtered searches over whole collections (every backend and the cache)."""

    def search_page(self, query: PageQuery) -> ScenePage:
        """The page ``query.offset`` .. ``+ limit`` of the matching scenes, and their number."""
        ...

    def scan(self, query: PageQuery) -> Iterator[Scene]:
        """Every matching scene in order, lazily (``offset`` and ``limit`` not applied)."""
        ...

    def declared_extent(self, collection: str) -> DeclaredExtent | None:
        """The extent the collection's own document declares, if any."""
        ...


class CatalogBackend(Catalog, PagedCatalog, Protocol):
    """Both kinds of search: what every backend (the static catalog, the STAC API client)
    and the search cache in front of them implement."""
