"""Read the source window a grid needs, then warp it onto the grid in memory.

Why not a WarpedVRT per read (rio-tiler's ``part``): measured on a 512 px metatile of a 10 m
band (bench/bench_render.py), reading the window once and warping the array with GDAL's
warper costs about half, and far less again when the window holds no nodata pixel, because
GDAL then takes its unmasked bilinear kernel. Pixels that no source pixel covers stay NaN.

Zoomed-out grids read a reduced-resolution level of the file (a JPEG 2000 resolution level or
a COG overview): the coarsest level whose pixels are not larger than the grid's, as GDAL's
warper picks by itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.io import DatasetReader
from rasterio.warp import reproject
from rasterio.windows import Window

from gateway.core import remap
from gateway.core.grid import Grid

# Source pixels read beyond the grid's footprint on each side (bilinear/cubic neighbours).
MARGIN = 3


def overview_factor(src: DatasetReader, grid: Grid) -> int:
    """The decimation of the coarsest file level whose pixels are no larger than the grid's."""
    source_res = min(abs(src.transform.a), abs(src.transform.e))
    ratio = grid.resolution_in(src.crs) / source_res
    fitting = [f for f in src.overviews(1) if f <= ratio * 1.001]
    return max(fitting, default=1)


def source_window(src: DatasetReader, grid: Grid, factor: int) -> Window | None:
    """The window of ``src`` (aligned to ``factor``) covering ``grid``, or None if outside."""
    minx, miny, maxx, maxy = grid.bounds_in(src.crs)
    inverse = ~src.transform
    cols, rows = zip(*(inverse @ (x, y) for x, y in ((minx, maxy), (maxx, miny))), strict=True)
    pad = MARGIN * factor
    col0 = max(0, (math.floor(min(cols)) - pad) // factor * factor)
    row0 = max(0, (math.floor(min(rows)) - pad) // factor * factor)
    col1 = min(src.width, math.ceil(max(cols)) + pad)
    row1 = min(src.height, math.ceil(max(rows)) + pad)
    if col1 <= col0 or row1 <= row0:
        return None
    return Window(col0, row0, col1 - col0, row1 - row0)


@dataclass(frozen=True)
class SourceArray:
    """A window of one band as stored (DN), with its georeferencing and nodata value."""

    array: np.ndarray  # (h, w)
    transform: Affine
    crs: CRS
    nodata: float | None

    @property
    def footing(self) -> tuple:
        """What arrays must share to be warped in one call."""
        return (self.array.shape, self.array.dtype.str, self.transform, self.crs, self.nodata)


def read_window(src: DatasetReader, grid: Grid, *, nodata: float | None) -> SourceArray | None:
    """The part of band 1 of ``src`` that ``grid`` needs, at the fitting level, or None."""
    factor = overview_factor(src, grid)
    window = source_window(src, grid, factor)
    if window is None:
        return None
    shape = (math.ceil(window.height / factor), math.ceil(window.width / factor))
    array = src.read(1, window=window, out_shape=shape, resampling=Resampling.nearest)
    transform = src.window_transform(window) @ Affine.scale(
        window.width / shape[1], window.height / shape[0]
    )
    return SourceArray(array, transform, src.crs, nodata)


def warp(sources: list[SourceArray | None], grid: Grid, *, resampling: str) -> np.ndarray:
    """``sources`` on ``grid``: float32 (n, h, w), NaN where no valid source pixel is.

    Sources with the same footing (the bands of one scene at one resolution) are warped in
    one GDAL call, which computes the pixel mapping once for all of them.
    """
    out = np.full((len(sources), grid.height, grid.width), np.nan, dtype=np.float32)
    groups: dict[tuple, list[int]] = {}
    for index, source in enumerate(sources):
        if source is not None:
            groups.setdefault(source.footing, []).append(index)
    for indexes in groups.values():
        members = [sources[i] for i in indexes]
        stack = np.stack([member.array for member in members])  # type: ignore[union-attr]
        in_place = indexes == list(range(indexes[0], indexes[-1] + 1))
        if in_place:
            target = out[indexes[0] : indexes[-1] + 1]  # a view of consecutive bands
        else:
            target = np.full((len(indexes), grid.height, grid.width), np.nan, dtype=np.float32)
        _warp_stack(stack, members[0], target, grid, resampling=resampling)  # type: ignore[arg-type]
        if not in_place:
            out[indexes] = target
    return out


def _warp_stack(
    stack: np.ndarray, first: SourceArray, out: np.ndarray, grid: Grid, *, resampling: str
) -> None:
    """Warp ``stack`` (n, h, w) into ``out`` (n, H, W, pre-filled with NaN) on ``grid``.

    Without nodata in the stack GDAL's unmasked kernels run (the common case inside a
    scene); with some, nodata pixels are left out of every output pixel's kernel.
    """
    nodata = first.nodata
    masked = nodata is not None and bool((stack == nodata).any())
    if not masked and _remapped(stack, first, out, grid, resampling=resampling):
        return
    if not masked and resampling in _NO_OVERSHOOT and _integer_fill(stack.dtype, nodata):
        # GDAL's integer kernels are about 1.6x faster than its float ones: warp in the
        # stored type (bilinear rounds to whole DN, < 0.5 DN), pixels left at nodata are none.
        native = np.full(out.shape, nodata, dtype=stack.dtype)
        _reproject(stack, native, first, grid, resampling=resampling, init=False)
        np.copyto(out, native, where=native != nodata, casting="unsafe")
        return
    options = {"src_nodata": nodata, "dst_nodata": np.nan} if masked else {}
    _reproject(stack, out, first, grid, resampling=resampling, init=masked, **options)


def _remapped(
    stack: np.ndarray, first: SourceArray, out: np.ndarray, grid: Grid, *, resampling: str
) -> bool:
    """Warp with OpenCV where its kernel is GDAL's (see remap.py); False if it is not."""
    if not remap.applies(resampling, stack.dtype):
        return False
    pieces = remap.plan(first.transform, first.crs, stack.shape[1:], grid, resampling=resampling)
    if pieces is None:
        return False
    remap.fill(stack, pieces, out, resampling)
    return True


# Kernels whose results stay within their inputs' range (cubic and lanczos overshoot, and an
# overshoot clipped to nodata would be a hole).
_NO_OVERSHOOT = frozenset({"nearest", "bilinear", "average", "mode", "min", "max", "med"})


def _integer_fill(dtype: np.dtype, nodata: float | None) -> bool:
    """True when ``nodata`` can mark unfilled pixels of an integer warp: no interpolation of
    valid values (all above it, or all below) ever rounds to it."""
    if nodata is None or not np.issubdtype(dtype, np.integer):
        return False
    info = np.iinfo(dtype)
    return nodata in (info.min, info.max)


def _reproject(
    stack: np.ndarray,
    out: np.ndarray,
    first: SourceArray,
    grid: Grid,
    *,
    resampling: str,
    init: bool,
    **options: float | None,
) -> None:
    reproject(
        stack,
        out,
        src_transform=first.transform,
        src_crs=first.crs,
        dst_transform=grid.transform,
        dst_crs=grid.crs,
        resampling=Resampling[resampling],
        init_dest_nodata=init,
        num_threads=1,
        **options,
    )
