"""GDAL's bilinear kernel when downsampling, computed without GDAL's warper.

Where an output pixel spans more than 1/0.95 source pixels, GDAL widens its bilinear kernel
into a tent of that span: an output pixel is the sum of the source pixels around the source
position of its centre, each weighted by ``1 - distance / span`` along each axis (4 pixels a
side while the span is below 2), divided by the weights' sum; taps beyond the source are left
out, and with nodata, a pixel is nodata where the source pixel under its centre is, else the
valid taps' weighted mean. Zoomed-out tiles drawn from COG overviews warp so (about 1.2 source
pixels an output pixel). GDAL's warper took 11-20 ms a 256 px piece of two bands, 7 ms of it
setting up (its coordinate transformation above all); this kernel about 2 ms, 3-5 ms a tile
with its planning (bench/bench_warp.py: 2.6-5.7x less CPU).

Each piece's source positions come from its quadratic map (pieces.py), within 1/500 pixel of
exact as GDAL's approximate transformer is, computed from the piece alone: the same pixels in
any window. The kernel is compiled by numba: numpy's per-pixel arithmetic on a piece (a dozen
whole-array passes, their temporaries faulted in afresh) cost as much as GDAL's warper.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np

from gateway.core.pieces import Piece

# Below, GDAL's bilinear takes its 4 nearest samples (remap.py's kernel); from 2 on it takes
# more taps, and it rounds a span within 0.05 of a whole number to it: up to 1.95 it does not.
MIN_SPAN = 1 / 0.95
MAX_SPAN = 1.95


def applies(resampling: str, span: tuple[float, float]) -> bool:
    """True where this kernel is GDAL's: bilinear, each axis spanning MIN_SPAN to MAX_SPAN
    source pixels an output pixel (warp.kernel_span)."""
    return resampling == "bilinear" and all(MIN_SPAN < s < MAX_SPAN for s in span)


def fill(
    stack: np.ndarray,
    pieces: list[Piece],
    out: np.ndarray,
    span: tuple[float, float],
    invalid: np.ndarray | None = None,
) -> None:
    """Warp ``stack`` (n, h, w) into ``out`` (n, H, W: the cover grid, C-contiguous float32)
    on ``pieces`` (each with its quadratic map) with GDAL's downsampling bilinear of ``span``
    (the source pixels an output pixel spans along x and y); pixels whose centre maps outside
    the source are left as they are. With ``invalid`` (h, w: True where any band is nodata,
    given when the stack holds some; the bands of one scene share their nodata pixels),
    GDAL's masked kernel."""
    if not pieces:
        return
    if not out.flags.c_contiguous or out.dtype != np.float32:
        raise ValueError("out must be a C-contiguous float32 array")  # written in place
    for piece in pieces:  # the kernel writes unchecked: each piece within ``out``
        if min(piece.rows.start, piece.cols.start) < 0 or (
            piece.rows.stop > out.shape[1] or piece.cols.stop > out.shape[2]
        ):
            raise ValueError(f"piece {piece.rows}, {piece.cols} beyond out {out.shape}")
    bands = np.ascontiguousarray(stack, dtype=np.float32)
    mask = np.zeros((0, 0), bool) if invalid is None else np.ascontiguousarray(invalid, bool)
    for piece in pieces:
        assert piece.quadratic is not None
        kernel()(
            bands, mask, np.ascontiguousarray(piece.quadratic, dtype=np.float64),
            1.0 / span[0], 1.0 / span[1], out, piece.rows.start,
            piece.cols.start, piece.rows.stop - piece.rows.start,
        )  # fmt: skip


def warm_up() -> None:
    """Compile the kernel, or load numba's cached compilation of it (about 1 s the first time
    on a machine, 0.3 s after), which the process's first zoomed-out tile would wait for."""
    quadratic = np.array([[0.5, 1.2, 0.0, 0.0, 0.0, 0.0], [0.5, 0.0, 1.2, 0.0, 0.0, 0.0]])
    piece = Piece(slice(0, 2), slice(0, 2), "tent", np.zeros((2, 3)), quadratic)
    out = np.full((1, 2, 2), np.nan, np.float32)
    fill(np.ones((1, 4, 4), np.float32), [piece], out, (1.2, 1.2))


@cache
def kernel() -> Callable[..., None]:
    """The compiled kernel (numba's ``njit``, without the GIL), numba imported on first use:
    0.2 s the command line does not wait for (the server loads it beside its doors'
    building: ``warm_up``)."""
    from numba import njit

    try:
        return njit(nogil=True, cache=True)(_tent_piece)
    except RuntimeError:  # no writable cache folder (numba's message): compiled per process
        return njit(nogil=True)(_tent_piece)


def _tent_piece(
    bands: np.ndarray,
    invalid: np.ndarray,
    quadratic: np.ndarray,
    scale_x: float,
    scale_y: float,
    out: np.ndarray,
    row0: int,
    col0: int,
    size: int,
) -> None:
    """One piece, ``size`` px from row ``row0`` and column ``col0`` of ``out`` (n, H, W), from
    ``bands`` (n, h, w float32) through the piece's ``quadratic`` (2 x 6: source edge column,
    row in (1, u, v, u², uv, v²) of the piece's edge coordinates); ``invalid`` (h, w), empty
    without nodata; ``scale``: 1 / span. Whole arrays and offsets, never views: one compiled
    signature for every call."""
    count, height, width = bands.shape
    masked = invalid.shape[0] > 0
    a0, au, av, auu, auv, avv = quadratic[0]
    b0, bu, bv, buu, buv, bvv = quadratic[1]
    weight_x = np.empty(4)
    weight_y = np.empty(4)
    for i in range(size):
        v = i + 0.5
        for j in range(size):
            u = j + 0.5
            x = a0 + u * (au + auu * u) + v * (av + avv * v) + auv * u * v
            y = b0 + u * (bu + buu * u) + v * (bv + bvv * v) + buv * u * v
            if not (0.0 <= x < width and 0.0 <= y < height):
                continue  # unfilled, as GDAL leaves a centre beyond the source
            if masked and invalid[int(y), int(x)]:
                continue  # nodata: unfilled
            left = np.floor(x - 0.5)
            top = np.floor(y - 0.5)
            first_x = int(left) - 1
            first_y = int(top) - 1
            for t in range(4):  # taps beyond the source weigh nothing
                w = 1.0 - abs(t - 1 - (x - 0.5 - left)) * scale_x
                weight_x[t] = w if w > 0.0 and 0 <= first_x + t < width else 0.0
                w = 1.0 - abs(t - 1 - (y - 0.5 - top)) * scale_y
                weight_y[t] = w if w > 0.0 and 0 <= first_y + t < height else 0.0
            for band in range(count):
                total = 0.0
                weights = 0.0
                for a in range(4):
                    if weight_y[a] == 0.0:
                        continue
                    row = first_y + a
                    along = 0.0
                    along_weights = 0.0
                    for t in range(4):
                        if weight_x[t] == 0.0:
                            continue
                        if masked and invalid[row, first_x + t]:
                            continue
                        along += weight_x[t] * bands[band, row, first_x + t]
                        along_weights += weight_x[t]
                    total += weight_y[a] * along
                    weights += weight_y[a] * along_weights
                out[band, row0 + i, col0 + j] = total / weights
