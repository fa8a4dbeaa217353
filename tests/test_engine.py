"""The engine on the sample archive, checked pixel by pixel against plain rasterio + numpy."""

from __future__ import annotations

import io

import numpy as np
import pytest
import rasterio
from PIL import Image
from pyproj import Transformer

from gateway.core.reader import pick_asset, scale_and_offset
from gateway.core.request import build_request
from gateway.errors import InvalidParameterValue
from tests.support.expected import load_items, ndvi, pixel_centres, read_band
from tests.support.wcs_checks import geotiff, same

L2A = "sentinel-2-l2a"
NDVI = "(B08-B04)/(B08+B04)"
# A 3 km square of T31UFU's sample window, on its own 10 m grid (pixel edges on multiples of 10).
UTM31_BOUNDS = (700000.0, 5832000.0, 703000.0, 5835000.0)


def _item(archive, tile: str, day: str, collection: str = L2A) -> dict:
    matches = [
        item
        for item in load_items(archive, collection)
        if item["properties"]["grid:code"] == f"MGRS-{tile}"
        and item["properties"]["datetime"].startswith(day)
    ]
    assert len(matches) == 1, (tile, day, len(matches))
    return matches[0]


def _request(runtime, **kwargs):
    params = {"crs": "EPSG:32631", "bbox": UTM31_BOUNDS, "width": 300, "height": 300}
    params.update(kwargs)
    return build_request(runtime.config, **params)


def test_ndvi_geotiff_matches_numpy_on_the_native_grid(sample_archive, runtime):
    item = _item(sample_archive, "31UFU", "2025-06-13")
    request = _request(
        runtime, collection=L2A, expression=NDVI, time="2025-06-13", format="tiff",
        resampling="nearest",
    )  # fmt: skip
    data, crs, transform, _ = geotiff(runtime.engine.render(request).content)

    red = read_band(sample_archive, item, "B04_10m")
    nir = read_band(sample_archive, item, "B08_10m")
    xs, ys = pixel_centres(UTM31_BOUNDS, 300, 300)
    expected = ndvi(nir.sample(xs, ys, "EPSG:32631"), red.sample(xs, ys, "EPSG:32631"))

    assert crs.to_epsg() == 32631
    assert transform.almost_equals(rasterio.transform.from_bounds(*UTM31_BOUNDS, 300, 300))
    assert data.shape == (1, 300, 300) and data.dtype == np.float32
    assert same(data[0], expected).all()
    assert np.isfinite(expected).mean() > 0.95  # the window really has data
    assert np.nanmax(expected) > 0.6 and np.nanmin(expected) < 0.1  # forest and water/soil


def test_ndwi_and_reflectance_bands(sample_archive, runtime):
    item = _item(sample_archive, "31UFU", "2025-06-13")
    request = _request(
        runtime, collection=L2A, expression="(B03-B08)/(B03+B08);B11", time="2025-06-13",
        format="tiff", resampling="nearest",
    )  # fmt: skip
    data, *_ = geotiff(runtime.engine.render(request).content)
    xs, ys = pixel_centres(UTM31_BOUNDS, 300, 300)
    green = read_band(sample_archive, item, "B03_10m").sample(xs, ys, "EPSG:32631")
    nir = read_band(sample_archive, item, "B08_10m").sample(xs, ys, "EPSG:32631")
    swir = read_band(sample_archive, item, "B11_20m").sample(xs, ys, "EPSG:32631")
    assert same(data[0], ndvi(green, nir)).all()
    assert same(data[1], swir).all()  # a 20 m band read onto a 10 m grid
    assert np.nanmax(swir) - np.nanmin(swir) > 0.05  # the window is not uniform


def test_true_colour_png_matches_stretch(sample_archive, runtime):
    item = _item(sample_archive, "31UFU", "2025-06-13")
    request = _request(runtime, layer="TRUE_COLOR", time="2025-06-13", resampling="nearest")
    png = Image.open(io.BytesIO(runtime.engine.render(request).content)).convert("RGBA")
    picture = np.asarray(png)
    xs, ys = pixel_centres(UTM31_BOUNDS, 300, 300)
    for channel, key in enumerate(["B04_10m", "B03_10m", "B02_10m"]):
        refl = read_band(sample_archive, item, key).sample(xs, ys, "EPSG:32631")
        expected = np.clip(refl / 0.3, 0, 1) * 255
        ok = np.isfinite(expected)
        assert np.abs(picture[..., channel][ok].astype(float) - expected[ok]).max() <= 1.0
    assert (picture[..., 3] == 255).mean() > 0.95


def _mosaic_expected(sources, xs, ys, crs):
    """First valid pixel over ``sources`` = [(nir, red, drop_mask or None)], in order."""
    out = np.full(xs.shape, np.nan)
    filled = np.zeros(xs.shape, bool)
    origin = np.full(xs.shape, -1)
    for index, (nir, red, drop) in enumerate(sources):
        n, r = nir.sample(xs, ys, crs), red.sample(xs, ys, crs)
        valid = np.isfinite(n) & np.isfinite(r)
        if drop is not None:
            valid &= ~drop
        take = valid & ~filled
        out[take] = ndvi(n, r)[take]
        origin[take] = index
        filled |= take
    return out, origin


def _within_warp_tolerance(actual, sources, origin, xs, ys, crs, shift):
    """Per pixel: ``actual`` equals NDVI of its source scene at the exact point or at a point
    ``shift`` CRS units away. GDAL's warper approximates the transform (0.125 px by default),
    so a nearest-neighbour pick may land on the neighbouring source pixel."""
    ok = np.isnan(actual) & (origin < 0)
    for dx in (-shift, 0.0, shift):
        for dy in (-shift, 0.0, shift):
            for index, (nir, red, _) in enumerate(sources):
                n = nir.sample(xs + dx, ys + dy, crs)
                r = red.sample(xs + dx, ys + dy, crs)
                ok |= (origin == index) & same(actual, ndvi(n, r))
    return ok


def test_map_across_the_utm_zone_boundary_uses_both_tiles(sample_archive, runtime):
    to_merc = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    minx, miny = to_merc.transform(5.99, 52.605)
    maxx, maxy = to_merc.transform(6.16, 52.65)
    res = 12.0  # finer than the data in EPSG:3857 (~16.5 m): one nearest-neighbour warp
    width, height = round((maxx - minx) / res), round((maxy - miny) / res)
    bounds = (minx, miny, minx + width * res, miny + height * res)
    request = build_request(
        runtime.config, collection=L2A, expression=NDVI, bbox=bounds, crs="EPSG:3857",
        width=width, height=height, time="2025-06-13", resampling="nearest",
    )  # fmt: skip
    raster = runtime.engine.compute(request)

    # mostRecent, ties broken by id descending: T32ULD before T31UFU.
    east = _item(sample_archive, "32ULD", "2025-06-13")
    west = _item(sample_archive, "31UFU", "2025-06-13")
    sources = [
        (read_band(sample_archive, it, "B08_10m"), read_band(sample_archive, it, "B04_10m"), None)
        for it in (east, west)
    ]
    xs, ys = pixel_centres(bounds, width, height)
    expected, origin = _mosaic_expected(sources, xs, ys, "EPSG:3857")

    assert same(raster.data[0], expected).mean() > 0.9
    # 2 m on the ground is 3.3 units of EPSG:3857 here: within a fifth of a source pixel.
    near = _within_warp_tolerance(raster.data[0], sources, origin, xs, ys, "EPSG:3857", 3.3)
    assert near.mean() > 0.999, near.mean()
    assert (origin == 0).mean() > 0.2 and (origin == 1).mean() > 0.2  # both tiles needed
    used = {raster.scenes[i].id for i in np.unique(raster.source[raster.valid])}
    assert used == {east["id"], west["id"]}
    assert raster.valid.mean() > 0.95


def test_cloudy_date_is_masked_by_scl(sample_archive, runtime):
    # mostRecent in June: 06-23 (cloudy) first, then 06-13 (clear) fills what SCL drops.
    # West of T32ULD's footprint (about 6.04°E), so only T31UFU scenes contribute.
    bounds = (698000.0, 5829000.0, 705000.0, 5839000.0)
    width, height = 700, 1000
    cloudy = _item(sample_archive, "31UFU", "2025-06-23")
    clear = _item(sample_archive, "31UFU", "2025-06-13")
    older = _item(sample_archive, "31UFU", "2025-06-03")
    xs, ys = pixel_centres(bounds, width, height)

    def classes(item):
        scl = read_band(sample_archive, item, "SCL_20m", reflectance=False)
        return scl.sample(xs, ys, "EPSG:32631")

    def drop(item):
        found = classes(item)
        return np.isin(found, [3, 8, 9, 10]) | np.isnan(found)

    sources = [
        (
            read_band(sample_archive, it, "B08_10m"),
            read_band(sample_archive, it, "B04_10m"),
            drop(it),
        )
        for it in (cloudy, clear, older)
    ]
    expected, origin = _mosaic_expected(sources, xs, ys, "EPSG:32631")
    request = build_request(
        runtime.config, layer="NDVI", bbox=bounds, crs="EPSG:32631", width=width,
        height=height, time="2025-06", resampling="nearest",
    )  # fmt: skip
    raster = runtime.engine.compute(request)
    assert request.cloud_mask is True
    assert (origin == 1).mean() > 0.02  # clouds of 06-23 really are in the window
    assert same(raster.data[0], expected).mean() > 0.999
    assert raster.scenes[0].id == cloudy["id"] and raster.scenes[1].id == clear["id"]

    # Without the mask, the cloudy scene covers everything and clouds show (NDVI ~ 0).
    unmasked = runtime.engine.compute(
        build_request(
            runtime.config,
            layer="NDVI",
            bbox=bounds,
            crs="EPSG:32631",
            width=width,
            height=height,
            time="2025-06",
            resampling="nearest",
            cloud_mask=False,
        )
    )
    assert len(unmasked.scenes) == 1
    clouds = np.isin(classes(cloudy), [8, 9]) & np.isfinite(unmasked.data[0])
    assert clouds.mean() > 0.01
    assert np.nanmean(np.abs(unmasked.data[0][clouds])) < 0.15


def test_maxcc_and_order_choose_scenes(sample_archive, runtime):
    request = _request(runtime, layer="NDVI", time="2025-05-01/2025-06-30", maxcc=5)
    raster = runtime.engine.compute(request)
    assert {s.datetime.date().isoformat() for s in raster.scenes} == {"2025-06-13"}
    least = runtime.engine.compute(_request(runtime, layer="NDVI", time="2025-06", order="leastCC"))
    assert least.scenes[0].cloud_cover == min(s.cloud_cover for s in least.scenes)


def test_nodata_corner_is_filled_from_another_date(sample_archive, runtime):
    edge = _item(sample_archive, "32ULD", "2025-06-13")
    later = _item(sample_archive, "32ULD", "2025-06-23")
    b04 = read_band(sample_archive, edge, "B04_10m")
    corner = b04.dn == 0
    assert corner.mean() > 0.05  # the swath edge is really in the file
    # The eastern 4.4 km of T32ULD's window, where no other tile reaches, at 20 m.
    left, top = b04.transform.c, b04.transform.f
    bounds = (left + 7600.0, top - 12000.0, left + 12000.0, top)
    request = build_request(
        runtime.config, collection=L2A, expression="B04", bbox=bounds, crs="EPSG:32632",
        width=220, height=600, time="2025-06-10/2025-06-30", order="leastCC",
        resampling="nearest",
    )  # fmt: skip
    raster = runtime.engine.compute(request)
    assert [s.id for s in raster.scenes] == [edge["id"], later["id"]]
    assert raster.valid.all()
    xs, ys = pixel_centres(bounds, 220, 600)
    # 20 m output pixels: the 20 m assets are read.
    first = read_band(sample_archive, edge, "B04_20m").sample(xs, ys, "EPSG:32632")
    second = read_band(sample_archive, later, "B04_20m").sample(xs, ys, "EPSG:32632")
    expected = np.where(np.isnan(first), second, first)
    assert same(raster.data[0], expected).all()
    assert ((raster.source == 1) == np.isnan(first)).all()


def test_mosaic_cog_collection(sample_archive, runtime):
    item = next(
        it for it in load_items(sample_archive, "sentinel-2-global-mosaics")
        if it["properties"]["grid:code"] == "MGRS-31UFU"
    )  # fmt: skip
    request = _request(runtime, layer="MOSAIC_NDVI", format="tiff", resampling="nearest")
    data, *_ = geotiff(runtime.engine.render(request).content)
    xs, ys = pixel_centres(UTM31_BOUNDS, 300, 300)
    red = read_band(sample_archive, item, "B04").sample(xs, ys, "EPSG:32631")
    nir = read_band(sample_archive, item, "B08").sample(xs, ys, "EPSG:32631")
    assert same(data[0], ndvi(nir, red)).all()
    assert np.isfinite(data[0]).mean() > 0.95


def test_asset_resolution_follows_output_resolution(sample_archive, runtime):
    scene = runtime.engine.search(_request(runtime, layer="NDVI", time="2025-06-13"))[0]
    from rasterio.crs import CRS

    from gateway.core.grid import Grid

    def grid(res):
        return Grid(
            CRS.from_epsg(32631),
            (700000, 5830000, 700000 + 300 * res, 5830000 + 300 * res),
            300,
            300,
        )

    assert pick_asset(scene, "B04", grid(10)).key == "B04_10m"
    assert pick_asset(scene, "B04", grid(15)).key == "B04_10m"
    assert pick_asset(scene, "B04", grid(25)).key == "B04_20m"
    assert pick_asset(scene, "B04", grid(200)).key == "B04_60m"
    assert pick_asset(scene, "SCL", grid(10)).key == "SCL_20m"
    assert pick_asset(scene, "B09", grid(10)).key == "B09_60m"


def test_zoomed_out_render_stays_close_to_block_means(sample_archive, runtime):
    # The whole 12 km window of T31UFU at 60 m per pixel: B04 comes from its 60 m asset,
    # B08 (10 m only, as on CDSE) from the JPEG 2000 resolution levels.
    item = _item(sample_archive, "31UFU", "2025-06-13")
    bounds = (697780.0, 5828020.0, 709780.0, 5840020.0)
    request = build_request(
        runtime.config, collection=L2A, expression=NDVI, bbox=bounds, crs="EPSG:32631",
        width=200, height=200, time="2025-06-13", format="tiff",
    )  # fmt: skip
    data, *_ = geotiff(runtime.engine.render(request).content)

    def block_mean(key):
        values = read_band(sample_archive, item, key).values
        return values.reshape(200, 6, 200, 6).mean(axis=(1, 3))

    expected = ndvi(block_mean("B08_10m"), block_mean("B04_10m"))
    ok = np.isfinite(expected)
    assert ok.mean() > 0.95 and np.isfinite(data[0][ok]).all()
    assert np.mean(np.abs(data[0][ok] - expected[ok])) < 0.03


def test_scale_and_offset_follow_processing_baseline(runtime):
    from gateway.core.catalog import Asset, Scene

    collection = runtime.config.collection(L2A)

    def scene(version):
        return Scene("x", L2A, None, None, (0, 0, 1, 1), {}, (), processing_version=version)

    bare = Asset("B04_10m", "s3://eodata/x.jp2", "B04", 10, None, None, 0, "uint16", "image/jp2")
    given = Asset("B04_10m", "s3://eodata/x.jp2", "B04", 10, 0.0001, -0.1, 0, "uint16", "image/jp2")
    assert scale_and_offset(scene("05.11"), bare, collection) == (0.0001, -0.1)
    assert scale_and_offset(scene("04.00"), bare, collection) == (0.0001, -0.1)
    assert scale_and_offset(scene("03.01"), bare, collection) == (0.0001, 0.0)
    assert scale_and_offset(scene(None), bare, collection) == (0.0001, 0.0)
    assert scale_and_offset(scene("02.14"), given, collection) == (0.0001, -0.1)


def test_png_is_transparent_where_there_is_no_data(runtime):
    # Half of this box lies west of every sample scene.
    to_merc = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    minx, miny = to_merc.transform(5.7, 52.6)
    maxx, maxy = to_merc.transform(6.0, 52.65)
    request = build_request(
        runtime.config, layer="NDVI", bbox=(minx, miny, maxx, maxy), crs="EPSG:3857",
        width=256, height=128, time="2025-06",
    )  # fmt: skip
    alpha = np.asarray(
        Image.open(io.BytesIO(runtime.engine.render(request).content)).convert("RGBA")
    )[..., 3]
    assert (alpha[:, :40] == 0).all()
    assert (alpha[:, -40:] == 255).mean() > 0.9


def test_render_cache_hits_and_separates_requests(runtime):
    # 23 m pixels: the scenes of the day (coarser than 40 m, NDVI draws from the mosaic).
    first = _request(runtime, layer="NDVI", time="2025-06-13", width=128, height=128)
    a = runtime.engine.render(first)
    b = runtime.engine.render(first)
    other = runtime.engine.render(
        _request(runtime, layer="NDVI", time="2025-06-23", width=128, height=128)
    )
    assert not a.cached and b.cached and a.content == b.content
    assert not other.cached and other.content != a.content


@pytest.mark.parametrize("expression", ["__import__('os')", "B99", "B04 **** 2", "B" * 10000])
def test_bad_expressions_never_run(runtime, expression):
    request = _request(runtime, collection=L2A, expression=expression)
    with pytest.raises(InvalidParameterValue) as info:
        runtime.engine.render(request)
    assert info.value.status == 400
    assert "Traceback" not in info.value.message


def test_zoomed_out_classes_are_nearest_full_resolution_values(sample_archive, runtime):
    # 50 m pixels: SCL_20m, whose 40 m JPEG 2000 level would blend classes into others.
    bounds = (698000.0, 5829000.0, 705000.0, 5839000.0)
    width, height = 140, 200
    item = _item(sample_archive, "31UFU", "2025-06-13")
    scl = read_band(sample_archive, item, "SCL_20m", reflectance=False)
    request = build_request(
        runtime.config, collection="sentinel-2-l2a", expression="SCL", bbox=bounds,
        crs="EPSG:32631", width=width, height=height, time="2025-06-13", resampling="nearest",
    )  # fmt: skip
    raster = runtime.engine.compute(request)
    values = raster.data[0][raster.valid]
    assert set(np.unique(values)) <= set(np.unique(scl.values[np.isfinite(scl.values)]))
    expected = scl.sample(*pixel_centres(bounds, width, height), "EPSG:32631")
    assert (raster.data[0] == expected).mean() > 0.999
