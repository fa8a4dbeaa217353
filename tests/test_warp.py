"""Reading a band's window and warping it onto a grid (gateway/core/warp.py), and hot copies.

References are computed here independently of the window arithmetic under test: exact
bilinear or nearest interpolation of the whole file at pyproj-transformed pixel centres, and
GDAL warps of the whole file with nodata masking (rasterio.warp.reproject on the full array).
"""

from __future__ import annotations

import fcntl
import shutil
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning
from rasterio.warp import Resampling, reproject, transform_bounds

from gateway.core import lattice, pieces, tent
from gateway.core.catalog import SearchQuery
from gateway.core.cogcache import CogCache
from gateway.core.grid import Grid
from gateway.core.reader import SceneReader
from gateway.core.storage import Storage
from gateway.core.warp import SourceArray, overview_factor, overview_level, read_window, warp
from tests.support.expected import asset_path, load_items

WEB_MERCATOR = CRS.from_epsg(3857)


def _item(archive, tile: str, day: str) -> dict:
    return next(
        i
        for i in load_items(archive, "sentinel-2-l2a")
        if i["properties"]["grid:code"] == f"MGRS-{tile}"
        and i["properties"]["datetime"].startswith(day)
    )


def _grid_inside(src, share: tuple[float, float, float, float], size: int, crs=WEB_MERCATOR):
    """A grid over a part of ``src`` (fractions of its extent: left, bottom, right, top)."""
    left, bottom, right, top = src.bounds
    w, h = right - left, top - bottom
    part = (left + share[0] * w, bottom + share[1] * h, left + share[2] * w, bottom + share[3] * h)
    return Grid(crs, transform_bounds(src.crs, crs, *part), size, size)


def _kernels(source: SourceArray, grid: Grid, resampling: str) -> set[str]:
    """The kernels that warp ``source`` onto ``grid`` (pieces.py)."""
    footing = (source.transform, source.crs, source.array.shape, lattice.cover(grid))
    opencv = pieces.opencv_kernel(resampling, source.array.dtype, source.span)
    widened = tent.applies(resampling, source.span)
    plan = pieces.plan(*footing, resampling=resampling, opencv=opencv, tent=widened)
    return {piece.kernel for piece in plan}


def _reference(src, grid: Grid, resampling: str) -> np.ndarray:
    """The whole band warped onto ``grid`` by GDAL, with exact transforms (no approximate
    transformer), nodata 0 masked (NaN where none), and its kernels scaled by the source
    pixels a grid pixel spans at the file's centre (GDAL would take the scale from the
    chunk: the whole grid here, another chunk elsewhere)."""
    left, bottom, right, top = src.bounds
    centre = ((left + right) / 2, (bottom + top) / 2)
    x, y = Transformer.from_crs(src.crs.to_wkt(), grid.crs.to_wkt(), always_xy=True).transform(
        *centre
    )
    rx, ry = grid.resolution
    to_file = Transformer.from_crs(grid.crs.to_wkt(), src.crs.to_wkt(), always_xy=True)
    xs, ys = to_file.transform([x, x + rx, x], [y, y, y - ry])
    span_x = (abs(xs[1] - xs[0]) + abs(xs[2] - xs[0])) / src.res[0]
    span_y = (abs(ys[1] - ys[0]) + abs(ys[2] - ys[0])) / src.res[1]
    out = np.full((grid.height, grid.width), np.nan, dtype=np.float32)
    reproject(
        src.read(1), out, src_transform=src.transform, src_crs=src.crs,
        dst_transform=grid.transform, dst_crs=grid.crs, src_nodata=0, dst_nodata=np.nan,
        resampling=Resampling[resampling], tolerance=0, XSCALE=1 / span_x, YSCALE=1 / span_y,
    )  # fmt: skip
    return out


def _exact(src, grid: Grid, resampling: str) -> np.ndarray:
    """The whole band at every pixel centre of ``grid``, each centre transformed on its own by
    pyproj (no approximation), interpolated by numpy: bilinear (the edge row or column
    repeated) or nearest. NaN where the centre falls outside the file."""
    band = src.read(1).astype(np.float64)
    height, width = band.shape
    cols, rows = np.meshgrid(np.arange(grid.width) + 0.5, np.arange(grid.height) + 0.5)
    t = grid.transform
    xs, ys = t.a * cols + t.b * rows + t.c, t.d * cols + t.e * rows + t.f
    to_file = Transformer.from_crs(grid.crs.to_wkt(), src.crs.to_wkt(), always_xy=True)
    fx, fy = to_file.transform(xs, ys)
    inverse = ~src.transform
    u, v = inverse.a * fx + inverse.c, inverse.e * fy + inverse.f  # north-up file: edges
    inside = (u >= 0) & (u < width) & (v >= 0) & (v < height)
    if resampling == "nearest":
        values = band[np.clip(v, 0, height - 1).astype(int), np.clip(u, 0, width - 1).astype(int)]
    else:
        x, y = np.clip(u - 0.5, 0, width - 1), np.clip(v - 0.5, 0, height - 1)
        x0, y0 = np.minimum(x.astype(int), width - 2), np.minimum(y.astype(int), height - 2)
        dx, dy = x - x0, y - y0
        values = (
            band[y0, x0] * (1 - dx) * (1 - dy) + band[y0, x0 + 1] * dx * (1 - dy)
            + band[y0 + 1, x0] * (1 - dx) * dy + band[y0 + 1, x0 + 1] * dx * dy
        )  # fmt: skip
    return np.where(inside, values, np.nan)


@pytest.mark.parametrize("crs", ["EPSG:3857", "EPSG:4326", "EPSG:3035"])
def test_window_warp_is_exact_bilinear_interpolation(sample_archive, crs):
    """Zoomed in (OpenCV's kernel): within 3 DN of exact bilinear (GDAL's warper, whose
    approximate transformer may be 1/8 pixel off, was 30 DN off here on sharp edges)."""
    item = _item(sample_archive, "31UFU", "2025-06-13")
    with rasterio.open(asset_path(sample_archive, item, "B04_10m")) as src:
        grid = _grid_inside(src, (0.2, 0.3, 0.45, 0.55), 512, CRS.from_user_input(crs))
        assert overview_factor(src, grid) == 1
        source = read_window(src, grid, nodata=0)
        assert source is not None and source.array.shape[0] < src.height / 2  # a window only
        assert _kernels(source, grid, "bilinear") == {"opencv"}
        got = warp([source], grid, resampling="bilinear")[0]
        want = _exact(src, grid, "bilinear")
    assert np.isfinite(got).all() and np.isfinite(want).all()
    error = np.abs(got - want)
    assert error.max() <= 3.0 and error.mean() < 0.3  # whole DN: rounding is 0.25 on average


def test_window_warp_nearest_picks_the_pixel_under_each_centre(sample_archive):
    item = _item(sample_archive, "31UFU", "2025-06-13")
    with rasterio.open(asset_path(sample_archive, item, "SCL_20m")) as src:
        grid = _grid_inside(src, (0.2, 0.3, 0.45, 0.55), 700)
        got = warp([read_window(src, grid, nodata=0)], grid, resampling="nearest")[0]
        want = _exact(src, grid, "nearest")
    assert np.isfinite(got).all()
    # Only centres within 1/1000 pixel of a pixel edge may land on the neighbour.
    assert (got != want).mean() < 0.002


def test_zoomed_out_classes_take_the_pixel_under_each_centre_through_a_quadratic(sample_archive):
    """Classes read at full resolution for a map's zoomed-out pixels (each spans about 16 of
    SCL's): the map from output to source pixels is not affine enough for OpenCV's warp in
    pieces of any size, but a quadratic is within 1/500 pixel, as GDAL's approximate
    transformer: each pixel is the class under its centre, without a GDAL call."""
    item = _item(sample_archive, "31UFU", "2025-06-13")
    with rasterio.open(asset_path(sample_archive, item, "SCL_20m")) as src:
        grid = _grid_inside(src, (-0.1, -0.1, 1.1, 1.1), 48)
        source = read_window(src, grid, nodata=0, resampling="nearest")
        assert source is not None and min(source.span) > 10
        assert _kernels(source, grid, "nearest") == {"mapped"}
        got = warp([source], grid, resampling="nearest")[0]
        want = _exact(src, grid, "nearest")
    outside = np.isnan(want)
    assert 0.05 < outside.mean() < 0.5  # the grid reaches past the file's edges
    assert np.array_equal(np.isnan(got), outside | (want == 0))  # nodata 0 left out too
    both = ~np.isnan(got)
    assert (got[both] != want[both]).mean() < 0.002  # centres within 1/500 pixel of an edge


def test_cubic_is_a_gdal_warp_and_downsampling_bilinear_gdals_kernel(sample_archive):
    """Where OpenCV's kernel is not GDAL's, GDAL warps cubic, and tent.py computes bilinear
    over more than one source pixel per output pixel, which GDAL widens: within 3 DN of GDAL's
    warp of the whole file with exact transforms (GDAL's approximate transformer and the
    pieces' quadratic maps, 1/500 pixel here, off by that much on the sharpest field edges;
    with GDAL's default 1/8 pixel up to 95 DN)."""
    item = _item(sample_archive, "31UFU", "2025-06-13")
    with rasterio.open(asset_path(sample_archive, item, "B04_10m")) as src:
        fine = _grid_inside(src, (0.2, 0.3, 0.45, 0.55), 512)
        coarse = _grid_inside(src, (0.1, 0.1, 0.9, 0.9), 700)  # 1.37 source pixels per pixel
        assert overview_factor(src, coarse) == 1
        for grid, resampling in ((fine, "cubic"), (coarse, "bilinear")):
            source = read_window(src, grid, nodata=0)
            got = warp([source], grid, resampling=resampling)[0]
            want = _reference(src, grid, resampling)
            assert np.isfinite(got).all() and np.isfinite(want).all()
            assert np.abs(got - want).max() <= 3.0
            assert np.abs(got - want).mean() < 0.1
        assert _kernels(read_window(src, fine, nodata=0), fine, "cubic") == {"gdal"}
        source = read_window(src, coarse, nodata=0)
        assert _kernels(source, coarse, "bilinear") == {"tent"}
        assert _kernels(source, coarse, "nearest") == {"opencv"}  # same kernel as GDAL's


def test_gdal_warps_make_no_in_memory_dataset_of_an_array(sample_archive, monkeypatch):
    """rasterio's ``reproject`` of arrays makes its in-memory datasets inside
    ``warnings.catch_warnings()`` with every warning ignored; that swaps the process's filters
    and is not thread-safe: requests warping side by side logged a spurious
    ``NotGeoreferencedWarning`` and could leave "ignore every warning" in place for good.
    GDAL's pieces warp in-memory datasets of their own (rasterio's small
    ``catch_warnings`` for affine's deprecations, elsewhere, filter one message only)."""
    item = _item(sample_archive, "31UFU", "2025-06-13")
    with rasterio.open(asset_path(sample_archive, item, "B04_10m")) as src:
        coarse = _grid_inside(src, (0.1, 0.1, 0.9, 0.9), 700)  # GDAL's cubic
        world = Grid(CRS.from_epsg(4326), (-179.0, -80.0, 179.0, 80.0), 128, 64)
        sources = [read_window(src, grid, nodata=0) for grid in (coarse, world)]
        swaps: list[str] = []
        real = warnings.catch_warnings

        def recorded(*args, **kwargs):
            caller = sys._getframe(1).f_code  # the Python frame that called into rasterio's
            swaps.append(f"{Path(caller.co_filename).parent.name}/{caller.co_name}")
            return real(*args, **kwargs)

        monkeypatch.setattr(warnings, "catch_warnings", recorded)
        with rasterio.Env():
            reproject(np.zeros((2, 2)), np.zeros((2, 2)), src_transform=src.transform,
                      src_crs=src.crs, dst_transform=src.transform, dst_crs=src.crs)  # fmt: skip
            assert "rasterio/reproject" in swaps  # as rasterio's array warp does
            swaps.clear()
            got = [
                warp([sources[0]], coarse, resampling="cubic")[0],
                warp([sources[1]], world, resampling="nearest")[0],
            ]
        monkeypatch.undo()
        assert _kernels(sources[0], coarse, "cubic") == {"gdal"}
        assert _kernels(sources[1], world, "nearest") == {"exact"}  # GDAL, exact transforms
        assert "rasterio/reproject" not in swaps
        want = [_reference(src, coarse, "cubic"), _reference(src, world, "nearest")]
    assert np.abs(got[0] - want[0]).max() <= 3.0  # as test_cubic_is_a_gdal_warp_and...
    assert np.array_equal(got[1], want[1], equal_nan=True)


def test_gdal_warps_side_by_side_give_the_pixels_of_one_at_a_time(sample_archive):
    """Side by side, the warps give the pixels of each alone, log no ``NotGeoreferencedWarning``
    and leave no filter ignoring every warning (as rasterio's warps of arrays did, now and
    then: see the test above)."""
    item = _item(sample_archive, "31UFU", "2025-06-13")
    with rasterio.open(asset_path(sample_archive, item, "B04_10m")) as src:
        grids = [_grid_inside(src, (0.1 * i, 0.1, 0.1 * i + 0.5, 0.6), 200) for i in range(5)]
        sources = [read_window(src, grid, nodata=0) for grid in grids]
    assert all(_kernels(s, g, "bilinear") == {"gdal"} for s, g in zip(sources, grids, strict=True))
    alone = [warp([s], g, resampling="bilinear") for s, g in zip(sources, grids, strict=True)]
    ignore_all = ("ignore", None, Warning, None, 0)
    with warnings.catch_warnings(record=True) as caught, ThreadPoolExecutor(4) as pool:
        warnings.simplefilter("always")
        for _ in range(10):
            together = list(
                pool.map(lambda i: warp([sources[i]], grids[i], resampling="bilinear"), range(5))
            )
            for one, other in zip(alone, together, strict=True):
                assert np.array_equal(one, other, equal_nan=True)
        assert ignore_all not in warnings.filters
    assert [str(w.message) for w in caught if w.category is NotGeoreferencedWarning] == []


def test_beyond_the_file_edge_stays_unfilled(sample_archive):
    """A grid half past the file's east edge: pixels whose centre is outside stay NaN."""
    item = _item(sample_archive, "31UFU", "2025-06-13")
    with rasterio.open(asset_path(sample_archive, item, "B08_10m")) as src:
        grid = _grid_inside(src, (0.8, 0.4, 1.2, 0.8), 600)
        source = read_window(src, grid, nodata=0)
        assert not (source.array == 0).any()  # no nodata: OpenCV's kernel
        got = warp([source], grid, resampling="bilinear")[0]
        want = _exact(src, grid, "bilinear")
    valid, expected = np.isfinite(got), np.isfinite(want)
    assert 0.3 < valid.mean() < 0.7
    assert (valid != expected).sum() <= grid.height  # at most the pixels on the edge itself
    both = valid & expected
    assert np.abs(got[both] - want[both]).max() <= 3.0


def test_grids_too_curved_for_affine_pieces_go_to_gdal(sample_archive):
    item = _item(sample_archive, "31UFU", "2025-06-13")
    with rasterio.open(asset_path(sample_archive, item, "B04_10m")) as src:
        world = Grid(CRS.from_epsg(4326), (-179.0, -80.0, 179.0, 80.0), 128, 64)
        source = read_window(src, world, nodata=0)
        assert "opencv" not in _kernels(source, world, "nearest")
        got = warp([source], world, resampling="nearest")[0]
        want = _reference(src, world, "nearest")
    assert np.array_equal(got, want, equal_nan=True)


def test_nodata_pixels_never_blend_into_values(sample_archive):
    """The swath edge of T32ULD on 2025-06-13: no output pixel mixes in no-data zeros."""
    item = _item(sample_archive, "32ULD", "2025-06-13")
    with rasterio.open(asset_path(sample_archive, item, "B08_10m")) as src:
        band = src.read(1)
        assert (band == 0).any() and (band > 0).any()  # the sample has its no-data corner
        grid = _grid_inside(src, (0.4, 0.0, 1.0, 0.6), 512)
        assert overview_factor(src, grid) == 1
        got = warp([read_window(src, grid, nodata=0)], grid, resampling="bilinear")[0]
        want = _reference(src, grid, "bilinear")
    assert np.array_equal(np.isfinite(got), np.isfinite(want))
    assert (~np.isfinite(got)).sum() > 100 and np.isfinite(got).sum() > 100
    valid = np.isfinite(got)
    assert np.nanmin(got[valid]) > 0
    assert np.abs(got[valid] - want[valid]).max() <= 3.0  # as above


def test_bands_of_one_footing_are_warped_together_like_one_by_one(sample_archive):
    item = _item(sample_archive, "31UFU", "2025-06-13")
    paths = [asset_path(sample_archive, item, key) for key in ("B04_10m", "B08_10m", "SCL_20m")]
    with (
        rasterio.open(paths[0]) as red,
        rasterio.open(paths[1]) as nir,
        rasterio.open(paths[2]) as scl,
    ):
        grid = _grid_inside(red, (0.1, 0.1, 0.6, 0.6), 300)
        sources = [read_window(src, grid, nodata=0) for src in (red, nir, scl)]
    together = warp(sources, grid, resampling="nearest")
    one_by_one = [warp([s], grid, resampling="nearest")[0] for s in sources]
    assert sources[0].footing == sources[1].footing != sources[2].footing
    for joint, alone in zip(together, one_by_one, strict=True):
        assert np.array_equal(joint, alone, equal_nan=True)
    classes = set(np.unique(together[2][np.isfinite(together[2])]).astype(int))
    with rasterio.open(paths[2]) as scl:
        assert classes <= set(np.unique(scl.read(1)).astype(int))  # nearest: no invented class


def test_zoomed_out_grids_read_the_fitting_resolution_level(sample_archive):
    item = _item(sample_archive, "31UFU", "2025-06-13")
    with rasterio.open(asset_path(sample_archive, item, "B04_10m")) as src:
        assert src.overviews(1) == [2, 4, 8]
        for pixel_m, factor in ((10, 1), (25, 2), (45, 4), (80, 8), (400, 8)):
            size = max(1, round(src.width * 10 / pixel_m))
            grid = Grid(src.crs, src.bounds, size, size)
            assert overview_factor(src, grid) == factor
        grid = Grid(src.crs, src.bounds, src.width // 4, src.height // 4)
        with rasterio.open(src.name, overview_level=overview_level(src, grid)) as level:
            source = read_window(level, grid, nodata=0)
        assert source.array.shape == (src.height // 4, src.width // 4)
        got = warp([source], grid, resampling="nearest")[0]
        level = src.read(1, out_shape=(src.height // 4, src.width // 4))  # GDAL: level 4
    assert np.array_equal(got, level.astype(np.float32))


def test_outside_the_file_is_none(sample_archive):
    item = _item(sample_archive, "31UFU", "2025-06-13")
    with rasterio.open(asset_path(sample_archive, item, "B04_10m")) as src:
        _, bottom, right, top = src.bounds
        grid = Grid(src.crs, (right + 1000, bottom, right + 2000, top), 10, 10)
        assert read_window(src, grid, nodata=0) is None  # beyond the kernel's reach too
        assert np.isnan(warp([None], grid, resampling="bilinear")).all()


# --- hot JPEG 2000 files are copied once into a COG ------------------------------------------


def _local_reader(archive, tmp_path, hot_reads: int) -> tuple[SceneReader, CogCache]:
    cache = CogCache(tmp_path / "cog-cache", hot_reads=hot_reads)
    return SceneReader(Storage(mode="local", eodata_dir=archive / "eodata"), cache), cache


def test_a_hot_local_jp2_is_copied_once_and_reads_the_same(sample_archive, runtime, tmp_path):
    reader, cache = _local_reader(sample_archive, tmp_path, hot_reads=3)
    scene = next(
        s
        for s in runtime.engine.catalog.search(
            SearchQuery(collection="sentinel-2-l2a", bbox=(5.9, 52.55, 6.1, 52.7))
        )
        if s.id.endswith("T31UFU_20250613T122917")
    )
    collection = runtime.config.collection("sentinel-2-l2a")
    item = _item(sample_archive, "31UFU", "2025-06-13")
    jp2 = str(asset_path(sample_archive, item, "B04_10m"))
    with rasterio.open(jp2) as src:
        grids = [_grid_inside(src, (0.1 * i, 0.2, 0.1 * i + 0.3, 0.5), 256) for i in range(4)]
    before = [reader.read(scene, ("B04",), g, collection) for g in grids[:3]]
    cache.close()  # waits for the background copy
    copy = cache.existing(jp2)
    assert copy is not None and copy.endswith(".tif")
    with rasterio.open(copy) as cog:
        assert cog.overviews(1) == [2, 4, 8]
        assert cog.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
    after = [reader.read(scene, ("B04",), g, collection) for g in grids[:3]]
    for old, new in zip(before, after, strict=True):
        assert np.array_equal(old.bands["B04"], new.bands["B04"], equal_nan=True)
        assert np.array_equal(old.valid, new.valid)
    assert len(list((tmp_path / "cog-cache").glob("*.tif"))) == 1  # only the hot file


def test_a_copy_in_progress_elsewhere_is_not_made_twice(sample_archive, tmp_path):
    item = _item(sample_archive, "31UFU", "2025-06-13")
    jp2 = str(asset_path(sample_archive, item, "B08_10m"))
    cache = CogCache(tmp_path / "cog-cache", hot_reads=1)
    cache.directory.mkdir()
    with open(cache._target(jp2).with_suffix(".lock"), "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as another process copying this file would
        with rasterio.open(jp2) as src:
            cache.count_read(src)
        cache.close()
    assert cache.existing(jp2) is None
    with rasterio.open(jp2) as src:  # the lock released: the next hot file is copied
        cache.hot_reads = 2
        cache.count_read(src)
    cache.close()
    assert cache.existing(jp2) is not None


def test_a_copy_removed_since_is_not_given_out(sample_archive, tmp_path):
    item = _item(sample_archive, "31UFU", "2025-06-13")
    jp2 = str(asset_path(sample_archive, item, "B04_20m"))
    cache = CogCache(tmp_path / "cog-cache")
    with rasterio.open(jp2) as src:
        made = cache.local_copy(src)
    assert cache.existing(jp2) == made
    shutil.rmtree(cache.directory)  # as another process's eviction or an operator would
    assert cache.existing(jp2) is None
