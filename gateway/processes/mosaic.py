"""Values of an expression over an area, computed in chunks and stitched back together."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gateway.core.grid import Grid
from gateway.processes.area import Area
from gateway.processes.chunks import Chunk
from gateway.processes.common import Source, source_request
from gateway.processes.plan import worker_runtime
from gateway.settings import Settings


@dataclass
class Values:
    """float32 outputs (n, h, w) and a validity mask on the area's grid."""

    data: np.ndarray
    valid: np.ndarray
    grid: Grid
    names: tuple[str, ...]


def chunk_values(settings: Settings, source: Source, area: Area, chunk: Chunk) -> tuple:
    """One chunk's outputs and validity (outside the polygon is invalid)."""
    runtime = worker_runtime(settings)
    raster = runtime.engine.compute(source_request(runtime, source, chunk.grid))
    valid = raster.valid & area.mask(chunk.grid) & np.all(np.isfinite(raster.data), axis=0)
    return raster.data.astype(np.float32), valid


def stitch(
    area: Area, names: tuple[str, ...], chunks: Sequence[Chunk], parts: Sequence[tuple]
) -> Values:
    grid = area.grid
    data = np.full((len(names), grid.height, grid.width), np.nan, dtype=np.float32)
    valid = np.zeros((grid.height, grid.width), dtype=bool)
    for chunk, (values, ok) in zip(chunks, parts, strict=True):
        rows = slice(chunk.row, chunk.row + chunk.grid.height)
        cols = slice(chunk.col, chunk.col + chunk.grid.width)
        data[:, rows, cols] = values
        valid[rows, cols] = ok
    return Values(data, valid, grid, names)
