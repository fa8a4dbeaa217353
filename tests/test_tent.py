"""GDAL's downsampling bilinear computed by the gateway's own kernel (gateway/core/tent.py).

The reference is GDAL itself: ``rasterio.warp.reproject`` of the same array onto the same
grid with exact transforms (tolerance 0) and its kernel's scale given, as warp.py's GDAL
pieces are warped; with nodata, GDAL's masked kernel (``src_nodata``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import Resampling, reproject

from gateway.core import pieces, tent

UTM = CRS.from_epsg(32631)
SOURCE = Affine(10.0, 0.0, 600000.0, 0.0, -10.0, 5800000.0)
SIZE = 64


def _source(nodata: bool) -> np.ndarray:
    """Two bands of sharp-edged random reflectance, 80 x 90 px; with ``nodata``, zeros in a
    block, along one edge and at random (the same pixels in both bands)."""
    rng = np.random.default_rng(7)
    bands = rng.integers(1, 10000, (2, 80, 90)).astype(np.uint16)
    if nodata:
        holes = np.zeros((80, 90), bool)
        holes[30:41, 20:52] = True
        holes[:, 85:] = True
        holes |= rng.random((80, 90)) < 0.04
        bands[:, holes] = 0
    return bands


def _invalid(bands: np.ndarray) -> np.ndarray:
    """Where any band is nodata (0), as warp.py hands it to the kernel."""
    return (bands == 0).any(axis=0)


def _piece(span: tuple[float, float], offset: tuple[float, float], turn: float) -> pieces.Piece:
    """A SIZE px piece whose pixels span ``span`` source pixels, turned by ``turn`` radians,
    its top left corner at source edge coordinates ``offset`` (column, row)."""
    cos, sin = np.cos(turn), np.sin(turn)
    quadratic = np.array(
        [
            [offset[0], span[0] * cos, -span[1] * sin, 0.0, 0.0, 0.0],
            [offset[1], span[0] * sin, span[1] * cos, 0.0, 0.0, 0.0],
        ]
    )
    rows = cols = slice(0, SIZE)
    return pieces.Piece(rows, cols, "tent", np.zeros((2, 3)), quadratic)


def _gdal(bands: np.ndarray, piece: pieces.Piece, span, nodata: bool) -> np.ndarray:
    """GDAL's warp of ``bands`` onto the piece's pixels, exact transforms."""
    (c0, cu, cv, *_), (r0, ru, rv, *_) = piece.quadratic
    target = SOURCE @ Affine(cu, cv, c0, ru, rv, r0)
    out = np.full((len(bands), SIZE, SIZE), np.nan, np.float32)
    masking = {"src_nodata": 0, "dst_nodata": np.nan} if nodata else {}
    reproject(
        bands, out, src_transform=SOURCE, src_crs=UTM, dst_transform=target, dst_crs=UTM,
        resampling=Resampling.bilinear, init_dest_nodata=False, tolerance=0,
        XSCALE=repr(1 / span[0]), YSCALE=repr(1 / span[1]), **masking,
    )  # fmt: skip
    return out


@pytest.mark.parametrize("nodata", [False, True], ids=["plain", "nodata"])
@pytest.mark.parametrize(
    "span, offset, turn",
    [
        ((1.06, 1.07), (3.3, 2.1), 0.0),  # just above GDAL's 4-sample bilinear
        ((1.2, 1.18), (-5.4, 1.7), 0.035),  # a zoomed-out web map tile; past the left edge
        ((1.5, 1.52), (20.2, 10.6), -0.02),  # breakpoints crossing at 1.5; past the bottom
        ((1.9, 1.6), (-3.0, -7.5), 0.05),  # up to 1.95; past the top and right edges
    ],
)
def test_the_kernel_is_gdals_downsampling_bilinear(span, offset, turn, nodata):
    """Within float32 rounding of GDAL's warp, at the source's edges (taps beyond it left
    out, centres beyond it unfilled) and with nodata (nodata where the pixel under the centre
    is, else the valid taps' mean)."""
    bands = _source(nodata)
    piece = _piece(span, offset, turn)
    assert tent.applies("bilinear", span)
    got = np.full((2, SIZE, SIZE), np.nan, np.float32)
    tent.fill(bands, [piece], got, span, _invalid(bands) if nodata else None)
    want = _gdal(bands, piece, span, nodata)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    filled = np.isfinite(want)
    on_source = offset == (3.3, 2.1)  # the others reach past the source's edges
    if nodata:
        assert 300 < (~filled[0]).sum() < SIZE * SIZE * 0.8  # nodata pixels among the others
    else:
        assert filled.all() if on_source else 0.2 < filled.mean() < 1
    assert np.abs(got - want)[filled].max() <= 0.005


def test_the_kernel_applies_where_gdal_widens_bilinear_up_to_where_it_rounds_the_span():
    assert not tent.applies("bilinear", (1.05, 1.2))  # GDAL's 4-sample bilinear (OpenCV's)
    assert tent.applies("bilinear", (1.06, 1.94))
    assert not tent.applies("bilinear", (1.2, 1.96))  # GDAL rounds 1.96 to 2
    assert not tent.applies("cubic", (1.2, 1.2))
    assert not tent.applies("nearest", (1.2, 1.2))


def test_pieces_side_by_side_give_the_pixels_of_one_at_a_time():
    """The kernel runs without the GIL, in as many threads as render side by side."""
    bands = _source(nodata=True)
    jobs = [(_piece((1.1 + 0.1 * i, 1.2), (2.0 * i, 1.5), 0.01 * i), (1.1 + 0.1 * i, 1.2))
            for i in range(6)]  # fmt: skip

    def warp(job) -> np.ndarray:
        piece, span = job
        out = np.full((2, SIZE, SIZE), np.nan, np.float32)
        tent.fill(bands, [piece], out, span, _invalid(bands))
        return out

    alone = [warp(job) for job in jobs]
    with ThreadPoolExecutor(3) as pool:
        for _ in range(5):
            together = list(pool.map(warp, jobs))
            for one, other in zip(alone, together, strict=True):
                assert np.array_equal(one, other, equal_nan=True)


def test_the_warm_up_compiles_what_the_warps_run():
    """``tent.warm_up`` (the server's start) compiles the kernel for the very argument types
    the warps pass: a first tile compiles nothing more."""
    tent.warm_up()
    compiled = list(tent.kernel().signatures)
    for nodata in (False, True):
        bands = _source(nodata)
        out = np.full((2, 3 * SIZE, 2 * SIZE), np.nan, np.float32)  # a cover grid's cells
        piece = _piece((1.2, 1.2), (3.3, 2.1), 0.01)
        piece = pieces.Piece(slice(SIZE, 2 * SIZE), slice(0, SIZE), "tent", piece.affine,
                             piece.quadratic)  # fmt: skip
        tent.fill(bands, [piece], out, (1.2, 1.2), _invalid(bands) if nodata else None)
        assert np.isfinite(out[:, SIZE : 2 * SIZE, :SIZE]).any()
    assert list(tent.kernel().signatures) == compiled


def test_without_a_writable_cache_folder_the_kernel_is_compiled_in_the_process(monkeypatch):
    """numba refuses ``cache=True`` where it finds no folder to write (a read-only image
    without ``NUMBA_CACHE_DIR``): the kernel is then compiled per process, not refused."""
    import numba

    real = numba.njit

    def no_cache_folder(*args, **kwargs):
        if kwargs.get("cache"):
            raise RuntimeError("cannot cache function '_tent_piece': no locator available")
        return real(*args, **kwargs)

    monkeypatch.setattr(numba, "njit", no_cache_folder)
    tent.kernel.cache_clear()
    try:
        bands = _source(nodata=False)
        piece = _piece((1.2, 1.18), (3.3, 2.1), 0.0)
        got = np.full((2, SIZE, SIZE), np.nan, np.float32)
        tent.fill(bands, [piece], got, (1.2, 1.18))
        assert np.abs(got - _gdal(bands, piece, (1.2, 1.18), False)).max() <= 0.005
    finally:
        tent.kernel.cache_clear()  # the next test compiles (or loads) the cached kernel again


def test_a_piece_beyond_the_output_or_a_view_is_refused_before_the_kernel_writes():
    """The compiled kernel writes without bounds checks, in place: a piece reaching past
    ``out``, or an ``out`` that is a copy-making view, is refused first."""
    bands = _source(nodata=False)
    piece = _piece((1.2, 1.2), (3.3, 2.1), 0.0)
    with pytest.raises(ValueError, match="beyond"):
        tent.fill(bands, [piece], np.full((2, SIZE, SIZE - 1), np.nan, np.float32), (1.2, 1.2))
    wide = np.full((2, SIZE, 2 * SIZE), np.nan, np.float32)
    with pytest.raises(ValueError, match="C-contiguous"):
        tent.fill(bands, [piece], wide[:, :, :SIZE], (1.2, 1.2))
    assert np.isnan(wide).all()
