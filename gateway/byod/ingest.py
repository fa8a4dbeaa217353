"""``cdse-gateway ingest``: check each input, write its bands as COGs into the data folder
(or object storage) and its STAC item into the static catalog (or a STAC API); a bad input
is reported and the rest goes on."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import rasterio

from gateway.byod import stores
from gateway.byod.cogs import write_band_cogs
from gateway.byod.inputs import BadInput, check_allowed, check_readable
from gateway.byod.items import build_item
from gateway.byod.options import (
    IngestOptions,
    Progress,
    acquired,
    check_name,
    iso_date,
    item_id,
)
from gateway.byod.zarr import is_store
from gateway.core.catalog.models import parse_datetime
from gateway.errors import GatewayError


@dataclass
class IngestReport:
    """Items written or removed, and each refused input with the reason."""

    done: list[str] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def check_options(options: IngestOptions) -> None:
    """What holds for every input: names, the pattern, the date, the units' bands."""
    check_name("collection", options.collection)
    if options.writer.foreign(options.collection):
        name = options.collection
        raise BadInput(f"collection {name} is not one of your own: choose another name")
    for band in options.bands:
        check_name("band", band)
    if len(set(options.bands)) != len(options.bands):
        raise BadInput("--bands names a band twice")
    if options.datetime is not None and options.datetime_from_name is not None:
        raise BadInput("give --datetime or --datetime-from-name, not both")
    if options.datetime_from_name is not None:
        try:
            re.compile(options.datetime_from_name)
        except re.error as exc:
            raise BadInput(f"--datetime-from-name is not a regular expression: {exc}") from None
    if options.datetime is not None:
        try:
            parse_datetime(iso_date(options.datetime))
        except ValueError:
            raise BadInput(f"--datetime {options.datetime!r} is not an ISO 8601 date") from None
    for band in options.units:
        check_name("band", band)


def band_names(path: Path, given: tuple[str, ...]) -> tuple[str, ...]:
    """The given names (one per band of the file), else ``b1`` .. ``bn``."""
    with rasterio.open(path) as src:
        count = src.count
    if not given:
        return tuple(f"b{i}" for i in range(1, count + 1))
    if len(given) != count:
        raise BadInput(f"--bands names {len(given)} bands, the file has {count}")
    return given


def ingest_one(path: Path, options: IngestOptions) -> str:
    """Ingest one file; returns its item id. Nothing is changed when it raises."""
    real = check_allowed(path, options.allowed)
    check_readable(real)
    names = band_names(real, options.bands)
    when = acquired(real, options)
    identifier = item_id(real)
    others = options.writer.other_bands(options.collection, identifier)
    if others is not None and others != names:
        given, held = ",".join(names), ",".join(others)
        raise BadInput(f"bands {given}: the collection's items have {held} (see --bands)")
    target = options.files_dir / identifier
    options.files_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{identifier}.", dir=options.files_dir))
    try:
        written = write_band_cogs(real, staging, names)
        hrefs = {name: (target / p.name).resolve().as_uri() for name, p in written.items()}
        item = build_item(identifier, options.collection, when, written, hrefs, options.units)
        if options.put is not None:
            for name, path in written.items():
                key = object_name(options.collection, identifier, path.name)
                item["assets"][name]["href"] = options.put(key, path.read_bytes())
            shutil.rmtree(staging)
        else:
            _drop_files(options, identifier)
            staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    options.writer.put_item(item)
    return identifier


def object_name(collection: str, identifier: str, file_name: str) -> str:
    """Where a COG goes in object storage (under the configured prefix)."""
    return f"byod/{collection}/{identifier}/{file_name}"


def remove_one(path: Path, options: IngestOptions) -> str:
    """Take the item of ``path`` (its name is enough) and its COGs out."""
    identifier = item_id(path)
    hrefs = options.writer.item_hrefs(options.collection, identifier)
    if not hrefs:
        raise BadInput(f"no item {identifier} in collection {options.collection}")
    remote = [h for h in hrefs if h.startswith("s3://")]
    if remote and options.delete is None:
        raise BadInput("its COGs are in S3: give --s3 (GATEWAY_OUTPUT_S3_URL) to remove them")
    options.writer.remove_item(options.collection, identifier)
    for href in remote:
        assert options.delete is not None
        options.delete(object_name(options.collection, identifier, href.rsplit("/", 1)[-1]))
    _drop_files(options, identifier)
    return identifier


def _drop_files(options: IngestOptions, identifier: str) -> None:
    shutil.rmtree(options.files_dir / identifier, ignore_errors=True)


def _step(path: Path, options: IngestOptions, remove: bool) -> list[str]:
    """The items ingested (or removed) for ``path``: a file's one, a Zarr store's steps."""
    if is_store(path):
        return (stores.remove_store if remove else stores.ingest_store)(path, options)
    return [(remove_one if remove else ingest_one)(path, options)]


def ingest(
    paths: Sequence[Path],
    options: IngestOptions,
    *,
    remove: bool = False,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest (or with ``remove``, take out) each of ``paths``; a refused one is reported
    with its reason and the others go on."""
    check_options(options)
    report = IngestReport()
    for done, path in enumerate(paths):
        if progress is not None:
            progress(done, len(paths), path.name)
        try:
            report.done.extend(_step(path, options, remove))
        except GatewayError as exc:
            report.failed.append((path, exc.message))
        except Exception as exc:  # rio-cogeo and GDAL raise many kinds on a bad file
            report.failed.append((path, f"{type(exc).__name__}: {exc}"))
    if progress is not None:
        progress(len(paths), len(paths), "")
    return report
