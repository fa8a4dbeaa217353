"""A static STAC catalog on local disk (the embedded default)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry

from gateway.core.catalog.filters.evaluate import Lookup, compile_filter, property_name
from gateway.core.catalog.models import (
    DeclaredExtent,
    PageQuery,
    Scene,
    ScenePage,
    SearchQuery,
    SortKey,
    declared_extent,
    first_and_rest,
    order_scenes,
    scene_from_item,
)
from gateway.errors import UpstreamError


class StaticCatalog:
    """Reads ``<root>/collections/<id>/items.ndjson`` (or ``items/*.json``), again when a
    collection appears or its items file changes (``cdse-gateway ingest``).

    Searches then run in memory.
    """

    def __init__(self, root: Path) -> None:
        self._root = root
        self._lock = threading.Lock()
        self._scenes: dict[str, list[tuple[Scene, BaseGeometry]]] = {}
        self._stamps: dict[str, tuple[int, int]] | None = None

    def _load(self) -> dict[str, list[tuple[Scene, BaseGeometry]]]:
        with self._lock:
            collections = self._root / "collections"
            if not collections.is_dir():
                raise UpstreamError("the local catalog is missing")
            stamps = {
                folder.name: _stamp(folder)
                for folder in sorted(p for p in collections.iterdir() if p.is_dir())
            }
            if stamps != self._stamps:
                old = self._stamps or {}
                self._scenes = {
                    name: (
                        self._scenes[name]
                        if old.get(name) == stamp
                        else [(s, shape(s.geometry)) for s in _read_scenes(collections / name)]
                    )
                    for name, stamp in stamps.items()
                }
                self._stamps = stamps
            return self._scenes

    def collections(self) -> list[str]:
        return sorted(self._load())

    def stream(self, query: SearchQuery, first: int) -> Iterator[list[Scene]]:
        """``search``'s scenes, in a first page of ``first`` and the rest (held in memory:
        nothing to fetch)."""
        return first_and_rest(self.search(query), first)

    def search(self, query: SearchQuery) -> list[Scene]:
        area = box(*query.bbox)
        found = [
            scene
            for scene, footprint in self._load().get(query.collection, [])
            if query.time.contains(scene.datetime)
            and (
                query.max_cloud_cover is None
                or scene.cloud_cover is None
                or scene.cloud_cover <= query.max_cloud_cover
            )
            and (query.orbit_state is None or scene.orbit_state == query.orbit_state)
            and footprint.intersects(area)
        ]
        return order_scenes(found, query.order)[: query.limit]

    def _matching(self, query: PageQuery) -> list[Scene]:
        """Every scene of ``query``'s collections its filter holds true for, in its order."""
        test = compile_filter(json.loads(query.filter) if query.filter else None)
        loaded = self._load()
        candidates = [
            (scene, scene_lookup(scene, footprint))
            for name in dict.fromkeys(query.collections)
            for scene, footprint in loaded.get(name, [])
        ]
        found = [pair for pair in candidates if test(pair[1])]
        return [scene for scene, _ in sort_scenes(found, query.sortby)]

    def search_page(self, query: PageQuery) -> ScenePage:
        """One page and the exact number of matches (everything is in memory)."""
        found = self._matching(query)
        page = found[query.offset : query.offset + query.limit]
        return ScenePage(tuple(page), len(found))

    def scan(self, query: PageQuery) -> Iterator[Scene]:
        """Every matching scene in order (``offset`` and ``limit`` are not applied)."""
        return iter(self._matching(query))

    def declared_extent(self, collection: str) -> DeclaredExtent | None:
        """From ``<root>/collections/<id>/collection.json``, when there is one."""
        path = self._root / "collections" / collection / "collection.json"
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return declared_extent(document)


def _stamp(folder: Path) -> tuple[int, int]:
    """When the items of a collection folder last changed, and their file's size."""
    ndjson = folder / "items.ndjson"
    try:
        found = ndjson.stat() if ndjson.is_file() else (folder / "items").stat()
    except OSError:
        return (0, 0)
    return (found.st_mtime_ns, found.st_size)


def _read_scenes(folder: Path) -> list[Scene]:
    return [scene_from_item(item) for item in _read_items(folder)]


def _read_items(folder: Path) -> Iterable[dict]:
    ndjson = folder / "items.ndjson"
    if ndjson.is_file():
        with ndjson.open(encoding="utf-8") as handle:
            yield from (json.loads(line) for line in handle if line.strip())
        return
    for path in sorted((folder / "items").glob("*.json")):
        yield json.loads(path.read_text(encoding="utf-8"))


def scene_lookup(scene: Scene, footprint: BaseGeometry | None = None) -> Lookup:
    """How the static catalog reads a property of ``scene`` (``footprint``: its shape)."""

    def get(name: str) -> Any:
        if name == "id":
            return scene.id
        if name == "collection":
            return scene.collection
        if name == "datetime":
            return scene.datetime
        if name == "geometry":
            if footprint is not None:
                return footprint
            return shape(scene.geometry) if scene.geometry else box(*scene.bbox)
        return scene.item.get("properties", {}).get(name)

    return get


def sort_scenes(
    scenes: list[tuple[Scene, Lookup]], sortby: tuple[SortKey, ...]
) -> list[tuple[Scene, Lookup]]:
    """Order as pgstac does: the keys (nulls last ascending, first descending), then
    collection and id in the first key's direction; no keys: datetime descending."""
    keys = list(sortby) or [SortKey("datetime", descending=True)]
    named = {property_name(k.field) for k in keys}
    keys += [SortKey(f, keys[0].descending) for f in ("collection", "id") if f not in named]
    ordered = list(scenes)
    for key in reversed(keys):
        name = property_name(key.field)

        def sort_key(pair: Any, n: str = name) -> tuple[bool, Any]:
            return _null_last(pair[1](n))

        ordered.sort(key=sort_key, reverse=key.descending)
    return ordered


def _null_last(value: Any) -> tuple[bool, Any]:
    return (value is None, value)  # equal tuples never compare their None
