"""Coordinate transformations made once per pair: composed where PROJ has nothing to choose,
searched by PROJ elsewhere, and the same for pyproj and GDAL's warper."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import CRS as ProjCRS
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.transform import from_origin
from rasterio.warp import Resampling, reproject, transform_bounds

from gateway.core.grid import WGS84, Grid
from gateway.core.transforms import gdal_operation, transformer
from gateway.errors import InvalidParameterValue

WEB_MERCATOR = CRS.from_epsg(3857)
UTM_ZONES = [32600 + zone for zone in range(1, 61)] + [32700 + zone for zone in range(1, 61)]
SAME_GEODETIC = [(3857, code) for code in UTM_ZONES] + [(3035, 25832), (32631, 32632)]
OTHER_GEODETIC = [(2056, 21781), (27700, 3857), (25832, 32632), (4326, 32631), (32631, 4326)]


def _searched(source: int, target: int) -> Transformer:
    return Transformer.from_crs(f"EPSG:{source}", f"EPSG:{target}", always_xy=True)


def _points(source: int, over: int) -> tuple[np.ndarray, np.ndarray]:
    """A lattice over the central 80 % of ``over``'s area of use, in ``source``'s x/y."""
    west, south, east, north = ProjCRS.from_epsg(over).area_of_use.bounds
    dx, dy = (east - west) * 0.1, (north - south) * 0.1
    lon, lat = np.meshgrid(
        np.linspace(west + dx, east - dx, 9),
        np.linspace(max(south + dy, -80.0), min(north - dy, 84.0), 9),
    )
    return _searched(4326, source).transform(lon.ravel(), lat.ravel())


@pytest.mark.parametrize(("source", "target"), SAME_GEODETIC + [(b, a) for a, b in SAME_GEODETIC])
def test_a_pair_on_one_geodetic_crs_is_composed_into_the_pipeline_proj_would_find(source, target):
    pipeline = gdal_operation(CRS.from_epsg(source), CRS.from_epsg(target))
    searched = _searched(source, target)
    assert pipeline == {"COORDINATE_OPERATION": searched.definition}
    xs, ys = _points(source, target if source == 3857 else source)
    ours = transformer(CRS.from_epsg(source), CRS.from_epsg(target)).transform(xs, ys)
    theirs = searched.transform(xs, ys)
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize(("source", "target"), OTHER_GEODETIC)
def test_other_pairs_are_left_to_proj_and_to_gdal_to_choose(source, target):
    assert gdal_operation(CRS.from_epsg(source), CRS.from_epsg(target)) == {}
    xs, ys = _points(source, source)
    ours = transformer(CRS.from_epsg(source), CRS.from_epsg(target)).transform(xs, ys)
    np.testing.assert_array_equal(ours, _searched(source, target).transform(xs, ys))


def test_a_pair_is_made_once():
    first = transformer(WEB_MERCATOR, CRS.from_epsg(32631))
    assert transformer(CRS.from_epsg(3857), CRS.from_epsg(32631)) is first


def test_gdal_warps_the_same_pixels_with_the_composed_pipeline_as_with_its_own_search():
    rng = np.random.default_rng(7)
    source = rng.random((300, 300), dtype=np.float32)
    src_transform = from_origin(600_000, 5_800_000, 10, 10)
    utm = CRS.from_epsg(32631)
    west, south, east, north = Grid(utm, (600_500, 5_797_500, 602_500, 5_799_500), 1, 1).bounds_in(
        WEB_MERCATOR
    )
    dst_transform = from_origin(west, north, (east - west) / 128, (north - south) / 128)
    results = []
    for options in ({}, gdal_operation(utm, WEB_MERCATOR)):
        out = np.full((128, 128), np.nan, np.float32)
        reproject(
            source, out, src_transform=src_transform, src_crs=utm, dst_transform=dst_transform,
            dst_crs=WEB_MERCATOR, resampling=Resampling.bilinear, **options,
        )  # fmt: skip
        results.append(out)
    assert np.isfinite(results[0]).all()
    np.testing.assert_array_equal(results[0], results[1])


@pytest.mark.parametrize(
    "definition",
    [
        "+proj=laea +lat_0=52 +lon_0=10 +x_0=4321000 +y_0=3210000 +ellps=GRS80 +units=m",
        "+proj=tmerc +lat_0=0 +lon_0=6 +k=0.9996 +x_0=500000 +y_0=0 +datum=WGS84 +units=us-ft",
        "+proj=sterea +lat_0=52.15616 +lon_0=5.38763 +k=0.99990 +x_0=155000 +y_0=463000 "
        "+ellps=bessel +towgs84=565.4,50.3,465.6,0,0,0,0 +units=m",
    ],
)
def test_a_crs_a_file_defines_itself_transforms_as_proj_would(definition):
    custom = CRS.from_string(definition)
    for source, target in (
        (custom, WEB_MERCATOR),
        (WEB_MERCATOR, custom),
        (custom, CRS.from_epsg(32631)),
    ):
        lon, lat = np.meshgrid(np.linspace(4.0, 7.0, 7), np.linspace(51.0, 53.5, 7))
        xs, ys = Transformer.from_crs(4326, source.to_wkt(), always_xy=True).transform(lon, lat)
        searched = Transformer.from_crs(source.to_wkt(), target.to_wkt(), always_xy=True)
        np.testing.assert_allclose(
            transformer(source, target).transform(xs, ys), searched.transform(xs, ys), atol=1e-6
        )


@pytest.mark.parametrize(
    ("source", "target", "bounds"),
    [
        (3857, 32631, (556597.5, 6887893.5, 713140.3, 7044436.5)),  # a z8 tile over Benelux
        (32632, 3857, (300000.0, 5790000.0, 409800.0, 5899800.0)),  # an MGRS tile
        (3857, 4326, (-20037508.3, -20037508.3, 20037508.3, 20037508.3)),  # the world
        (32660, 4326, (600000.0, 5000000.0, 900000.0, 5300000.0)),  # across the antimeridian
        (3035, 32633, (4300000.0, 2900000.0, 4700000.0, 3300000.0)),
    ],
)
def test_a_grids_bounds_elsewhere_are_gdals_through_the_pairs_one_transformer(
    source, target, bounds
):
    """The pair's transformer, made once and shared with its warp, densifies the edges as
    GDAL's ``transform_bounds`` does (which would search PROJ again for the pair), west
    beyond east across the antimeridian included."""
    grid = Grid(CRS.from_epsg(source), bounds, 256, 256)
    theirs = transform_bounds(CRS.from_epsg(source), CRS.from_epsg(target), *bounds, densify_pts=21)
    ours = grid.bounds_in(CRS.from_epsg(target))
    span = max(abs(theirs[2] - theirs[0]), abs(theirs[3] - theirs[1]))
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=span * 1e-9)
    assert (ours[0] > ours[2]) == (source == 32660)


def test_a_grid_with_no_extent_in_the_target_crs_is_refused_as_the_client_s_error():
    beyond = Grid(CRS.from_epsg(32631), (1e8, 1e8, 1.1e8, 1.1e8), 16, 16)  # lies nowhere
    with pytest.raises(InvalidParameterValue):
        beyond.bounds_in(WGS84)
