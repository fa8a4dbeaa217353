"""Which source a map reads, by the size of its pixels: the one choice every door shares.

A zoomed-out map of JPEG 2000 bands with no coarser file (B08 exists at 10 m only) reads
whole 100 MB files however it decodes them. Two things bound that, both decided here from the
output's pixel size in ground metres at its centre (``ground_resolution``):

- A layer's configured **overview source** (``LayerConfig.overview``): beyond its
  ``beyond_m``, the map is drawn from another collection (the quarterly mosaics' COGs, whose
  overviews are read at the output's size), searched over the ``time_days`` up to the end of
  the request's period. The picture is then the mosaic, not the day asked for.
- Sentinel Hub's ``PREVIEW`` (0, 1, 2; ``Preview`` in the configuration): 0 reads scenes for
  pixels up to ``full_max_m`` (200 m) and answers "zoom in" (``ZoomIn``) beyond; 1 goes on up
  to ``low_max_m`` (1500 m) as a bounded preview (at most ``max_scenes`` scenes, the first in
  mosaic order) and answers "zoom in" beyond; 2 goes on at any size, beyond ``low_max_m`` on
  the last ``last_days`` days of the period only. Unlike Sentinel Hub, clouds stay masked
  in a preview (the classification band is read from its 60 m file there).

``resolve`` runs when a request is built (``gateway.core.request``), ``bound_scenes`` when
the engine has its scenes (``gateway.core.engine``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING

from rasterio.crs import CRS

from gateway.core.catalog import Scene, TimeRange
from gateway.core.grid import WGS84, Grid
from gateway.core.transforms import transformer
from gateway.errors import InvalidParameterValue, LimitExceeded

if TYPE_CHECKING:  # types only: the core reads the configuration it is handed
    from gateway.config import GatewayConfig, LayerConfig, Preview

MODES = (0, 1, 2)
WEB_MERCATOR = CRS.from_epsg(3857)
_MAX_LATITUDE = 85.0


class ZoomIn(LimitExceeded):
    """The map's pixels are coarser than its PREVIEW mode reads: zoom in (or ask PREVIEW=1/2).
    An InvalidParameterValue (locator ``preview``) in every door's exception format."""


def parse_preview(value: int | str | None, default: int) -> int:
    """``PREVIEW`` as a mode 0, 1 or 2 (``default`` when absent); InvalidParameterValue else."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return default
    text = str(value).strip()
    if text not in {str(mode) for mode in MODES}:
        raise InvalidParameterValue("PREVIEW must be 0, 1 or 2", locator="preview")
    return int(text)


def ground_resolution(grid: Grid) -> float:
    """Ground metres of one output pixel (its finer side) at the grid's centre."""
    west, south, east, north = grid.bounds_in(WGS84)
    lon = (west + east) / 2
    lat = min(max((south + north) / 2, -_MAX_LATITUDE), _MAX_LATITUDE)
    at = transformer(WGS84, WEB_MERCATOR).transform(lon, lat)
    return grid.resolution_in(WEB_MERCATOR, at) * math.cos(math.radians(lat))


@dataclass(frozen=True)
class Source:
    """What a request reads: a collection, an expression, a period, whether clouds are masked,
    the scenes' cloud cover at most; ``preview``: past ``full_max_m``, where the engine bounds
    the scenes read."""

    collection: str
    expression: str
    time: TimeRange
    cloud_mask: bool
    max_cloud_cover: float | None = None
    preview: bool = False


def resolve(
    config: GatewayConfig,
    layer: LayerConfig | None,
    grid: Grid,
    mode: int,
    asked: Source,
    *,
    own_expression: bool,
) -> Source:
    """The source of a request for ``asked`` on ``grid`` in PREVIEW ``mode``: the layer's
    overview source beyond its threshold (when the request reads the layer's own expression,
    ``own_expression``: ``reads_layer``), and the PREVIEW bounds (ZoomIn beyond them)."""
    policy = config.preview
    metres = ground_resolution(grid)
    limit = policy.full_max_m if mode == 0 else policy.low_max_m if mode == 1 else math.inf
    if metres > limit:
        raise ZoomIn(
            f"the map's pixels are {metres:,.0f} m, coarser than PREVIEW={mode} reads "
            f"({limit:,.0f} m): zoom in, or ask PREVIEW={mode + 1}",
            locator="preview",
        )
    source = asked
    if mode == 2 and metres > policy.low_max_m:
        last = _last_days(source.time, policy.last_days)
        if source.time.start is not None and last.start is not None:
            last = TimeRange(max(source.time.start, last.start), last.end)
        source = replace(source, time=last)
    overview = layer.overview if layer is not None else None
    expression = _overview_expression(layer, asked.expression) if own_expression else None
    if overview is not None and expression is not None and metres > overview.beyond_m:
        collection = config.collection(overview.collection)
        assert collection is not None  # the configuration checked it
        source = Source(
            collection=collection.id,
            expression=expression,
            time=_last_days(source.time, overview.time_days),
            cloud_mask=source.cloud_mask and collection.cloud_mask is not None,
            max_cloud_cover=None,  # a mosaic has no cloud cover to filter by
        )
    return replace(source, preview=metres > policy.full_max_m)


def drawing_notes(
    config: GatewayConfig, layer: LayerConfig | None, grid: Grid, asked: Source, source: Source
) -> tuple[str, ...]:
    """What ``resolve`` changed, in words (Sentinel Hub's ``WARNINGS``): the overview source
    drawn from, a preview's bound on scenes, a PREVIEW=2 period cut to its last days."""
    notes: list[str] = []
    overview = layer.overview if layer is not None else None
    redrawn = overview is not None and source.collection != asked.collection
    if not (redrawn or source.preview or source.time != asked.time):
        return ()
    metres = ground_resolution(grid)
    if overview is not None and redrawn:
        notes.append(
            f"drawn from the overview source {source.collection} (pixels of {metres:,.0f} m,"
            f" beyond {overview.beyond_m:,.0f} m)"
        )
    policy = config.preview
    if source.preview:
        notes.append(
            f"a preview of at most {policy.max_scenes} scenes (pixels of {metres:,.0f} m,"
            f" beyond {policy.full_max_m:,.0f} m)"
        )
    if source.collection == asked.collection and source.time != asked.time:
        notes.append(f"the last {policy.last_days} days of TIME only (PREVIEW=2)")
    return tuple(notes)


def reads_layer(layer: LayerConfig | None, collection: str, expression: str) -> bool:
    """True when a request reads ``layer``'s own collection and some of its outputs (whether a
    door named them again or not: a WCS or OGC API coverage of the layer's fields, or some)."""
    outputs = _outputs(expression)
    return (
        layer is not None
        and collection == layer.collection
        and bool(outputs)
        and set(outputs) <= set(_outputs(layer.expression))
    )


def _overview_expression(layer: LayerConfig | None, expression: str) -> str | None:
    """What a request of ``layer``'s outputs ``expression`` reads from its overview source:
    the overview's own expression for all of them, else the same outputs (None when the
    overview has an expression of its own and only some outputs are asked)."""
    overview = layer.overview if layer is not None else None
    if overview is None:
        return None
    if overview.expression is None:
        return expression.strip()
    whole = _outputs(expression) == _outputs(layer.expression)  # type: ignore[union-attr]
    return overview.expression.strip() if whole else None


def _outputs(expression: str) -> list[str]:
    return [part.strip() for part in expression.split(";") if part.strip()]


def bound_scenes(policy: Preview, preview: bool, scenes: list[Scene]) -> list[Scene]:
    """The scenes a request reads: a preview's first ``max_scenes`` (in mosaic order)."""
    return scenes[: bounded_count(policy, preview, len(scenes))]


def bounded_count(policy: Preview, preview: bool, count: int) -> int:
    """How many of ``count`` scenes a request reads: a preview's at most ``max_scenes``."""
    return min(count, policy.max_scenes) if preview else count


def _last_days(period: TimeRange, days: int) -> TimeRange:
    """The ``days`` up to the end of ``period``, earlier or later than its start (unchanged
    without an end)."""
    if period.end is None:
        return period
    return TimeRange(period.end - timedelta(days=days), period.end)
