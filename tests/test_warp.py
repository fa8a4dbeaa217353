"""Reading a band's window and warping it onto a grid (gateway/core/warp.py), and hot copies.

References are GDAL warps of the whole file with nodata masking (rasterio.warp.reproject on
the full array), computed here independently of the window arithmetic under test.
"""

from __future__ import annotations

import fcntl

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.warp import Resampling, reproject, transform_bounds

from gateway.core.catalog import SearchQuery
from gateway.core.cogcache import CogCache
from gateway.core.grid import Grid
from gateway.core.reader import SceneReader
from gateway.core.storage import Storage
from gateway.core.warp import overview_factor, read_window, warp
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


def _reference(src, grid: Grid, resampling: str) -> np.ndarray:
    """The whole band warped onto ``grid`` by GDAL with nodata 0 masked (NaN where none)."""
    out = np.full((grid.height, grid.width), np.nan, dtype=np.float32)
    reproject(
        src.read(1), out, src_transform=src.transform, src_crs=src.crs,
        dst_transform=grid.transform, dst_crs=grid.crs, src_nodata=0, dst_nodata=np.nan,
        resampling=Resampling[resampling],
    )  # fmt: skip
    return out


@pytest.mark.parametrize("resampling", ["bilinear", "nearest", "cubic"])
def test_window_warp_matches_a_warp_of_the_whole_file(sample_archive, resampling):
    item = _item(sample_archive, "31UFU", "2025-06-13")
    with rasterio.open(asset_path(sample_archive, item, "B04_10m")) as src:
        grid = _grid_inside(src, (0.2, 0.3, 0.45, 0.55), 512)
        assert overview_factor(src, grid) == 1
        source = read_window(src, grid, nodata=0)
        assert source is not None and source.array.shape[0] < src.height / 2  # a window only
        got = warp([source], grid, resampling=resampling)[0]
        want = _reference(src, grid, resampling)
    assert np.isfinite(got).all() and np.isfinite(want).all()
    # DN: rounded to whole DN (integer kernels, < 0.5) and GDAL's approximate transformer
    assert np.abs(got - want).max() <= 1.0
    assert np.abs(got - want).mean() < 0.3


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
    assert np.abs(got[valid] - want[valid]).max() <= 0.5


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
        source = read_window(src, grid, nodata=0)
        assert source.array.shape == (src.height // 4, src.width // 4)
        got = warp([source], grid, resampling="nearest")[0]
        level = src.read(1, out_shape=(src.height // 4, src.width // 4))  # GDAL: level 4
    assert np.array_equal(got, level.astype(np.float32))


def test_outside_the_file_is_none(sample_archive):
    item = _item(sample_archive, "31UFU", "2025-06-13")
    with rasterio.open(asset_path(sample_archive, item, "B04_10m")) as src:
        _, bottom, right, top = src.bounds
        grid = Grid(src.crs, (right + 1000, bottom, right + 2000, top), 10, 10)
        assert read_window(src, grid, nodata=0) is None
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
