"""``band-math``: an expression or index over an area as a COG, a PNG or a JSON summary."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from gateway.core.render import MEDIA_TYPES, colorize, encode_geotiff, encode_image
from gateway.errors import InvalidParameterValue
from gateway.processes.area import Area, build_area
from gateway.processes.base import GatewayProcessor
from gateway.processes.chunks import Chunk, split_grid
from gateway.processes.common import resolve_source, source_request, units_of
from gateway.processes.mosaic import Values, chunk_values, stitch
from gateway.processes.plan import Plan, worker_runtime
from gateway.runtime import Runtime
from gateway.settings import Settings

FORMATS = ("cog", "png", "json")


def summary(values: Values) -> dict[str, Any]:
    """Per output: valid pixel count, min, max, mean; and the grid."""
    outputs = {}
    for name, band in zip(values.names, values.data, strict=True):
        picked = band[values.valid].astype(np.float64)
        outputs[name] = {
            "validCount": int(picked.size),
            "min": float(picked.min()) if picked.size else None,
            "max": float(picked.max()) if picked.size else None,
            "mean": float(picked.mean()) if picked.size else None,
        }
    return {
        "crs": values.grid.crs.to_string(),
        "bbox": list(values.grid.bounds),
        "width": values.grid.width,
        "height": values.grid.height,
        "outputs": outputs,
    }


def encode(
    settings: Settings,
    area: Area,
    names: tuple[str, ...],
    chunks: Sequence[Chunk],
    fmt: str,
    style: str,
    parts: Sequence[tuple],
) -> tuple[str, Any]:
    values = stitch(area, names, chunks, parts)
    if fmt == "json":
        return "application/json", summary(values)
    if fmt == "png":
        runtime = worker_runtime(settings)
        chosen = runtime.config.style(style)
        assert chosen is not None  # the planner checked it
        image = colorize(values.data, values.valid, chosen)
        return MEDIA_TYPES["png"], encode_image(image, "png")
    return MEDIA_TYPES["cog"], encode_geotiff(
        values.data,
        values.valid,
        crs=values.grid.crs,
        transform=values.grid.transform,
        cog=True,
        band_names=names,
        overview_resampling="average",
    )


def plan_values(inputs: dict[str, Any], runtime: Runtime, settings: Settings):
    """Source, area, chunks, their tasks and their units, validated (shared by band-math
    and export)."""
    source = resolve_source(runtime.config, inputs)
    area = build_area(inputs)
    # The whole area must fit the engine's size limits, as one map would.
    request = source_request(runtime, source, area.grid)
    runtime.engine.expression(request)
    chunks = split_grid(area.grid)
    tasks = [(chunk_values, (settings, source, area, chunk)) for chunk in chunks]
    units = units_of(runtime, (source_request(runtime, source, chunk.grid) for chunk in chunks))
    return source, area, chunks, tasks, units


def plan_band_math(inputs: dict[str, Any], runtime: Runtime, settings: Settings) -> Plan:
    source, area, chunks, tasks, units = plan_values(inputs, runtime, settings)
    fmt = str(inputs.get("format") or "cog").lower()
    if fmt not in FORMATS:
        raise InvalidParameterValue(f"format must be one of {', '.join(FORMATS)}", locator="format")
    style = str(inputs.get("style") or ("true_color" if len(source.names) == 3 else "greyscale"))
    if fmt == "png" and source.evalscript is not None:
        raise InvalidParameterValue(
            "an evalscript's band-math is cog or json (its picture: WMS GetMap)", locator="format"
        )
    if fmt == "png" and runtime.config.style(style) is None:
        raise InvalidParameterValue("unknown style", locator="style")
    combine = functools.partial(encode, settings, area, source.names, chunks, fmt, style)
    return Plan(tasks=tasks, combine=combine, units=units)


class BandMathProcessor(GatewayProcessor):
    """OGC API process ``band-math``."""

    planner = staticmethod(plan_band_math)
    metadata_file = "band-math"
