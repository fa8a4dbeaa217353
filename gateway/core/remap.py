"""OpenCV's warpAffine as the warp kernel where it gives GDAL's result: warp.py's fast path.

Measured on a 4x4 metatile (1024 px) of two 10 m uint16 bands at z15, bilinear: GDAL's
warper about 30 ms, this about 6 ms, and closer to an exact bilinear interpolation (every
pixel centre through pyproj, numpy) than GDAL: within about 2 DN of it where GDAL was up to
30 DN off on sharp edges (tests/test_warp.py), its approximate transformer allowing 1/8
source pixel.

The output grid is cut into square pieces on which the mapping from output to source pixels
is affine within ``MAX_ERROR_PX`` (fitted to exact transforms at 3 x 3 points of each piece):
the largest power of two that holds everywhere, down to ``MIN_PIECE_PX``. When even those are
not affine enough, or a point cannot be transformed, there is no plan and GDAL warps.

The kernels are the same as GDAL's only where GDAL does not widen them: nearest neighbour
always, bilinear while the output pixel is not coarser than the source's (GDAL averages more
source pixels per output pixel when downsampling). Pixels whose centre falls outside the source
array stay unfilled, as in GDAL; at the array's edge its last row or column is repeated, which
is GDAL's bilinear with the missing neighbours' weights left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from affine import Affine
from numpy.lib.stride_tricks import sliding_window_view
from pyproj import Transformer
from rasterio.crs import CRS

from gateway.core.grid import Grid

# Largest misfit of a piece's affine map, in source pixels: bilinear values stay within about
# 2 DN of exact (tests/test_warp.py); nearest picks the neighbour only for centres that close
# to a pixel edge. GDAL's approximate transformer allows 0.125.
MAX_ERROR_PX = {"nearest": 0.01, "bilinear": 0.001}
# GDAL's bilinear takes 4 samples while an output pixel spans at most 1/0.95 source pixels,
# and widens its kernel beyond (downsampling): OpenCV's is GDAL's only up to there.
MAX_SCALE = {"nearest": math.inf, "bilinear": 1 / 0.95}
KERNELS = tuple(MAX_ERROR_PX)
MIN_PIECE_PX = 32
DTYPES = frozenset({np.dtype("uint8"), np.dtype("uint16"), np.dtype("int16"), np.dtype("float32")})


@dataclass(frozen=True)
class Piece:
    """A rectangle of the output grid and its affine map to source pixels."""

    rows: slice
    cols: slice
    matrix: np.ndarray  # 2 x 3: piece pixel centre -> source pixel centre (OpenCV convention)
    inside: np.ndarray | None  # bool (h, w); None when every pixel maps inside the source


@dataclass(frozen=True)
class Plan:
    """The pieces that together cover the output grid."""

    pieces: tuple[Piece, ...]


def applies(resampling: str, dtype: np.dtype) -> bool:
    """True when OpenCV has a kernel like GDAL's for ``resampling`` on ``dtype`` arrays."""
    return resampling in KERNELS and np.dtype(dtype) in DTYPES


def plan(
    src_transform: Affine,
    src_crs: CRS,
    src_shape: tuple[int, int],
    grid: Grid,
    *,
    resampling: str,
) -> Plan | None:
    """How to warp a source array onto ``grid`` with ``resampling`` piece by piece, or None
    when GDAL must (no OpenCV kernel like GDAL's there, or no affine enough pieces).

    Pieces are square cells, the largest power of two on which every cell is affine enough.
    """
    if resampling not in KERNELS:
        return None
    tolerance, max_scale = MAX_ERROR_PX[resampling], MAX_SCALE[resampling]
    to_source = _to_source(src_transform, src_crs, grid)
    size = max(MIN_PIECE_PX, 1 << (max(grid.height, grid.width) - 1).bit_length())
    while size >= MIN_PIECE_PX:
        fitted = _fit_cells(to_source, grid.height, grid.width, size)
        if fitted is None:
            return None
        coefficients, error = fitted
        if _scale(coefficients) > max_scale:
            return None  # known from the first, coarsest fit already
        if error <= tolerance:
            return Plan(_pieces(coefficients, size, grid, src_shape))
        size //= 2
    return None


def fill(stack: np.ndarray, plan: Plan, out: np.ndarray, resampling: str) -> None:
    """Warp ``stack`` (n, h, w) into ``out`` (n, H, W) by ``plan``; pixels mapping outside the
    source are left as they are. Integer bilinear values are rounded, as GDAL's integer
    kernels do."""
    cv2 = _opencv()
    flags = (cv2.INTER_NEAREST if resampling == "nearest" else cv2.INTER_LINEAR) | (
        cv2.WARP_INVERSE_MAP
    )
    bands = [np.ascontiguousarray(band) for band in stack]
    for piece in plan.pieces:
        size = (piece.cols.stop - piece.cols.start, piece.rows.stop - piece.rows.start)
        for index, band in enumerate(bands):
            values = cv2.warpAffine(
                band, piece.matrix, size, flags=flags, borderMode=cv2.BORDER_REPLICATE
            )
            target = out[index, piece.rows, piece.cols]
            if piece.inside is None:
                target[...] = values
            else:
                np.copyto(target, values, where=piece.inside, casting="unsafe")


def _to_source(src_transform: Affine, src_crs: CRS, grid: Grid):
    """A function: output pixel edge coordinates (cols, rows) -> source pixel edge coordinates."""
    forward, inverse = grid.transform, ~src_transform
    transformer = None if src_crs == grid.crs else _transformer(grid.crs, src_crs)

    def to_source(cols: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = _apply(forward, cols, rows)
        if transformer is not None:
            xs, ys = transformer.transform(xs, ys)
        return _apply(inverse, np.asarray(xs), np.asarray(ys))

    return to_source


def _fit_cells(to_source, height: int, width: int, size: int) -> tuple[np.ndarray, float] | None:
    """Affine maps (rows, cols, 2, 3) of ``size`` cells, each fitted to exact transforms at 3 x 3
    of its points (edge coordinates relative to the cell), and the largest misfit in source
    pixels; None if a point cannot be transformed."""
    cell_rows, cell_cols = -(-height // size), -(-width // size)
    half = size / 2
    cols, rows = np.meshgrid(
        np.arange(2 * cell_cols + 1) * half, np.arange(2 * cell_rows + 1) * half
    )
    xs, ys = to_source(cols, rows)
    if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        return None
    points = np.stack([xs, ys], axis=-1)  # (2R+1, 2C+1, 2)
    cells = sliding_window_view(points, (3, 3), axis=(0, 1))[::2, ::2]  # (R, C, 2, 3, 3)
    values = cells.reshape(cell_rows, cell_cols, 2, 9)
    design = _design(half)
    coefficients = np.einsum("kp,rcip->rcik", np.linalg.pinv(design), values)
    error = np.abs(np.einsum("pk,rcik->rcip", design, coefficients) - values).max()
    return coefficients, float(error)


def _scale(coefficients: np.ndarray) -> float:
    """The most source pixels one output pixel spans, along a row or a column."""
    a, b, d, e = (coefficients[..., i, j] for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)))
    return float(max(np.hypot(a, d).max(), np.hypot(b, e).max()))


def _design(half: float) -> np.ndarray:
    """(9, 3): the 3 x 3 points (u, v, 1) of a cell, row by row as the windows hold them."""
    return np.array([(u * half, v * half, 1.0) for v in range(3) for u in range(3)])


def _pieces(
    coefficients: np.ndarray, size: int, grid: Grid, src_shape: tuple[int, int]
) -> tuple[Piece, ...]:
    """The cells as pieces with OpenCV matrices (pixel centre -> source pixel centre)."""
    (a, b, c), (d, e, f) = np.moveaxis(coefficients, (2, 3), (0, 1))  # each (R, C)
    matrices = np.stack(
        [np.stack([a, b, (a + b) / 2 + c - 0.5]), np.stack([d, e, (d + e) / 2 + f - 0.5])]
    )  # (2, 3, R, C)
    rows, cols = np.indices(a.shape)
    heights = np.minimum(size, grid.height - rows * size)
    widths = np.minimum(size, grid.width - cols * size)
    # Affine: a piece maps inside the source when its four corner pixels do.
    corners_x = np.stack([np.zeros_like(widths), widths - 1, np.zeros_like(widths), widths - 1])
    corners_y = np.stack([np.zeros_like(heights), np.zeros_like(heights), heights - 1, heights - 1])
    inside = _within(
        matrices[0, 0] * corners_x + matrices[0, 1] * corners_y + matrices[0, 2],
        matrices[1, 0] * corners_x + matrices[1, 1] * corners_y + matrices[1, 2],
        src_shape,
    ).all(axis=0)
    pieces = []
    for row, col in np.ndindex(a.shape):
        matrix = matrices[:, :, row, col]
        height, width = int(heights[row, col]), int(widths[row, col])
        mask = None
        if not inside[row, col]:
            x = np.arange(width, dtype=np.float64)[None, :]
            y = np.arange(height, dtype=np.float64)[:, None]
            (ma, mb, mc), (md, me, mf) = matrix
            mask = _within(ma * x + mb * y + mc, md * x + me * y + mf, src_shape)
        top, left = row * size, col * size
        pieces.append(
            Piece(slice(top, top + height), slice(left, left + width), matrix.copy(), mask)
        )
    return tuple(pieces)


def _within(x: np.ndarray, y: np.ndarray, src_shape: tuple[int, int]) -> np.ndarray:
    """True where a source position (OpenCV convention) lies on the source array."""
    height, width = src_shape
    return (x >= -0.5) & (x < width - 0.5) & (y >= -0.5) & (y < height - 0.5)


def _apply(t: Affine, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return t.a * x + t.b * y + t.c, t.d * x + t.e * y + t.f


@lru_cache(maxsize=64)
def _transformer(source: CRS, target: CRS) -> Transformer:
    return Transformer.from_crs(source.to_wkt(), target.to_wkt(), always_xy=True)


@lru_cache(maxsize=1)
def _opencv() -> Any:
    """cv2 on one thread per call: the server runs renders side by side already."""
    import cv2

    cv2.setNumThreads(1)
    return cv2
