"""Bring your own data, Zarr: ``cdse-gateway ingest`` of a Zarr store in the EOPF / GeoZarr
layout, then its pixels through WCS 2.0.1, OGC API Coverages, WMS and WMTS against the
arrays the test wrote.

The store is written here, byte by byte (Zarr v2, zlib chunks): ``field.zarr/measurements/
reflectance/r10m`` is a ``multiscales`` group of two levels (``0``: 400 x 300 pixels of 20 m
in EPSG:3035, ``1``: 2 x 2 means of them); each level holds ``x``/``y`` coordinates, a CF
``time`` of two steps (``days since``), a ``spatial_ref`` grid mapping (``crs_wkt``) and two
(time, y, x) variables with ``_ARRAY_DIMENSIONS``, a fill value (the nodata triangle) and
``scale_factor``/``add_offset``. The reference is the arrays themselves, read at each output
pixel centre by ``tests.test_byod.nearest_reference`` (pyproj and numpy) from a plain GeoTIFF
holding the array with its georeferencing.
"""

from __future__ import annotations

import io
import itertools
import json
import zlib
from pathlib import Path

import httpx
import morecantile
import numpy as np
import pytest
import rasterio
from PIL import Image
from pyproj import CRS as ProjCRS
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.transform import from_origin

from gateway.byod.ingest import ingest
from gateway.byod.vrt import VRT_TYPE
from gateway.core.grid import Grid
from tests import test_byod
from tests.support.wcs_checks import geotiff, get
from tests.test_byod import (
    assert_featureinfo,
    assert_same,
    data_dir_beside,
    item,
    nearest_reference,
    options,
    wcs,
)

ORIGIN, RES, WIDTH, HEIGHT = (4_030_000.0, 2_960_000.0), 20.0, 400, 300
DAYS = (3, 13)  # days since 2025-06-01: 2025-06-04 and 2025-06-14
STEP_IDS = ("field_20250604T000000", "field_20250614T000000")
GROUP = "field.zarr/measurements/reflectance/r10m"
# name: (dtype, fill value, scale_factor, add_offset, lowest, highest stored value)
VARIABLES = {
    "b04": ("uint16", 0, 0.0001, -0.1, 1, 10000),
    "b08": ("int16", -32768, 0.5, 10.0, -1000, 20000),
}


# --- the store --------------------------------------------------------------------------------


def zgroup(folder: Path, attrs: dict | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".zgroup").write_text(json.dumps({"zarr_format": 2}))
    if attrs:
        (folder / ".zattrs").write_text(json.dumps(attrs))


def zarray(folder: Path, data: np.ndarray, dims: list[str], attrs: dict, fill=None) -> None:
    """A Zarr v2 array: zlib chunks of at most 128 along the last two dimensions, one along
    the others (time)."""
    folder.mkdir(parents=True)
    chunks = [min(s, 128) if i >= data.ndim - 2 else 1 for i, s in enumerate(data.shape)]
    meta = {
        "zarr_format": 2, "shape": list(data.shape), "chunks": chunks, "dtype": data.dtype.str,
        "compressor": {"id": "zlib", "level": 1}, "fill_value": fill, "order": "C",
        "filters": None,
    }  # fmt: skip
    (folder / ".zarray").write_text(json.dumps(meta))
    (folder / ".zattrs").write_text(json.dumps({"_ARRAY_DIMENSIONS": dims, **attrs}))
    if data.ndim == 0:
        (folder / "0").write_bytes(zlib.compress(data.tobytes()))
        return
    for index in itertools.product(
        *(range(0, s, c) for s, c in zip(data.shape, chunks, strict=True))
    ):
        part = data[tuple(slice(i, i + c) for i, c in zip(index, chunks, strict=True))]
        block = np.full(chunks, fill if fill is not None else 0, dtype=data.dtype)
        block[tuple(slice(0, s) for s in part.shape)] = part
        name = ".".join(str(i // c) for i, c in zip(index, chunks, strict=True))
        (folder / name).write_bytes(zlib.compress(block.tobytes()))


def level_zero(name: str) -> np.ndarray:
    """(2, HEIGHT, WIDTH) stored values of ``name``; the upper-left triangle its fill value."""
    dtype, fill, _, _, low, high = VARIABLES[name]
    rng = np.random.default_rng(sorted(VARIABLES).index(name) + 7)
    data = rng.integers(low, high, (2, HEIGHT, WIDTH)).astype(dtype)
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    data[:, rows * WIDTH < (WIDTH // 2 - cols) * HEIGHT] = fill
    return data


def halved(data: np.ndarray, fill: int) -> np.ndarray:
    """2 x 2 means (rounded); the fill value where one of the four is."""
    t, h, w = data.shape
    blocks = data.reshape(t, h // 2, 2, w // 2, 2).astype("float64")
    out = np.round(blocks.mean(axis=(2, 4))).astype(data.dtype)
    out[(blocks == fill).any(axis=(2, 4))] = fill
    return out


def levels() -> dict[str, list[np.ndarray]]:
    """Each variable's stored arrays: level 0, level 1."""
    return {
        name: [level_zero(name), halved(level_zero(name), VARIABLES[name][1])] for name in VARIABLES
    }


def write_store(root: Path) -> Path:
    """``field.zarr`` in the EOPF layout with a GeoZarr multiscales group; returns the group."""
    zgroup(root / "field.zarr", {"title": "field campaign"})
    zgroup(root / "field.zarr/measurements")
    zgroup(root / "field.zarr/measurements/reflectance")
    group = root / GROUP
    convention = {"name": "multiscales", "uuid": "d35379db-88df-4056-af3a-620245f8e347"}
    layout = [{"asset": "0"}, {"asset": "1", "derived_from": "0", "transform": {"scale": [2, 2]}}]
    zgroup(group, {"zarr_conventions": [convention], "multiscales": {"layout": layout}})
    wkt = ProjCRS.from_epsg(3035).to_wkt()
    for level, arrays in enumerate(zip(*levels().values(), strict=True)):
        folder, res = group / str(level), RES * 2**level
        zgroup(folder)
        height, width = arrays[0].shape[1:]
        x = ORIGIN[0] + res * (np.arange(width) + 0.5)
        y = ORIGIN[1] - res * (np.arange(height) + 0.5)
        zarray(folder / "x", x, ["x"], {"units": "m", "standard_name": "projection_x_coordinate"})
        zarray(folder / "y", y, ["y"], {"units": "m", "standard_name": "projection_y_coordinate"})
        days = np.array(DAYS, dtype="int64")
        zarray(folder / "time", days, ["time"], {"units": "days since 2025-06-01 00:00:00",
               "calendar": "proleptic_gregorian"})  # fmt: skip
        mapping = {
            "crs_wkt": wkt,
            "spatial_ref": wkt,
            "grid_mapping_name": "lambert_azimuthal_equal_area",
        }
        zarray(folder / "spatial_ref", np.array(0, dtype="int64"), [], mapping)
        for name, data in zip(VARIABLES, arrays, strict=True):
            _, fill, scale, offset, _, _ = VARIABLES[name]
            attrs = {"grid_mapping": "spatial_ref", "scale_factor": scale, "add_offset": offset}
            zarray(folder / name, data, ["time", "y", "x"], attrs, fill=fill)
    return group


def carrier(folder: Path, name: str, level: int, step: int) -> Path:
    """A plain GeoTIFF of one array the test wrote (for ``nearest_reference``)."""
    data = levels()[name][level][step]
    _, fill, scale, offset, _, _ = VARIABLES[name]
    path = folder / f"{name}_{level}_{step}.tif"
    res = RES * 2**level
    with rasterio.open(
        path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
        dtype=data.dtype, crs="EPSG:3035", transform=from_origin(*ORIGIN, res, res), nodata=fill,
    ) as dst:  # fmt: skip
        dst.write(data, 1)
        dst.scales, dst.offsets = (scale,), (offset,)
    return path


@pytest.fixture(scope="module")
def own(sample_archive: Path, tmp_path_factory: pytest.TempPathFactory):
    """The sample's data folder with the store ingested as ``field``; yields (data, inputs)."""
    root = tmp_path_factory.mktemp("byodzarr")
    data, inputs = data_dir_beside(sample_archive, root), root / "inputs"
    write_store(inputs)
    report = ingest([inputs / GROUP], options(data, inputs, "field"))
    assert report.failed == [] and report.done == list(STEP_IDS), report.failed
    return data, inputs


# The live gateway of ``tests.test_byod``, serving this module's ``own`` data folder.
server = test_byod.server


def tiff(answer: httpx.Response, epsg: int) -> np.ndarray:
    """The bands of a GeoTIFF answer in ``epsg``."""
    assert answer.status_code == 200, answer.text[:300]
    values, crs, _, _ = geotiff(answer.content)
    assert crs.to_epsg() == epsg
    return values


def native(level: int, window: tuple[int, int, int, int]) -> Grid:
    """The pixels ``window`` (col, row, width, height) of a level of the store."""
    col, row, width, height = window
    res = RES * 2**level
    left, top = ORIGIN[0] + col * res, ORIGIN[1] - row * res
    return Grid(CRS.from_epsg(3035), (left, top - height * res, left + width * res, top),
                width, height)  # fmt: skip


# --- items --------------------------------------------------------------------------------------


def test_items_validate_against_their_extension_schemas(own):
    """The Zarr store's items against the eo, projection and raster schemas (offline, from
    ``GATEWAY_TEST_STAC_SCHEMAS``: skips without)."""
    data, _ = own
    for step_id in STEP_IDS:
        test_byod.check_extension_schemas(item(data, "field", step_id))


def test_one_item_per_time_step_with_the_variables_as_bands(own):
    data, _ = own
    for step_id, day in zip(STEP_IDS, ("2025-06-04", "2025-06-14"), strict=True):
        found = item(data, "field", step_id)
        test_byod.check_stac_schemas(found)
        assert found["properties"]["datetime"].startswith(f"{day}T00:00:00")
        assert list(found["assets"]) == list(VARIABLES)
        for name, asset in found["assets"].items():
            _, fill, scale, offset, _, _ = VARIABLES[name]
            assert asset["type"] == VRT_TYPE
            assert asset["proj:code"] == "EPSG:3035"
            assert asset["proj:shape"] == [HEIGHT, WIDTH]
            assert asset["proj:transform"] == [RES, 0.0, ORIGIN[0], 0.0, -RES, ORIGIN[1]]
            assert asset["nodata"] == fill
            assert asset["raster:scale"] == pytest.approx(scale)
            assert asset["raster:offset"] == pytest.approx(offset)
            with rasterio.open(asset["href"][len("file://") :]) as src:
                assert src.overviews(1) == [2]  # the multiscales level
    collection = json.loads((data / "stac/collections/field/collection.json").read_text())
    assert [b["name"] for b in collection["summaries"]["bands"]] == list(VARIABLES)
    assert collection["extent"]["temporal"]["interval"][0][0].startswith("2025-06-04")


def test_geozarr_proj_code_and_spatial_transform_give_the_grid(own, tmp_path: Path):
    """A store whose CRS and grid are only in the GeoZarr ``proj:code`` and
    ``spatial:transform`` attributes (GDAL 3.12 reads neither); no time dimension."""
    data, _ = own
    group = tmp_path / "plain.zarr"
    zgroup(group, {"proj:code": "EPSG:3035",
                   "spatial:transform": [RES, 0.0, ORIGIN[0], 0.0, -RES, ORIGIN[1]]})  # fmt: skip
    zarray(group / "dem", level_zero("b08")[0], ["y", "x"], {}, fill=-32768)
    report = ingest([group], options(data, tmp_path, "plain", datetime="2025-05-01"))
    assert report.failed == [] and report.done == ["plain"], report.failed
    asset = item(data, "plain", "plain")["assets"]["dem"]
    assert asset["proj:code"] == "EPSG:3035"
    assert asset["proj:transform"] == [RES, 0.0, ORIGIN[0], 0.0, -RES, ORIGIN[1]]


def test_reingest_replaces_the_steps_and_remove_takes_them_out(own, tmp_path: Path):
    data, _ = own
    write_store(tmp_path)
    opts = options(data, tmp_path, "again")
    assert ingest([tmp_path / GROUP], opts).done == list(STEP_IDS)
    assert ingest([tmp_path / GROUP], opts).done == list(STEP_IDS)
    items = sorted(p.stem for p in (data / "stac/collections/again/items").glob("*.json"))
    assert items == list(STEP_IDS)
    assert ingest([tmp_path / GROUP], opts, remove=True).done == list(STEP_IDS)
    assert not list((data / "stac/collections/again/items").glob("*.json"))
    assert not [p for p in (data / "byod/again").iterdir() if not p.name.startswith(".")]


# --- pixels through the doors -----------------------------------------------------------------


@pytest.mark.parametrize("step", [0, 1])
def test_wcs_native_grid_is_the_steps_arrays_with_scale_offset_and_nodata(
    server, own, tmp_path: Path, step: int
):
    day = ("2025-06-04", "2025-06-14")[step]
    grid = native(0, (50, 40, 300, 200))  # crosses the nodata triangle's edge
    got = wcs(server, "field", grid, day)
    assert got.shape == (2, 200, 300)
    for band, name in enumerate(VARIABLES):
        assert_same(got[band], nearest_reference(carrier(tmp_path, name, 0, step), grid))


def test_a_coarse_wcs_reads_the_multiscales_level(server, own, tmp_path: Path):
    """Twice the store's pixel: the values are level 1's means, not level 0's pixels."""
    grid = native(1, (10, 10, 150, 120))
    got = wcs(server, "field", grid, "2025-06-14")
    level1 = nearest_reference(carrier(tmp_path, "b04", 1, 1), grid)
    assert_same(got[0], level1)
    level0 = nearest_reference(carrier(tmp_path, "b04", 0, 1), grid)[0]
    valid = np.isfinite(level0) & np.isfinite(level1[0])
    assert (np.abs(got[0] - level0)[valid] > 1e-4).mean() > 0.5


def test_ogcapi_coverage_in_lonlat_equals_numpy(server, own, tmp_path: Path):
    to_lonlat = Transformer.from_crs("EPSG:3035", "EPSG:4326", always_xy=True)
    lon, lat = to_lonlat.transform(ORIGIN[0] + 4000, ORIGIN[1] - 3000)
    step = 0.0002
    west, north = round(lon / step) * step - 100 * step, round(lat / step) * step + 60 * step
    grid = Grid(CRS.from_epsg(4326), (west, north - 120 * step, west + 200 * step, north), 200, 120)
    answer = httpx.get(
        f"{server}/ogcapi/collections/FIELD/coverage",
        params={"f": "GTiff", "bbox": ",".join(repr(v) for v in grid.bounds),
                "scale-size": f"Lon({grid.width}),Lat({grid.height})", "datetime": "2025-06-04"},
        timeout=60,
    )  # fmt: skip
    assert_same(tiff(answer, 4326)[0], nearest_reference(carrier(tmp_path, "b04", 0, 0), grid))


def test_wms_float_map_in_3857_at_a_time_equals_numpy(server, own, tmp_path: Path):
    check_wms_in_3857(server, tmp_path)


def check_wms_in_3857(server: str, tmp_path: Path) -> None:
    """A float WMS map in EPSG:3857 on the second date equals the array there."""
    to_lonlat = Transformer.from_crs("EPSG:3035", "EPSG:3857", always_xy=True)
    x0, y1 = to_lonlat.transform(ORIGIN[0] + 1000, ORIGIN[1] - 500)
    grid = Grid(CRS.from_epsg(3857), (x0, y1 - 4500, x0 + 6000, y1), 400, 300)
    answer = get(
        f"{server}/wms", SERVICE="WMS", VERSION="1.3.0", REQUEST="GetMap", LAYERS="FIELD",
        STYLES="", CRS="EPSG:3857", BBOX=",".join(repr(v) for v in grid.bounds), WIDTH="400",
        HEIGHT="300", FORMAT="image/tiff", TIME="2025-06-14",
    )  # fmt: skip
    assert_same(tiff(answer, 3857)[0], nearest_reference(carrier(tmp_path, "b04", 0, 1), grid))


def test_wmts_tile_transparency_and_values_follow_numpy(server, own, tmp_path: Path):
    """A WebMercatorQuad tile across the nodata triangle's edge, on the first date:
    transparent exactly where the array holds its fill value; GetFeatureInfo values are the
    array's, x scale + offset."""
    reference_path = carrier(tmp_path, "b04", 0, 0)
    to_lonlat = Transformer.from_crs("EPSG:3035", "EPSG:4326", always_xy=True)
    lon, lat = to_lonlat.transform(ORIGIN[0] + RES * 100, ORIGIN[1] - RES * 75)  # on the edge
    quad = morecantile.tms.get("WebMercatorQuad")
    tile = quad.tile(lon, lat, 16)
    base = f"{server}/wmts/1.0.0/FIELD/WebMercatorQuad/default/{tile.z}/{tile.x}/{tile.y}.png"
    answer = httpx.get(base, params={"TIME": "2025-06-04"}, timeout=60)
    assert answer.status_code == 200, answer.text[:300]
    picture = np.asarray(Image.open(io.BytesIO(answer.content)).convert("RGBA"))
    grid = Grid(CRS.from_epsg(3857), tuple(quad.xy_bounds(tile)), 256, 256)
    reference = nearest_reference(reference_path, grid)
    expected = reference[0]
    assert 0.05 < np.isnan(expected).mean() < 0.95
    clear = picture[..., 3] == 0
    assert np.logical_or.reduce([clear == np.isnan(r) for r in reference]).all()
    assert_featureinfo(server, "FIELD", tile, reference, TIME="2025-06-04")


# --- a store in S3 ------------------------------------------------------------------------------


def test_s3_store_is_ingested_and_served_through_wcs_and_wms(sample_archive, tmp_path: Path):
    """``ingest s3://own/stores/field.zarr/...`` (moto): the items' VRTs read the store through
    ``/vsis3/`` in the Zarr GDAL scope (no extension filter); a gateway on that S3 endpoint
    serves its pixels equal to the arrays through WCS 2.0.1 and WMS."""
    from pydantic import SecretStr
    from typer.testing import CliRunner

    from gateway.cli import app
    from gateway.settings import Settings
    from tests.support.ows_live import OWS_DOORS, live_gateway
    from tests.support.s3_server import ACCESS_KEY, REGION, SECRET_KEY, s3_client, start_s3
    from tests.test_byod import MAPPROXY, cli_env

    inputs = tmp_path / "inputs"
    write_store(inputs)
    server = start_s3(tmp_path / "no-eodata", tmp_path / "moto")
    try:
        client = s3_client(server.direct_url)
        client.create_bucket(Bucket="own")
        for path in sorted((inputs / "field.zarr").rglob("*")):
            if path.is_file():
                client.upload_file(str(path), "own", f"stores/{path.relative_to(inputs)}")
        data = data_dir_beside(sample_archive, tmp_path)
        # Straight to moto, not through the counting proxy: a thread of this process, which
        # GDAL calls holding the GIL (a VRT's overviews opened by ``overviews()``) would stall.
        direct = server.direct_url.removeprefix("http://")
        env = {**cli_env(data, inputs), **server.env(), "AWS_S3_ENDPOINT": direct}
        url = f"s3://own/stores/{GROUP}"
        result = CliRunner().invoke(app, ["ingest", url, "--collection", "field"], env=env)
        assert result.exit_code == 0, result.output
        for missing in ("s3://own/stores/none.zarr", "s3://nobucket/x.zarr", "s3://own/stores"):
            refused = CliRunner().invoke(app, ["ingest", missing, "--collection", "x"], env=env)
            assert refused.exit_code != 0 and "not a Zarr store" in refused.output, missing
        assert not (data / "stac/collections/x").exists()
        asset = item(data, "field", STEP_IDS[1])["assets"]["b04"]
        assert asset["type"] == VRT_TYPE
        vrt = Path(asset["href"][len("file://") :]).read_text()
        assert f'ZARR:"/vsis3/own/stores/{GROUP}/0":/b04:1' in vrt
        settings = Settings(
            data_dir=data, sample_data=False, redis_url=None, stac_url=None, storage="s3",
            s3_endpoint=direct, s3_https=False, s3_virtual_hosting=False,
            s3_access_key_id=ACCESS_KEY, s3_secret_access_key=SecretStr(SECRET_KEY),
            s3_region=REGION,
        )  # fmt: skip
        grid = native(0, (50, 40, 300, 200))
        with live_gateway(settings, doors=(*OWS_DOORS, MAPPROXY)) as base:
            got = wcs(base, "field", grid, "2025-06-14")
            for band, name in enumerate(VARIABLES):
                assert_same(got[band], nearest_reference(carrier(tmp_path, name, 0, 1), grid))
            check_wms_in_3857(base, tmp_path)
        args = ["ingest", url, "--collection", "field", "--remove"]
        assert CliRunner().invoke(app, args, env=env).exit_code == 0
        assert not list((data / "stac/collections/field/items").glob("*.json"))
    finally:
        server.stop()
