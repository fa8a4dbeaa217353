"""Index the JPEG 2000 files of new products ahead of users (``cdse-gateway index``).

The first view of a product whose files no process indexed yet walks their tile-part headers
in the request path (``gateway.core.spliced``); run when new products arrive, this command
walks them first, through the reader every door uses (the same cache, keys, quota and
counts), so that view finds them. It indexes the files of the bands a collection's layers read
(or the bands named), at every resolution the catalog lists, of the scenes a paged catalog
search finds, newest first; files already indexed are skipped, so a run stopped half-way (by
the quota, or by hand) is resumed by running it again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from gateway.core.bandmath import parse_expression
from gateway.core.catalog import PageQuery, Scene, cql2_text
from gateway.core.catalog.base import PagedCatalog
from gateway.core.catalog.filters.translate import all_of, box_polygon, op, time_range
from gateway.core.catalog.models import TimeRange
from gateway.core.dates import parse_time
from gateway.core.reader import SceneReader
from gateway.core.upstream import QuotaExhausted
from gateway.errors import InvalidParameterValue

if TYPE_CHECKING:  # types only: the core reads the configuration it is handed
    from gateway.config import GatewayConfig

Progress = Callable[[int, int, str], None]


@dataclass
class IndexingResult:
    """What a run found and did: scenes read, their files to index, how many of those this
    run indexed, were indexed before (by a server or an earlier run), are opened as they are
    (their own TLM, or not a tiled JPEG 2000 file) or could not be read (logged; tried again
    next run); ``stopped`` says why the quota ended the run early (None: it did not), ``more``
    that more than the scenes asked for match."""

    scenes: int = 0
    files: int = 0
    indexed: int = 0
    known: int = 0
    as_is: int = 0
    failed: int = 0
    stopped: str | None = None
    more: bool = False
    failures: list[str] = field(default_factory=list)


def bands_to_index(
    config: GatewayConfig, collection: str, asked: tuple[str, ...]
) -> tuple[str, ...]:
    """The bands to index, as the collection's items name them: those ``asked`` (each a band
    of the collection), or else those its layers read (their expressions' or scripts' bands,
    and the cloud-mask band of a layer that masks clouds)."""
    found = config.collection(collection)
    if found is None:
        raise InvalidParameterValue(f"unknown collection {collection[:60]!r}", locator="collection")
    unknown = [band for band in asked if band not in found.bands]
    if unknown:
        raise InvalidParameterValue(
            f"{collection} has no band {unknown[0][:40]!r} (it has {', '.join(found.bands)})",
            locator="bands",
        )
    bands = list(asked)
    for layer in config.layers if not asked else ():
        if layer.collection != collection:
            continue
        # A configured layer's expression, checked as the configuration checks it.
        bands.extend(parse_expression(layer.expression, found.bands).bands)
        if layer.cloud_mask and found.cloud_mask is not None:
            bands.append(found.cloud_mask.band)
    return tuple(dict.fromkeys(map(found.item_band, bands)))


def acquired(time: str | None, days: int | None, now: datetime) -> TimeRange:
    """The acquisition times to index: ``time`` as the doors read TIME (a date, start/end,
    ``2025-06``), or the last ``days`` days up to ``now``; exactly one of them."""
    if (time is None) == (days is None):
        raise InvalidParameterValue("give either a time or a number of days", locator="time")
    if days is not None:
        return TimeRange(now - timedelta(days=days), None)
    return parse_time(time)


def scene_query(
    collection: str,
    bbox: tuple[float, float, float, float] | None,
    time: TimeRange,
) -> PageQuery:
    """The paged search of the scenes to index (newest first: PageQuery's default order)."""
    area = op("s_intersects", {"property": "geometry"}, box_polygon(bbox)) if bbox else None
    return PageQuery((collection,), filter=cql2_text(all_of([area, time_range(time)])))


def index_scenes(
    catalog: PagedCatalog,
    reader: SceneReader,
    query: PageQuery,
    bands: tuple[str, ...],
    *,
    max_scenes: int,
    progress: Progress | None = None,
) -> IndexingResult:
    """Index the remote JPEG 2000 files of ``bands`` of the scenes ``query`` finds (at most
    ``max_scenes``), a scene's files side by side (``SceneReader.make_indexes``). The quota
    used up ends the run (``stopped``); what it indexed is kept."""
    indexes = reader.indexes
    if indexes is None:
        raise InvalidParameterValue(
            "tile-part indexes are turned off (GATEWAY_S3_JP2_TILE_INDEX=false)"
        )
    result = IndexingResult()
    wanted = set(bands)
    matched = catalog.search_page(replace(query, limit=0)).matched
    total = max_scenes if matched is None else min(matched, max_scenes)
    for scene in _first(catalog.scan(query), max_scenes, result):
        paths = [
            path
            for asset in scene.assets
            if asset.band in wanted
            and indexes.applies(path := reader.storage.gdal_path(asset.href), asset.shape)
        ]
        paths = list(dict.fromkeys(paths))
        result.scenes += 1
        result.files += len(paths)
        missing = [path for path in paths if indexes.opened(path) is None]
        result.known += len(paths) - len(missing)
        try:
            opened = reader.make_indexes(missing)
        except QuotaExhausted as exc:
            result.stopped = exc.message
            break
        for path in missing:
            if opened[path] != path:
                result.indexed += 1
            elif indexes.opened(path) is not None:  # kept as a file opened as it is
                result.as_is += 1
            else:
                result.failed += 1
                result.failures.append(path)
        if progress is not None:
            progress(result.scenes, total, scene.id)
    return result


def _first(scenes: Iterator[Scene], most: int, result: IndexingResult) -> Iterator[Scene]:
    """The first ``most`` of ``scenes``; a further one is noted in ``result.more``."""
    for count, scene in enumerate(scenes):
        if count == most:
            result.more = True
            return
        yield scene
