"""Ingested items in the static catalog: ``items/<id>.json``, ``items.ndjson`` rewritten from
them, ``collection.json`` with extents and bands, a child link in ``catalog.json``; and what
any catalog the ingest writes into offers (``CatalogWriter``: this one, or a STAC API)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from gateway.byod.items import extensions_used
from gateway.core.catalog.models import STAC_VERSION, collection_extent, collection_links

# Marks a collection.json written by the ingest (its configuration may be derived from it).
BYOD_KEY = "gateway:byod"
# The file ingests lock while they update the catalog (beside catalog.json).
LOCK_NAME = ".ingest.lock"


@contextlib.contextmanager
def catalog_lock(stac_dir: Path) -> Iterator[None]:
    """Held while this process updates the catalog: another ingest (process) waits for it,
    so each one's ``items.ndjson``, ``collection.json`` and ``catalog.json`` hold the items
    and links of both (an advisory ``flock``, released when the process dies)."""
    stac_dir.mkdir(parents=True, exist_ok=True)
    with open(stac_dir / LOCK_NAME, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class CatalogWriter(Protocol):
    """Where the ingest puts its items: the static catalog or a STAC API."""

    def foreign(self, collection: str) -> bool:
        """True when ``collection`` is there and the ingest did not make it."""
        ...

    def other_bands(self, collection: str, item_id: str) -> tuple[str, ...] | None:
        """The band names of the collection's items other than ``item_id`` (None: none)."""
        ...

    def item_hrefs(self, collection: str, item_id: str) -> list[str]:
        """The asset hrefs of an item (none when it is not there)."""
        ...

    def put_item(self, item: dict) -> None:
        """Add ``item`` to its collection (made if needed), replacing one of the same id."""
        ...

    def remove_item(self, collection: str, item_id: str) -> bool:
        """Take an item out of its collection (which stays); False when it was not there."""
        ...


@dataclass(frozen=True)
class StaticWriter:
    """The static catalog in ``stac_dir`` (``GATEWAY_DATA_DIR/stac``)."""

    stac_dir: Path

    def foreign(self, collection: str) -> bool:
        path = self.stac_dir / "collections" / collection / "collection.json"
        return path.is_file() and not json.loads(path.read_text(encoding="utf-8")).get(BYOD_KEY)

    def other_bands(self, collection: str, item_id: str) -> tuple[str, ...] | None:
        return other_bands(self.stac_dir, collection, item_id)

    def item_hrefs(self, collection: str, item_id: str) -> list[str]:
        return item_hrefs(self.stac_dir, collection, item_id)

    def put_item(self, item: dict) -> None:
        put_item(self.stac_dir, item)

    def remove_item(self, collection: str, item_id: str) -> bool:
        return remove_item(self.stac_dir, collection, item_id)


def put_item(stac_dir: Path, item: dict) -> None:
    """Add ``item`` to its collection, replacing an item of the same id."""
    folder = stac_dir / "collections" / item["collection"]
    with catalog_lock(stac_dir):
        (folder / "items").mkdir(parents=True, exist_ok=True)
        _write(folder / "items" / f"{item['id']}.json", json.dumps(item, indent=2) + "\n")
        _refresh(stac_dir, item["collection"])


def remove_item(stac_dir: Path, collection: str, item_id: str) -> bool:
    """Take an item out of its collection; False when it was not there."""
    path = stac_dir / "collections" / collection / "items" / f"{item_id}.json"
    with catalog_lock(stac_dir):
        if not path.is_file():
            return False
        path.unlink()
        _refresh(stac_dir, collection)
    return True


def other_bands(stac_dir: Path, collection: str, item_id: str) -> tuple[str, ...] | None:
    """The band names of the collection's items other than ``item_id`` (None: no other)."""
    folder = stac_dir / "collections" / collection / "items"
    for path in sorted(folder.glob("*.json")):
        if path.stem != item_id:
            return item_bands(json.loads(path.read_text(encoding="utf-8")))
    return None


def item_bands(item: dict) -> tuple[str, ...]:
    """The band names of an ingested item, one per asset."""
    return tuple(asset["bands"][0]["name"] for asset in item["assets"].values())


def item_hrefs(stac_dir: Path, collection: str, item_id: str) -> list[str]:
    """The asset hrefs of an item in the catalog (none when it is not there)."""
    path = stac_dir / "collections" / collection / "items" / f"{item_id}.json"
    if not path.is_file():
        return []
    item = json.loads(path.read_text(encoding="utf-8"))
    return [asset["href"] for asset in item.get("assets", {}).values()]


def carry_over(old_stac: Path, new_stac: Path) -> list[str]:
    """Move the ingested collections of ``old_stac`` into ``new_stac`` (when the sample
    archive is written again); returns their ids."""
    moved = []
    for path in sorted(old_stac.glob("collections/*/collection.json")):
        try:
            own = json.loads(path.read_text(encoding="utf-8")).get(BYOD_KEY)
        except (OSError, ValueError):
            continue
        target = new_stac / "collections" / path.parent.name
        if own and not target.exists():
            path.parent.rename(target)
            _link_child(new_stac, target.name)
            moved.append(target.name)
    return moved


def _refresh(stac_dir: Path, collection: str) -> None:
    folder = stac_dir / "collections" / collection
    items = [
        json.loads(p.read_text(encoding="utf-8")) for p in sorted((folder / "items").glob("*.json"))
    ]
    lines = "".join(json.dumps(i, separators=(",", ":")) + "\n" for i in items)
    _write(folder / "items.ndjson", lines)
    document = collection_document(collection, items)
    document["links"] = collection_links(items)
    _write(folder / "collection.json", json.dumps(document, indent=2) + "\n")
    _link_child(stac_dir, collection)


def collection_document(collection: str, items: list[dict]) -> dict:
    """The collection document without links: extents of its items, its bands (those of
    the first item), the ingest's mark."""
    boxes = [i["bbox"] for i in items] or [[-180.0, -90.0, 180.0, 90.0]]
    dates = sorted(i["properties"]["datetime"] for i in items) or [None]
    first = items[0]["assets"] if items else {}
    bands = [asset["bands"][0] for asset in first.values()]
    document = {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": [],
        "id": collection,
        "title": collection,
        "description": f"Rasters ingested with `cdse-gateway ingest --collection {collection}`.",
        "license": "other",
        BYOD_KEY: True,
        "extent": collection_extent(boxes, dates[0], dates[-1]),
        "summaries": {"bands": bands} if bands else {},
        "links": [],
    }
    document["stac_extensions"] = extensions_used(document)
    return document


def _link_child(stac_dir: Path, collection: str) -> None:
    """A child link to the collection in ``catalog.json`` (the catalog written if absent)."""
    path = stac_dir / "catalog.json"
    if path.is_file():
        catalog = json.loads(path.read_text(encoding="utf-8"))
    else:
        catalog = {
            "type": "Catalog",
            "stac_version": STAC_VERSION,
            "id": "cdse-gateway",
            "description": "Collections served by the gateway.",
            "links": [{"rel": "root", "href": "./catalog.json", "type": "application/json"}],
        }
    href = f"./collections/{collection}/collection.json"
    if any(link.get("href") == href for link in catalog["links"]):
        return
    catalog["links"].append({"rel": "child", "href": href, "type": "application/json"})
    _write(path, json.dumps(catalog, indent=2) + "\n")


def _write(path: Path, text: str) -> None:
    """Replace ``path`` at once (a reader sees the old file or the new one)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
