"""The one normalised render request every door builds, and the parsers doors share."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from gateway.core.catalog import ORDERS, NearestTo, Order, SceneOrder, TimeRange
from gateway.core.crs import Bounds, parse_crs
from gateway.core.dates import TimeChoice, TimePolicy, parse_time, single_value
from gateway.core.grid import Grid
from gateway.core.preview import (
    Source,
    drawing_notes,
    ground_resolution,
    parse_preview,
    reads_layer,
    resolve,
)
from gateway.core.render import LOSSY_FORMATS, parse_format
from gateway.core.sar.calibration import SarOptions
from gateway.core.scripts import check_bands
from gateway.core.shparams import parse_geometry, parse_quality, parse_warnings, sh_resampling
from gateway.core.terrain import Terrain
from gateway.errors import InvalidParameterValue, LimitExceeded, NotFound

if TYPE_CHECKING:  # types only: the core reads the configuration it is handed
    from gateway.config import CollectionConfig, GatewayConfig, LayerConfig, Limits
    from gateway.core.scripts import PixelScript

RESAMPLINGS = ("nearest", "bilinear", "cubic", "average")
MAX_PIXELS_PER_AXIS = 10**7  # beyond any sensible size limit


def parse_bbox(text: str, locator: str = "bbox") -> Bounds:
    """``minx,miny,maxx,maxy`` -> four finite floats, or InvalidParameterValue."""
    return bbox_numbers(text.split(","), locator)


def bbox_numbers(values: Sequence[str], locator: str = "bbox") -> Bounds:
    """Four texts of a box's corners -> four finite floats, or InvalidParameterValue (NaN and
    infinities are refused here, for every door; ``check_area`` bounds the box later)."""
    if len(values) != 4:
        raise InvalidParameterValue("a box needs four numbers", locator=locator)
    try:
        numbers = tuple(float(v) for v in values)
    except ValueError:
        raise InvalidParameterValue("a box needs four numbers", locator=locator) from None
    if not all(math.isfinite(v) for v in numbers):
        raise InvalidParameterValue("the box must have finite coordinates", locator=locator)
    return numbers  # type: ignore[return-value]


def count_pixels(extent: float, resolution: float, locator: str = "size") -> int:
    """Pixels of ``resolution`` across ``extent`` (at least 1); LimitExceeded for counts no
    configured limit allows (so no client number overflows an integer conversion)."""
    count = extent / resolution if resolution > 0 else math.inf
    if not count <= MAX_PIXELS_PER_AXIS:
        raise LimitExceeded("the resolution asks for too many pixels", locator=locator)
    return max(1, round(count))


def parse_size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` -> (width, height)."""
    match = re.fullmatch(r"\s*(\d{1,6})\s*[xX,]\s*(\d{1,6})\s*", text)
    if not match:
        raise InvalidParameterValue("size must be WIDTHxHEIGHT", locator="size")
    return int(match.group(1)), int(match.group(2))


LEAST_TIME_DIFFERENCE = "leasttimedifference"  # Sentinel Hub's: see least_time_difference


def parse_order(
    text: str | None, default: Order, nearest_first: SceneOrder = "mostRecent"
) -> SceneOrder:
    """PRIORITY as one of ``ORDERS``; Sentinel Hub's ``leastTimeDifference`` is
    ``nearest_first``, the order that puts the scenes nearest the requested time first."""
    if text is None or text == "":
        return default
    if text.strip().lower() == LEAST_TIME_DIFFERENCE:
        return nearest_first
    for order in ORDERS:
        if order.lower() == text.strip().lower():
            return order
    raise InvalidParameterValue(
        f"unknown order; use one of {', '.join(ORDERS)}, leastTimeDifference", locator="priority"
    )


def least_time_difference(choice: TimeChoice, asked: str | None) -> SceneOrder:
    """The order of the scenes nearest the requested time first. A single TIME that is an
    instant (a date and time of day) orders them by their time distance to it, in the day
    it is moved to as well. A period is read up to the end of TIME, so its scenes nearest
    that end are the most recent; a single date with no acquisition moved to a later
    acquisition day (``TimeChoice.nearest``) reads scenes all after it, the earliest nearest."""
    if asked is None or choice.default or choice.period.start is None:
        return "mostRecent"
    period = parse_time(asked)
    if single_value(asked) and period.start is not None and period.start == period.end:
        return NearestTo(period.start)
    if not choice.nearest:
        return "mostRecent"
    end = period.end
    return "leastRecent" if end is not None and end < choice.period.start else "mostRecent"


def parse_maxcc(value: float | str | None) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        raise InvalidParameterValue("maxcc must be a number 0-100", locator="maxcc") from None
    if not 0 <= number <= 100:
        raise InvalidParameterValue("maxcc must be between 0 and 100", locator="maxcc")
    return number


@dataclass(frozen=True)
class RenderRequest:
    """Everything that decides the pixels of one map, normalised and validated."""

    collection: str
    expression: str
    grid: Grid
    style: str
    format: str = "png"
    time: TimeRange = field(default_factory=TimeRange)
    max_cloud_cover: float | None = None
    order: SceneOrder = "mostRecent"
    cloud_mask: bool = False
    resampling: str = "bilinear"
    layer: str | None = None
    # A bounded preview (gateway.core.preview): the engine reads its first scenes only.
    preview: bool = False
    # How TIME was chosen (the default period, the nearest acquisition): for the doors'
    # answers, not the pixels (``time`` holds the period read).
    time_choice: TimeChoice | None = field(default=None, compare=False)
    # Sentinel-1 reading (BACKCOEFF, NOISEREMOVAL, ORBITDIRECTION): in the cache key when it
    # is not the default.
    sar: SarOptions = field(default_factory=SarOptions)
    # A script computing the map in place of ``expression`` and ``style`` (an evalscript);
    # its digest is in the cache key.
    script: PixelScript | None = field(default=None, compare=False)
    # The layer's terrain operation on the expression's heights (gateway.core.terrain).
    terrain: Terrain | None = None
    # Sentinel Hub's GEOMETRY: normalised WKT in the grid's CRS; pixels outside are no data.
    geometry: str | None = None
    # Sentinel Hub's QUALITY of a JPEG or WebP (None for other formats: the encoder's own).
    quality: int | None = None
    # Sentinel Hub's WARNINGS: whether the answer says how the map was drawn (``notes``).
    warnings: bool = field(default=True, compare=False)
    # How the map was drawn other than asked: an overview source, a bounded preview.
    notes: tuple[str, ...] = field(default=(), compare=False)

    def cache_parts(self) -> dict[str, object]:
        """Every field that changes the output bytes, for the cache key."""
        return (
            {
                "collection": self.collection,
                "expression": self.expression,
                "style": self.style,
                "format": self.format,
                "time": self.time.to_stac(),
                "maxcc": self.max_cloud_cover,
                "order": str(self.order),
                "cloud_mask": self.cloud_mask,
                "resampling": self.resampling,
                "preview": self.preview,
                "crs": self.grid.crs.to_string(),
                "bounds": [round(v, 9) for v in self.grid.bounds],
                "size": [self.grid.width, self.grid.height],
            }
            | ({"script": self.script.digest} if self.script is not None else {})
            | (self.sar.cache_parts() if self.sar != SarOptions() else {})
            | ({"terrain": self.terrain} if self.terrain is not None else {})
            | ({"geometry": self.geometry} if self.geometry is not None else {})
            | ({"quality": self.quality} if self.quality is not None else {})
        )


def build_request(
    config: GatewayConfig,
    *,
    bbox: tuple[float, float, float, float],
    crs: str,
    width: int,
    height: int,
    layer: str | None = None,
    collection: str | None = None,
    expression: str | None = None,
    style: str | None = None,
    format: str = "png",
    time: str | None = None,
    maxcc: float | str | None = None,
    order: str | None = None,
    cloud_mask: bool | None = None,
    resampling: str | None = None,
    times: TimePolicy | None = None,
    preview: int | str | None = None,
    sar: SarOptions | None = None,
    evalscript: str | None = None,
    geometry: str | None = None,
    upsampling: str | None = None,
    downsampling: str | None = None,
    quality: str | None = None,
    warnings: str | None = None,
) -> RenderRequest:
    """Resolve a layer's defaults, parse and bound every parameter.

    ``times`` gives TIME its meaning in the doors (``core.dates``: the default period, the
    nearest acquisition, open ends, the span limit); without it ``time`` is read as it is
    (engine-level callers that name their period). ``preview`` is Sentinel Hub's PREVIEW
    (0, 1, 2; the configured default when None): with the layer's overview source, it decides
    what the map reads (``gateway.core.preview.resolve``). ``sar``: the Sentinel-1 options
    (``gateway.core.sar.parse_sar_options``), which other collections ignore. ``evalscript``
    (base64 or the script's text, ``GatewayConfig.script``) computes the pixels in place of
    the expression and style, over the layer's collection (``dataMask``: pixels with data).
    Sentinel Hub's ``geometry`` (WKT in ``crs``) crops the output; its ``upsampling`` and
    ``downsampling``, when given, choose the resampling (``gateway.core.shparams``); its
    ``quality`` is a JPEG's or WebP's, and its ``warnings`` whether the answer carries the
    request's ``notes`` (``warning_header``).
    """
    script = config.script(evalscript)
    layer_conf, collection_conf = _layer_and_collection(config, layer, collection)
    if script is None and layer_conf is not None and not (expression or "").strip():
        script = layer_conf.script()  # a layer defined by an evalscript
    collection_id = collection_conf.id
    if script is not None:
        check_bands(script, collection_conf)
    text = expression or (layer_conf.expression if layer_conf else None)
    if not text and script is not None:
        text = ";".join(script.bands)  # the bands it reads, for the preview's source
    if not text:
        raise InvalidParameterValue("give a layer or an expression", locator="expression")
    _check_size(config.limits, width, height)
    style_name = style or (layer_conf.style if layer_conf else None) or _default_style(text)
    if config.style(style_name) is None:
        raise InvalidParameterValue(
            f"unknown style {style_name[:40]!r}", locator="style", code="StyleNotDefined"
        )
    asked_time = None if collection_conf.timeless else time
    choice = _time_choice(config, collection_id, asked_time, times)
    grid = Grid.of_client(parse_crs(crs), bbox, width, height)
    mode = parse_preview(preview, config.preview.default)
    asked = Source(
        collection=collection_id,
        expression=text.strip(),
        time=choice.period,
        cloud_mask=cloud_mask
        if cloud_mask is not None
        else bool(layer_conf and layer_conf.cloud_mask and script is None),
        max_cloud_cover=parse_maxcc(maxcc),
    )
    own = script is None and reads_layer(layer_conf, collection_id, text)
    source = resolve(config, layer_conf, grid, mode, asked, own_expression=own)
    read = config.collection(source.collection) or collection_conf
    order_default = read.default_order
    if upsampling or downsampling:  # Sentinel Hub's, over the door's default
        pixel_m = ground_resolution(grid)
        resampling = sh_resampling(upsampling, downsampling, pixel_m, read.native_m) or resampling
    fmt = parse_format(format)
    sh_quality = parse_quality(quality)
    return RenderRequest(
        collection=source.collection,
        expression=source.expression,
        grid=grid,
        style=style_name,
        format=fmt,
        time=source.time,
        time_choice=choice,
        max_cloud_cover=source.max_cloud_cover,
        order=parse_order(order, order_default, least_time_difference(choice, asked_time)),
        cloud_mask=source.cloud_mask,
        resampling=_resampling(resampling, layer_conf.resampling if layer_conf else "bilinear"),
        layer=layer_conf.name if layer_conf else None,
        preview=source.preview,
        sar=sar if sar is not None and _reads_sar(config, source.collection) else SarOptions(),
        terrain=layer_conf.terrain if layer_conf is not None and own else None,
        script=script,
        geometry=parse_geometry(geometry),
        quality=sh_quality if fmt in LOSSY_FORMATS else None,
        warnings=parse_warnings(warnings),
        notes=drawing_notes(config, layer_conf, grid, asked, source),
    )


def _reads_sar(config: GatewayConfig, collection: str) -> bool:
    found = config.collection(collection)
    return found is not None and found.kind == "sar-grd"


def _layer_and_collection(
    config: GatewayConfig, layer: str | None, collection: str | None
) -> tuple[LayerConfig | None, CollectionConfig]:
    """The named layer (if any) and the collection asked for or the layer's."""
    layer_conf = None
    if layer is not None:
        layer_conf = config.layer(layer)
        if layer_conf is None:
            raise NotFound(f"unknown layer {layer[:40]!r}", locator="layer", code="LayerNotDefined")
    collection_id = collection or (layer_conf.collection if layer_conf else None)
    if collection_id is None:
        raise InvalidParameterValue("give a layer or a collection", locator="collection")
    collection_conf = config.collection(collection_id)
    if collection_conf is None:
        raise NotFound(f"unknown collection {collection_id[:40]!r}", locator="collection")
    return layer_conf, collection_conf


def _check_size(limits: Limits, width: int, height: int) -> None:
    if width > limits.max_width or height > limits.max_height or width * height > limits.max_pixels:
        raise LimitExceeded(
            f"size {width}x{height} exceeds the limit of {limits.max_width}x{limits.max_height}",
            locator="size",
        )


def _time_choice(
    config: GatewayConfig, collection: str, text: str | None, times: TimePolicy | None
) -> TimeChoice:
    if times is not None:
        return times.resolve(collection, text)
    period = parse_time(text)
    limit = config.limits.max_time_span_days
    bounded = period.start is not None and period.end is not None
    if bounded and period.end - period.start > timedelta(days=limit):  # type: ignore[operator]
        raise LimitExceeded(f"time range longer than {limit} days", locator="time")
    return TimeChoice(period)


def _resampling(value: str | None, default: str) -> str:
    if value is None or value == "":
        return default
    choice = value.strip().lower()
    if choice not in RESAMPLINGS:
        raise InvalidParameterValue(
            f"unknown resampling; use one of {', '.join(RESAMPLINGS)}", locator="resampling"
        )
    return choice


def _default_style(expression: str) -> str:
    outputs = [part for part in expression.split(";") if part.strip()]
    return "true_color" if len(outputs) == 3 else "greyscale"


def warning_header(requests: list[RenderRequest]) -> str | None:
    """HTTP's ``Warning`` when TIME took the default or the nearest value for any request
    (WMS 1.3.0 Annex C: ``99 Nearest value used: time=2025-06-03 ISO8601 (NDVI)``) and when
    a map was drawn other than asked (``199 - "NDVI: ..."``, ``RenderRequest.notes``); None
    with Sentinel Hub's ``WARNINGS=NO``."""
    notes = []
    for request in requests:
        if not request.warnings:
            continue
        choice = request.time_choice
        if choice is not None and choice.used is not None:
            kind = "Nearest" if choice.nearest else "Default"
            notes.append(f"99 {kind} value used: time={choice.used} ISO8601 ({request.layer})")
        name = request.layer or request.collection
        notes.extend(f'199 - "{name}: {note}"' for note in request.notes)
    return ", ".join(notes) or None
