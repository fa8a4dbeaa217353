"""Composite ordered scenes into one raster, first valid pixel wins."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
from shapely.geometry import box, shape

from gateway.core.catalog import Scene
from gateway.core.grid import WGS84, Grid, Raster
from gateway.core.reader import SceneReader
from gateway.core.sar.calibration import SarOptions

if TYPE_CHECKING:  # types only: the core reads the configuration it is handed
    from gateway.config import CollectionConfig


def mosaic(
    scenes: Iterable[Scene],
    bands: tuple[str, ...],
    grid: Grid,
    collection: CollectionConfig,
    reader: SceneReader,
    *,
    resampling: str = "bilinear",
    cloud_mask: bool = False,
    sar: SarOptions | None = None,
) -> Raster:
    """Fill ``grid`` from ``scenes`` in their order, taking no more once it is full.

    A pixel is taken from a scene only where every band is valid and, with
    ``cloud_mask``, where the collection's classification band is not cloud or shadow.
    Scenes whose footprint misses the grid's ``search_bounds`` are not read.
    """
    shape_hw = (grid.height, grid.width)
    data = np.full((len(bands), *shape_hw), np.nan, dtype=np.float32)
    filled = np.zeros(shape_hw, dtype=bool)
    source = np.full(shape_hw, -1, dtype=np.int16)
    used: list[Scene] = []
    mask_classes = None
    if cloud_mask and collection.cloud_mask is not None:
        mask_classes = (collection.cloud_mask.band, collection.cloud_mask.classes)
    area = box(*search_bounds(grid, collection))
    for scene in scenes:
        if not shape(scene.geometry).intersects(area):
            continue
        read = reader.read(
            scene,
            bands,
            grid,
            collection,
            resampling=resampling,
            mask_classes=mask_classes,
            sar=sar,
        )
        if read is None:
            continue
        take = read.valid & ~filled
        if not take.any():
            continue
        for index, band in enumerate(bands):
            data[index][take] = read.bands[band][take]
        source[take] = len(used)
        used.append(scene)
        filled |= take
        if filled.all():
            break
    return Raster(
        data=data,
        valid=filled,
        grid=grid,
        band_names=bands,
        source=source,
        scenes=tuple(used),
    )


def search_bounds(
    grid: Grid, collection: CollectionConfig | None
) -> tuple[float, float, float, float]:
    """The longitude/latitude bounds whose scenes may hold ``grid``'s pixels: the grid's,
    grown by the collection's ``footprint_pad`` (within the globe's)."""
    west, south, east, north = grid.bounds_in(WGS84)
    pad = collection.footprint_pad if collection is not None else 0.0
    if not pad:
        return west, south, east, north
    return (
        max(-180.0, west - pad),
        max(-90.0, south - pad),
        min(180.0, east + pad),
        min(90.0, north + pad),
    )
