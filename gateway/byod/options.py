"""What ``cdse-gateway ingest`` is told for every input: the options, the names it accepts,
an input's item id and date."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from gateway.byod.catalog import CatalogWriter, StaticWriter
from gateway.byod.inputs import BadInput
from gateway.core.catalog.models import parse_datetime
from gateway.core.storage import Storage

Progress = Callable[[int, int, str], None]
# Object storage for the COGs: put(name, content) returns the href, delete(name).
Put = Callable[[str, bytes], str]
Delete = Callable[[str], None]
_NAMES = {
    "collection": re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"),
    "band": re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$"),  # a name in band math
}


@dataclass(frozen=True)
class IngestOptions:
    """What the command line says of every input."""

    collection: str
    data_dir: Path
    allowed: tuple[Path, ...]
    bands: tuple[str, ...] = ()
    units: dict[str, str] = field(default_factory=dict)
    datetime: str | None = None
    datetime_from_name: str | None = None
    # The COGs go to object storage (``s3://``) through these instead of the data folder.
    put: Put | None = None
    delete: Delete | None = None
    # The items go there (a STAC API) instead of the static catalog in ``data_dir/stac``.
    catalog: CatalogWriter | None = None
    # The S3 settings ``s3://`` Zarr stores are read with (the gateway's eodata ones).
    storage: Storage | None = None

    @property
    def writer(self) -> CatalogWriter:
        return self.catalog or StaticWriter(self.stac_dir)

    @property
    def stac_dir(self) -> Path:
        return self.data_dir / "stac"

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "byod" / self.collection


def check_name(kind: str, name: str) -> str:
    """A collection name usable in paths and layer names, a band name in band math."""
    if not _NAMES[kind].match(name):
        others = "letters, digits, _ or -" if kind == "collection" else "letters, digits or _"
        raise BadInput(f"{kind} {name[:80]!r}: a letter, then {others} (64 at most)")
    return name


def item_id(path: Path) -> str:
    """The item of a file: its name without extension (re-ingesting it replaces the item)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem)


def acquired(path: Path, options: IngestOptions) -> datetime:
    """The item's datetime: ``--datetime``, or matched in the file name by
    ``--datetime-from-name`` (its first group, or the whole match), else the file's time."""
    text = options.datetime
    if options.datetime_from_name:
        found = re.search(options.datetime_from_name, path.name)
        if found is None:
            raise BadInput(f"--datetime-from-name {options.datetime_from_name!r} finds no date")
        text = found.group(1) if found.groups() else found.group(0)
    if text is None:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    try:
        return parse_datetime(iso_date(text))
    except ValueError:
        raise BadInput(f"{text!r} is not an ISO 8601 date") from None


def iso_date(text: str) -> str:
    """``20250614`` as ``2025-06-14``; a date alone at midnight UTC."""
    if re.fullmatch(r"\d{8}", text):
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text if "T" in text else f"{text}T00:00:00Z"
