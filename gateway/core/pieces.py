"""The pieces a warp is cut into: squares of the output grid's lattice cells, each warped whole.

Each cell of the cover (lattice.py) is cut into square pieces of one size, the largest power
of two from ``CELL`` down to ``MIN_PIECE_PX`` on which the map from output to source pixels
(fitted to exact transforms at 3 x 3 points of each piece) is affine enough for the kernel that
warps the cell:

- ``opencv`` (remap.py), where OpenCV's kernel is GDAL's (nearest; bilinear while an output
  pixel spans at most 1/0.95 source pixels) and the map is affine within ``MAX_ERROR_PX``;
- ``mapped`` (remap.py, nearest only), where the map is not affine enough but a quadratic
  (fitted to exact transforms at 5 x 5 points of the piece) is within ``MAPPED_MAX_ERROR_PX``:
  the source pixel under each pixel centre through that quadratic (zoomed out, classes read at
  full resolution: one 256 px piece a tile where GDAL took 7-12 ms a call);
- ``tent`` (tent.py: GDAL's widened bilinear, downsampling by 1/0.95 to 1.95) where such a
  quadratic is within ``MAPPED_MAX_ERROR_PX``: its source positions go through it;
- ``gdal`` elsewhere, one GDAL call per piece with its approximate transformer, once the map
  is smooth there (affine within ``SMOOTH_PX`` output pixels, i.e. that many times the
  source pixels an output pixel spans: no pole, fold or wrap inside);
- ``exact``: GDAL with exact transforms where even the smallest pieces are not smooth.

A piece is computed whole, with numbers that depend on the piece only, so its pixels come out
the same in any window. Pieces that miss the window or the source are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, partial

import numpy as np
from affine import Affine
from numpy.lib.stride_tricks import sliding_window_view
from rasterio.crs import CRS

from gateway.core.grid import Grid
from gateway.core.lattice import CELL, Cover
from gateway.core.transforms import transformer

# Largest misfit of a piece's affine map for OpenCV, in source pixels: bilinear values stay
# within about 2 DN of exact (tests/test_warp.py); nearest picks the neighbour only for
# centres that close to a pixel edge. GDAL's approximate transformer allows 0.125.
MAX_ERROR_PX = {"nearest": 0.01, "bilinear": 0.001}
# GDAL's bilinear takes 4 samples while an output pixel spans at most 1/0.95 source pixels,
# and widens its kernel beyond (downsampling): OpenCV's is GDAL's only up to there.
MAX_SPAN = {"nearest": np.inf, "bilinear": 1 / 0.95}
OPENCV_DTYPES = frozenset(
    {np.dtype("uint8"), np.dtype("uint16"), np.dtype("int16"), np.dtype("float32")}
)
# Largest misfit of a piece's quadratic map for OpenCV's nearest, in source pixels: GDAL's
# approximate transformer's error in our warps (warp.py's GDAL_ERROR_PX).
MAPPED_MAX_ERROR_PX = 0.002
OPENCV_KERNELS = frozenset({"opencv", "mapped"})  # the kernels remap.py computes
QUADRATIC_KERNELS = frozenset({"mapped", "tent"})  # the kernels that map through a quadratic
GDAL_KERNELS = frozenset({"gdal", "exact"})  # the kernels GDAL's warper computes
# Largest misfit, in output pixels, of a piece that GDAL's approximate transformer warps. In
# source pixels it is this times the span (at least 1): measured in source pixels alone, a
# zoomed-out warp (6 source pixels per output pixel, classes read at full resolution) was cut
# into 64 px pieces, one GDAL call each, 4x the calls of 128 px pieces
# (bench/bench_scale.py).
SMOOTH_PX = 1.0
MIN_PIECE_PX = 32


@dataclass(frozen=True)
class Piece:
    """A square of the cover grid, the kernel that warps it, and its fitted map."""

    rows: slice
    cols: slice
    kernel: str  # "opencv", "mapped", "tent", "gdal" or "exact"
    affine: np.ndarray  # 2 x 3: (col, row) edge coordinates in the piece -> source edge ones
    # 2 x 6 (``mapped``, ``tent``): the map as a quadratic in (1, col, row, col², col·row, row²)
    quadratic: np.ndarray | None = None

    def source_pixels(self) -> tuple[np.ndarray, np.ndarray]:
        """The ``mapped`` piece's source pixel (row, column) under each of its pixel centres,
        int64 (size, size): the floor of the quadratic's edge coordinates, in float64 (shifting
        the source window shifts them by whole pixels: the same pixels in any window)."""
        assert self.quadratic is not None
        size = self.rows.stop - self.rows.start
        u = np.arange(size, dtype=np.float64) + 0.5  # pixel centres, edge coordinates
        picked = []
        for c0, cu, cv, cuu, cuv, cvv in self.quadratic:
            along_cols = c0 + u * (cu + cuu * u)
            along_rows = u * (cv + cvv * u)
            edges = along_rows[:, None] + along_cols[None, :] + cuv * np.outer(u, u)
            picked.append(np.floor(edges).astype(np.int64))
        return picked[1], picked[0]

    @property
    def matrix(self) -> np.ndarray:
        """The affine map for OpenCV: piece pixel centre -> source pixel centre."""
        (a, b, c), (d, e, f) = self.affine
        return np.array([[a, b, (a + b) / 2 + c - 0.5], [d, e, (d + e) / 2 + f - 0.5]])


def opencv_kernel(resampling: str, dtype: np.dtype, span: tuple[float, float]) -> bool:
    """True when OpenCV's kernel is GDAL's for ``resampling`` on ``dtype`` arrays whose pixels
    an output pixel spans ``span`` of (kernel_span in warp.py)."""
    return (
        resampling in MAX_ERROR_PX
        and np.dtype(dtype) in OPENCV_DTYPES
        and max(span) <= MAX_SPAN[resampling]
    )


def plan(
    src_transform: Affine,
    src_crs: CRS,
    src_shape: tuple[int, int],
    cover: Cover,
    *,
    resampling: str,
    opencv: bool,
    tent: bool = False,
    span: float = 1.0,
) -> list[Piece]:
    """The pieces that warp a source array (``src_transform``, ``src_crs``, ``src_shape``)
    onto the window of ``cover`` with ``resampling``; ``opencv`` where its kernel is GDAL's
    (see ``opencv_kernel``), ``tent`` where tent.py's is (``tent.applies``);
    ``span``: the source pixels an output pixel spans at most (the kernel span)."""
    to_source = _to_source(src_transform, src_crs, cover.grid)
    shape = (cover.grid.height, cover.grid.width)
    fit = cache(partial(_fit, to_source, *shape))  # by piece size
    fit_quadratic = cache(partial(_fit_quadratic, to_source, *shape))

    kernels = np.full(cover.shape, "exact", dtype=object)
    sizes = np.full(cover.shape, MIN_PIECE_PX)
    pending = np.ones(cover.shape, dtype=bool)
    if opencv:
        _choose(fit, cover, pending, MAX_ERROR_PX[resampling], "opencv", kernels, sizes, pending)
    if opencv and resampling == "nearest":
        _choose(
            fit_quadratic, cover, pending, MAPPED_MAX_ERROR_PX, "mapped", kernels, sizes, pending
        )
    if tent:
        _choose(fit_quadratic, cover, pending, MAPPED_MAX_ERROR_PX, "tent", kernels, sizes, pending)
    smooth = SMOOTH_PX * max(1.0, span)
    _choose(fit, cover, pending, smooth, "gdal", kernels, sizes, pending)
    reach = _footprint(src_transform, src_crs, src_shape, cover.grid)
    pieces = []
    for (row, col), kernel in np.ndenumerate(kernels):
        size = int(sizes[row, col])
        maps = fit(size)[0]
        curved = fit_quadratic(size)[0] if kernel in QUADRATIC_KERNELS else None
        per_cell = CELL // size
        for r in range(row * per_cell, (row + 1) * per_cell):
            for c in range(col * per_cell, (col + 1) * per_cell):
                rows, cols = slice(r * size, (r + 1) * size), slice(c * size, (c + 1) * size)
                if _meets(rows, cols, cover.rows, cover.cols) and _meets(rows, cols, *reach):
                    quadratic = curved[r, c] if curved is not None else None
                    pieces.append(Piece(rows, cols, kernel, maps[r, c], quadratic))
    return pieces


def _choose(fit, cover: Cover, candidates, tolerance, kernel, kernels, sizes, pending) -> None:
    """Give ``kernel`` to each candidate cell at the largest piece size whose pieces all fit
    their map (``fit``: affine or quadratic) within ``tolerance`` there."""
    candidates = candidates.copy()
    size = CELL
    while size >= MIN_PIECE_PX and candidates.any():
        per_cell = CELL // size
        errors = fit(size)[1].reshape(cover.shape[0], per_cell, cover.shape[1], per_cell)
        fits = candidates & (errors.max(axis=(1, 3)) <= tolerance)
        kernels[fits], sizes[fits] = kernel, size
        candidates &= ~fits
        pending &= ~fits
        size //= 2


def on_source(rows: np.ndarray, cols: np.ndarray, src_shape: tuple[int, int]) -> np.ndarray | None:
    """Where source pixel indexes lie on the source array (bool), None if everywhere."""
    height, width = src_shape
    keep = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    return None if keep.all() else keep


def inside(piece: Piece, src_shape: tuple[int, int]) -> np.ndarray | None:
    """Where the piece's pixel centres fall on the source array (bool), None if everywhere."""
    (a, b, c), (d, e, f) = piece.matrix
    last = piece.rows.stop - piece.rows.start - 1
    xs, ys = np.array([0, last, 0, last]), np.array([0, 0, last, last])
    if _within(a * xs + b * ys + c, d * xs + e * ys + f, src_shape).all():
        return None  # affine: every pixel maps inside when the four corner ones do
    x = np.arange(last + 1, dtype=np.float64)[None, :]
    y = np.arange(last + 1, dtype=np.float64)[:, None]
    return _within(a * x + b * y + c, d * x + e * y + f, src_shape)


def _footprint(
    src_transform: Affine, src_crs: CRS, src_shape: tuple[int, int], grid: Grid
) -> tuple[slice, slice]:
    """Rows and columns of ``grid`` (with a margin) that the source array can reach; all of
    them when its outline cannot be transformed."""
    height, width = src_shape
    edge = np.linspace(0.0, 1.0, 21)
    us = np.concatenate([edge * width, np.full(21, width), edge * width, np.zeros(21)])
    vs = np.concatenate([np.zeros(21), edge * height, np.full(21, height), edge * height])
    xs, ys = _apply(src_transform, us, vs)
    if src_crs != grid.crs:
        xs, ys = transformer(src_crs, grid.crs).transform(xs, ys)
    cols, rows = _apply(~grid.transform, np.asarray(xs), np.asarray(ys))
    if not (np.isfinite(cols).all() and np.isfinite(rows).all()):
        return slice(0, grid.height), slice(0, grid.width)
    margin = 2
    return (
        slice(int(np.floor(rows.min())) - margin, int(np.ceil(rows.max())) + margin),
        slice(int(np.floor(cols.min())) - margin, int(np.ceil(cols.max())) + margin),
    )


def _meets(rows: slice, cols: slice, other_rows: slice, other_cols: slice) -> bool:
    """True when two rectangles of rows and columns overlap."""
    return (
        rows.start < other_rows.stop
        and other_rows.start < rows.stop
        and cols.start < other_cols.stop
        and other_cols.start < cols.stop
    )


def _to_source(src_transform: Affine, src_crs: CRS, grid: Grid):
    """A function: output pixel edge coordinates (cols, rows) -> source pixel edge coordinates."""
    forward, inverse = grid.transform, ~src_transform
    change = None if src_crs == grid.crs else transformer(grid.crs, src_crs)

    def to_source(cols: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = _apply(forward, cols, rows)
        if change is not None:
            xs, ys = change.transform(xs, ys)
        return _apply(inverse, np.asarray(xs), np.asarray(ys))

    return to_source


def _fit(to_source, height: int, width: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Affine maps (rows, cols, 2, 3) of ``size`` pieces, each fitted to exact transforms at
    3 x 3 of its points (edge coordinates relative to the piece), and each piece's largest
    misfit in source pixels (inf where a point cannot be transformed)."""
    piece_rows, piece_cols = height // size, width // size
    half = size / 2
    cols, rows = np.meshgrid(
        np.arange(2 * piece_cols + 1) * half, np.arange(2 * piece_rows + 1) * half
    )
    with np.errstate(invalid="ignore", over="ignore"):
        xs, ys = to_source(cols, rows)
        points = np.stack([xs, ys], axis=-1)  # (2R+1, 2C+1, 2)
        windows = sliding_window_view(points, (3, 3), axis=(0, 1))[::2, ::2]  # (R, C, 2, 3, 3)
        values = windows.reshape(piece_rows, piece_cols, 2, 9)
        design = _design(half)
        maps = np.einsum("kp,rcip->rcik", np.linalg.pinv(design), values)
        misfit = np.abs(np.einsum("pk,rcik->rcip", design, maps) - values).max(axis=(2, 3))
    return maps, np.where(np.isfinite(misfit), misfit, np.inf)


def _fit_quadratic(to_source, height: int, width: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Quadratic maps (rows, cols, 2, 6) of ``size`` pieces in (1, u, v, u², uv, v²) of edge
    coordinates relative to the piece, each fitted to exact transforms at 5 x 5 of its points,
    and each piece's largest misfit there in source pixels (inf where a point cannot be
    transformed): as large as the misfit between them, measured on zoomed-out tiles."""
    piece_rows, piece_cols = height // size, width // size
    step = size / 4
    cols, rows = np.meshgrid(
        np.arange(4 * piece_cols + 1) * step, np.arange(4 * piece_rows + 1) * step
    )
    design = np.array(
        [(1.0, u, v, u * u, u * v, v * v) for v in np.arange(5) * step for u in np.arange(5) * step]
    )
    with np.errstate(invalid="ignore", over="ignore"):
        xs, ys = to_source(cols, rows)
        points = np.stack([xs, ys], axis=-1)  # (4R+1, 4C+1, 2)
        windows = sliding_window_view(points, (5, 5), axis=(0, 1))[::4, ::4]  # (R, C, 2, 5, 5)
        values = windows.reshape(piece_rows, piece_cols, 2, 25)
        maps = np.einsum("kp,rcip->rcik", np.linalg.pinv(design), values)
        misfit = np.abs(np.einsum("pk,rcik->rcip", design, maps) - values).max(axis=(2, 3))
    return maps, np.where(np.isfinite(misfit), misfit, np.inf)


def _design(half: float) -> np.ndarray:
    """(9, 3): the 3 x 3 points (u, v, 1) of a piece, row by row as the windows hold them."""
    return np.array([(u * half, v * half, 1.0) for v in range(3) for u in range(3)])


def _within(x: np.ndarray, y: np.ndarray, src_shape: tuple[int, int]) -> np.ndarray:
    """True where a source position (OpenCV convention) lies on the source array."""
    height, width = src_shape
    return (x >= -0.5) & (x < width - 0.5) & (y >= -0.5) & (y < height - 0.5)


def _apply(t: Affine, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return t.a * x + t.b * y + t.c, t.d * x + t.e * y + t.f
