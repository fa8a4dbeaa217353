"""Read the source window a grid needs, then warp it onto the grid in memory.

Why not a WarpedVRT per read (rio-tiler's ``part``): measured on a 512 px metatile of a 10 m
band (bench/bench_render.py), reading the window once and warping the array with GDAL's
warper costs about half, and far less again when the window holds no nodata pixel, because
GDAL then takes its unmasked kernels. Pixels that no source pixel covers stay NaN.

A pixel's value depends on the output grid (CRS, resolution, its position), the resampling
and the data only, never on the window asked (tests/test_window_independence.py):

- the file level read (a JPEG 2000 resolution level or a COG overview: the coarsest whose
  pixels are not larger than the grid's, as GDAL's warper picks by itself) is chosen from the
  grid's pixel size at the file's centre, and read from that level as it is stored;
- the window read holds every source pixel of every kernel that an output pixel uses;
- the warp computes whole pieces of the grid's lattice cells (lattice.py, pieces.py), each on
  its own: by OpenCV (remap.py), GDAL's downsampling bilinear by a kernel of our own
  (tent.py), else by one GDAL call per piece with the kernel's scale given (GDAL would take
  it from the chunk's source window, which the window read clips) and an approximate
  transformer within 1/500 pixel of exact;
- nodata pixels, and NaN ones (``nan_as_nodata``), are left out per pixel: where none is
  near, GDAL's masked kernels give what its unmasked ones do (within float rounding) and
  remap.py's masked bilinear is its plain one, so windows with and without nodata agree.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.io import DatasetReader, DatasetWriter
from rasterio.warp import reproject
from rasterio.windows import Window

from gateway.core import lattice, pieces, remap, tent
from gateway.core.grid import Grid
from gateway.core.transforms import gdal_operation

# Source pixels each kernel reaches from an output pixel's centre (downsampling widens them by
# the span), plus one for rounding and rotation.
KERNEL_RADIUS = {"nearest": 1, "bilinear": 1, "cubic": 2, "average": 1}
# GDAL's warp memory limit: above any source array and piece, so a piece is never split.
WARP_MEMORY_MB = 4096
# The error GDAL's approximate transformer may make, in source pixels: values within 3 DN of
# exact transforms on the sample's sharpest field edges, 0.05 DN on average
# (tests/test_warp.py), where GDAL's default, 1/8 pixel, was up to 95 DN off. 1/4000 pixel
# gives 0.5 DN for 1.5x the warp time (bench/bench_render.py, zoom 11-13).
GDAL_ERROR_PX = 0.002


def overview_factor(src: DatasetReader, grid: Grid) -> int:
    """The decimation of the coarsest file level whose pixels are no larger than the grid's,
    measured at the file's centre (the same for every window of the grid)."""
    source_res = min(abs(src.transform.a), abs(src.transform.e))
    ratio = grid.resolution_in(src.crs, _centre(src)) / source_res
    return max((f for f in src.overviews(1) if f <= ratio * 1.001), default=1)


def overview_level(src: DatasetReader, grid: Grid) -> int | None:
    """The index of that level among ``src``'s overviews (for ``overview_level=``), or None
    for the full resolution."""
    factor = overview_factor(src, grid)
    return src.overviews(1).index(factor) if factor > 1 else None


def kernel_span(src: DatasetReader, grid: Grid) -> tuple[float, float]:
    """Pixels of ``src`` (a file or one of its levels) that one grid pixel spans along the
    source's x and y axes, at the file's centre: GDAL's kernel scale when downsampling (its
    ``XSCALE``/``YSCALE`` inverted), the same for every window of the grid."""
    steps = grid.pixel_steps(src.crs, _centre(src))
    if steps is None:
        source_res = min(abs(src.transform.a), abs(src.transform.e))
        ratio = grid.resolution_in(src.crs, _centre(src)) / source_res
        return ratio, ratio
    x, y = np.abs(steps).sum(axis=0)  # a column's and a row's extents along x and along y
    return float(x / abs(src.transform.a)), float(y / abs(src.transform.e))


def _centre(src: DatasetReader) -> tuple[float, float]:
    return src.transform @ (src.width / 2, src.height / 2)


def source_window(src: DatasetReader, grid: Grid, margin: tuple[int, int]) -> Window | None:
    """The window of ``src`` covering ``grid`` and ``margin`` (columns, rows) around, or None."""
    minx, miny, maxx, maxy = grid.bounds_in(src.crs)
    inverse = ~src.transform
    cols, rows = zip(*(inverse @ (x, y) for x, y in ((minx, maxy), (maxx, miny))), strict=True)
    col0 = max(0, math.floor(min(cols)) - margin[0])
    row0 = max(0, math.floor(min(rows)) - margin[1])
    col1 = min(src.width, math.ceil(max(cols)) + margin[0])
    row1 = min(src.height, math.ceil(max(rows)) + margin[1])
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
    span: tuple[float, float]  # kernel_span of the file level it comes from

    @property
    def footing(self) -> tuple:
        """What arrays must share to be warped in one call."""
        return (
            self.array.shape,
            self.array.dtype.str,
            self.transform,
            self.crs,
            self.nodata,
            self.span,
        )


def read_window(
    src: DatasetReader,
    grid: Grid,
    *,
    nodata: float | None,
    resampling: str = "bilinear",
    flags: bool = False,
) -> SourceArray | None:
    """The part of band 1 of ``src`` (a file, or one level of it opened with
    ``overview_level``) that ``grid`` needs with ``resampling``, as stored, or None.

    With ``flags``, every band of ``src`` is read and packed into one value of bits: bit i
    is set where band i+1 is not 0 (the L1C cloud mask's opaque, cirrus and snow bands give
    1, 2 and 4)."""
    span = kernel_span(src, grid)
    radius = KERNEL_RADIUS.get(resampling, 3)
    margin = [math.ceil((radius + 1) * max(1.0, s)) + 1 for s in span]
    window = source_window(src, grid, (margin[0], margin[1]))
    if window is None:
        return None
    if flags:
        planes = src.read(window=window)
        array = np.zeros(planes.shape[1:], dtype=np.uint8)
        for bit, plane in enumerate(planes):
            array |= (plane != 0).astype(np.uint8) << bit
    else:
        array = src.read(1, window=window)
        nodata = nan_as_nodata(array, nodata)
    return SourceArray(array, src.window_transform(window), src.crs, nodata, span)


def nan_as_nodata(array: np.ndarray, nodata: float | None) -> float | None:
    """Set ``array``'s NaN pixels (CDSE's Sentinel-1 mosaics mark radar shadow and layover so,
    besides their nodata) to ``nodata``, in place, and return the nodata value to warp with:
    ``nodata``, or the float type's lowest where it is None or NaN, so that the masked kernels
    leave NaN pixels out as they do nodata ones."""
    if array.dtype.kind != "f":
        return nodata
    nan = np.isnan(array)
    if not nan.any():
        return nodata
    if nodata is None or math.isnan(nodata):
        nodata = float(np.finfo(array.dtype).min)
    array[nan] = nodata
    return nodata


def warp(sources: list[SourceArray | None], grid: Grid, *, resampling: str) -> np.ndarray:
    """``sources`` on ``grid``: float32 (n, h, w), NaN where no valid source pixel is.

    Sources with the same footing (the bands of one scene at one resolution) are warped
    together, which computes the pixel mapping once for all of them.
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
    """Warp ``stack`` (n, h, w) into ``out`` (n, H, W, pre-filled with NaN) on ``grid``, in
    whole pieces of its lattice cells (pieces.py)."""
    cover = lattice.cover(grid)
    plan = pieces.plan(
        first.transform,
        first.crs,
        stack.shape[1:],
        cover,
        resampling=resampling,
        opencv=pieces.opencv_kernel(resampling, stack.dtype, first.span),
        tent=tent.applies(resampling, first.span),
        span=max(first.span),
    )
    nodata = first.nodata
    invalid = (stack == nodata).any(axis=0) if nodata is not None else None
    masked = invalid is not None and bool(invalid.any())
    cells = out
    if not cover.is_window:
        cells = np.full((len(stack), cover.grid.height, cover.grid.width), np.nan, np.float32)
    remap.fill(
        stack,
        [p for p in plan if p.kernel in pieces.OPENCV_KERNELS],
        cells,
        resampling,
        nodata if masked else None,
    )
    tent_pieces = [piece for piece in plan if piece.kernel == "tent"]
    tent.fill(stack, tent_pieces, cells, first.span, invalid if masked else None)
    gdal = [piece for piece in plan if piece.kernel in pieces.GDAL_KERNELS]
    if gdal:
        with _in_memory(stack, first.transform, first.crs) as source:
            for piece in gdal:
                _gdal_piece(
                    source, first, cells, cover.grid, piece, resampling=resampling, masked=masked
                )
    if cells is not out:
        out[...] = cells[:, cover.rows, cover.cols]


@contextmanager
def _in_memory(array: np.ndarray, transform: Affine, crs: CRS) -> Iterator[DatasetWriter]:
    """A GDAL in-memory dataset holding a copy of ``array`` (n, h, w). rasterio's
    ``reproject`` of arrays makes such datasets inside ``warnings.catch_warnings()``, which
    swaps the process's warning filters and is not thread-safe: requests warping side by side
    logged a spurious ``NotGeoreferencedWarning`` and could leave every later warning
    ignored."""
    count, height, width = array.shape
    with rasterio.open(
        "", "w+", driver="MEM", width=width, height=height, count=count,
        dtype=array.dtype, crs=crs, transform=transform,
    ) as dataset:  # fmt: skip
        dataset.write(array)
        yield dataset


def _gdal_piece(
    source: DatasetWriter,
    first: SourceArray,
    cells: np.ndarray,
    grid: Grid,
    piece: pieces.Piece,
    *,
    resampling: str,
    masked: bool,
) -> None:
    """GDAL's warp of one whole piece of ``grid`` into ``cells``, the same whatever part of it
    the source array covers: ``XSCALE``/``YSCALE`` fix the kernel's scale (GDAL would measure
    it on the chunk's source window, which the window read clips), and the piece is one chunk
    (no split by the source's fill ratio or by memory), so its approximate transformer samples
    the same rows."""
    size = piece.rows.stop - piece.rows.start
    bands = list(range(1, source.count + 1))
    options: dict[str, float | str | None] = {
        "tolerance": 0.0 if piece.kernel == "exact" else GDAL_ERROR_PX,
        "warp_mem_limit": WARP_MEMORY_MB,
        "SRC_FILL_RATIO_HEURISTICS": "NO",
    }
    if masked:
        options.update(src_nodata=first.nodata, dst_nodata=np.nan)
    options.update(XSCALE=repr(1 / first.span[0]), YSCALE=repr(1 / first.span[1]))
    options.update(gdal_operation(first.crs, grid.crs))
    target = grid.window(piece.cols.start, piece.rows.start, size, size)
    empty = np.full((source.count, size, size), np.nan, np.float32)
    with _in_memory(empty, target.transform, grid.crs) as values:
        reproject(
            rasterio.band(source, bands),
            rasterio.band(values, bands),
            resampling=Resampling[resampling],
            init_dest_nodata=False,
            num_threads=1,
            **options,
        )
        cells[:, piece.rows, piece.cols] = values.read()
