"""``export``: a mosaic of bands or an index over an area, as a COG in the output storage
(a local folder or S3: ``processes.storage``)."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from typing import Any

from gateway.core.render import encode_geotiff
from gateway.processes.area import Area
from gateway.processes.bandmath import plan_values
from gateway.processes.base import GatewayProcessor
from gateway.processes.chunks import Chunk
from gateway.processes.mosaic import stitch
from gateway.processes.plan import Plan
from gateway.processes.storage import store_output
from gateway.runtime import Runtime
from gateway.settings import Settings

COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"


def write_cog(
    settings: Settings,
    area: Area,
    names: tuple[str, ...],
    chunks: Sequence[Chunk],
    name: str,
    parts: Sequence[tuple],
) -> tuple[str, Any]:
    values = stitch(area, names, chunks, parts)
    content = encode_geotiff(
        values.data,
        values.valid,
        crs=values.grid.crs,
        transform=values.grid.transform,
        cog=True,
        band_names=names,
        overview_resampling="average",
    )
    return "application/json", {
        "href": store_output(settings, name, content, COG_TYPE),
        "type": COG_TYPE,
        "crs": values.grid.crs.to_string(),
        "bbox": list(values.grid.bounds),
        "width": values.grid.width,
        "height": values.grid.height,
        "bands": list(names),
    }


def plan_export(inputs: dict[str, Any], runtime: Runtime, settings: Settings) -> Plan:
    source, area, chunks, tasks, units = plan_values(inputs, runtime, settings)
    name = f"export-{uuid.uuid4().hex}.tif"
    combine = functools.partial(write_cog, settings, area, source.names, chunks, name)
    return Plan(tasks=tasks, combine=combine, units=units)


class ExportProcessor(GatewayProcessor):
    """OGC API process ``export``."""

    planner = staticmethod(plan_export)
    metadata_file = "export"
