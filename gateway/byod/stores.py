"""``cdse-gateway ingest STORE.zarr``: one STAC item per time step of a Zarr store, its
variables as bands; each asset a VRT (``gateway.byod.vrt``) in the data folder that reads the
step from the store where it is (nothing is copied)."""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

from gateway.byod.catalog import put_item, remove_item
from gateway.byod.inputs import BadInput, check_allowed
from gateway.byod.items import build_item
from gateway.byod.options import IngestOptions, acquired, check_name, item_id
from gateway.byod.s3folder import S3Folder, is_s3
from gateway.byod.vrt import VRT_TYPE, write_vrt
from gateway.byod.zarr import Folder, check_store, read_variables
from gateway.core.storage import Storage

# Item property: the store an item was read from (its name, as ``item_id`` makes it).
STORE_KEY = "gateway:zarr_store"


def _items(stac_dir: Path, collection: str) -> list[dict]:
    folder = stac_dir / "collections" / collection / "items"
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]


def store_items(stac_dir: Path, collection: str, store: str) -> list[str]:
    """Ids of the collection's items read from ``store``."""
    items = _items(stac_dir, collection)
    return [i["id"] for i in items if i.get("properties", {}).get(STORE_KEY) == store]


def store_bands(stac_dir: Path, collection: str, store: str) -> tuple[str, ...] | None:
    """The band names of the collection's items not read from ``store`` (None: no such)."""
    for item in _items(stac_dir, collection):
        if item.get("properties", {}).get(STORE_KEY) != store:
            return tuple(asset["bands"][0]["name"] for asset in item["assets"].values())
    return None


def store_name(path: Folder) -> str:
    """The store's name in item ids: the ``.zarr`` folder holding ``path`` (a group of it),
    else ``path``'s own."""
    zarr = next((p for p in (path, *path.parents) if p.suffix.lower() == ".zarr"), path)
    return item_id(Path(zarr.name))


def step_id(store: str, when: datetime | None) -> str:
    """``<store>_<YYYYmmddTHHMMSS>`` for a time step; the store's name without time."""
    return store if when is None else f"{store}_{when:%Y%m%dT%H%M%S}"


def ingest_store(path: Path, options: IngestOptions) -> list[str]:
    """An item per time step of the store at ``path`` (a store or a group of one); items of
    steps it no longer has are taken out. Nothing is changed when it raises."""
    if options.put is not None:
        raise BadInput("a Zarr store is read where it is: --s3 does not apply to it")
    if not is_s3(str(path)):
        return _ingest(check_allowed(path, options.allowed), options)
    storage = options.storage or Storage("s3")
    with storage.zarr_env():
        return _ingest(S3Folder.from_url(storage, str(path)), options)


def _ingest(real: Folder, options: IngestOptions) -> list[str]:
    check_store(real)
    variables = read_variables(real, options.bands)
    names = tuple(check_name("band", v.name) for v in variables)
    store = store_name(real)
    steps = variables[0].steps
    whens = list(steps) if steps is not None else [_acquired(real, options)]
    ids = [step_id(store, when if steps is not None else None) for when in whens]
    others = store_bands(options.stac_dir, options.collection, store)
    if others is not None and others != names:
        given, held = ",".join(names), ",".join(others)
        raise BadInput(f"bands {given}: the collection's items have {held} (see --bands)")
    options.files_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{store}.", dir=options.files_dir))
    items = []
    try:
        for step, (identifier, when) in enumerate(zip(ids, whens, strict=True)):
            folder = staging / identifier
            folder.mkdir()
            written = {v.name: write_vrt(v, step, folder / f"{v.name}.vrt") for v in variables}
            target = options.files_dir / identifier
            hrefs = {n: (target / p.name).resolve().as_uri() for n, p in written.items()}
            item = build_item(identifier, options.collection, when, written, hrefs, options.units)
            item["properties"][STORE_KEY] = store
            for asset in item["assets"].values():
                asset["type"] = VRT_TYPE
            items.append(item)
        for identifier in ids:
            shutil.rmtree(options.files_dir / identifier, ignore_errors=True)
            (staging / identifier).rename(options.files_dir / identifier)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for stale in set(store_items(options.stac_dir, options.collection, store)) - set(ids):
        _take_out(options, stale)
    for item in items:
        put_item(options.stac_dir, item)
    return ids


def _acquired(real: Folder, options: IngestOptions) -> datetime:
    """The date of a store without time steps (an S3 one has no folder time)."""
    if isinstance(real, Path):
        return acquired(real, options)
    if options.datetime is None and options.datetime_from_name is None:
        raise BadInput("an s3:// store without a time dimension needs --datetime")
    return acquired(Path(real.name), options)


def remove_store(path: Path, options: IngestOptions) -> list[str]:
    """Take out the items of the store named by ``path`` (its name is enough)."""
    store = store_name(path)
    ids = store_items(options.stac_dir, options.collection, store)
    if not ids:
        raise BadInput(f"no item of store {store} in collection {options.collection}")
    for identifier in ids:
        _take_out(options, identifier)
    return ids


def _take_out(options: IngestOptions, identifier: str) -> None:
    remove_item(options.stac_dir, options.collection, identifier)
    shutil.rmtree(options.files_dir / identifier, ignore_errors=True)
