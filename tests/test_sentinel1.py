"""Sentinel-1 GRD: the sample products as CDSE lays them out, the annotation tables, and
calibrated backscatter on output grids against an independent numpy reference
(tests/support/s1_reference.py: (DN² - noise) / A², geocoded by an affine fit of the GCPs)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rio_cogeo.cogeo import cog_validate

from gateway.core.catalog import scene_from_item
from gateway.core.request import build_request
from gateway.core.sar import parse_sar_options
from gateway.core.sar.annotation import calibration_table, noise_tables
from gateway.errors import InvalidParameterValue
from gateway.sample import LANDMARKS
from tests.support import s1_reference as ref

S1 = "sentinel-1-grd"
JUNE = "2025-06-01/2025-06-30"


@pytest.fixture(scope="module")
def items(sample_archive: Path) -> list[dict]:
    path = sample_archive / "stac" / "collections" / S1 / "items.ndjson"
    return [json.loads(line) for line in path.read_text().splitlines()]


def local(archive: Path, href: str) -> Path:
    return archive / "eodata" / href[len("s3://eodata/") :]


def files(archive: Path, item: dict, pol: str) -> tuple[Path, Path, Path]:
    """(measurement, calibration, noise) of one polarisation of an item."""
    assets = item["assets"]
    return (
        local(archive, assets[pol]["href"]),
        local(archive, assets[f"schema-calibration-{pol}"]["href"]),
        local(archive, assets[f"schema-noise-{pol}"]["href"]),
    )


def by_orbit(items: list[dict], state: str) -> dict:
    return next(i for i in items if i["properties"]["sat:orbit_state"] == state)


# ---------------------------------------------------------------------------------------------
# the sample products


def test_products_are_laid_out_like_cdse(sample_archive: Path, items):
    assert sorted(i["properties"]["sat:orbit_state"] for i in items) == [
        "ascending",
        "ascending",
        "descending",
    ]
    name = re.compile(
        r"^S1A_IW_GRDH_1SDV_(\d{8})T\d{6}_\d{8}T\d{6}_\d{6}_[0-9A-F]{6}_[0-9A-F]{4}_COG$"
    )
    for item in items:
        day = name.match(item["id"]).group(1)  # type: ignore[union-attr]
        enclosure = next(lk["href"] for lk in item["links"] if lk["rel"] == "enclosure")
        assert enclosure == (
            f"s3://eodata/Sentinel-1/SAR/IW_GRDH_1S-COG/{day[:4]}/{day[4:6]}/{day[6:]}/"
            f"{item['id']}.SAFE/"
        )
        p = item["properties"]
        assert p["sat:relative_orbit"] == (88 if p["sat:orbit_state"] == "ascending" else 37)
        assert p["sar:polarizations"] == ["VV", "VH"] and p["sar:instrument_mode"] == "IW"
        manifest = local(sample_archive, item["assets"]["safe_manifest"]["href"]).read_text()
        assert f"<pass>{p['sat:orbit_state'].upper()}</pass>" in manifest
        for pol in ("vv", "vh"):
            measurement, calibration, noise = files(sample_archive, item, pol)
            assert cog_validate(str(measurement))[0]
            with rasterio.open(measurement) as src:
                gcps, crs = src.gcps
                assert len(gcps) == 210 and crs.to_epsg() == 4326
                assert src.crs is None and src.transform.is_identity  # GCPs only
                assert [src.height, src.width] == item["assets"][pol]["proj:shape"]
                assert src.dtypes[0] == "uint16" and src.nodata == 0 and src.overviews(1)
            cal = calibration.read_text()
            assert cal.count("<calibrationVector>") >= 2 and "<sigmaNought count=" in cal
            text = noise.read_text()
            assert "<noiseRangeVector>" in text and "<noiseAzimuthVector>" in text


def test_rms_overviews_keep_the_mean_power(sample_archive: Path, items):
    measurement, _, _ = files(sample_archive, items[0], "vv")
    with rasterio.open(measurement) as src:
        full = src.read(1).astype(np.float64)
    with rasterio.open(measurement, overview_level=0) as level:
        half = level.read(1).astype(np.float64)
    rows, cols = (s // 2 * 2 for s in full.shape)
    blocks = full[:rows, :cols].reshape(rows // 2, 2, cols // 2, 2)
    rms = np.sqrt((blocks**2).mean(axis=(1, 3)))
    inner = (slice(2, -2), slice(12, -2))  # away from the no-data border
    assert np.abs(half[: rows // 2, : cols // 2][inner] - rms[inner]).max() <= 1.0


# ---------------------------------------------------------------------------------------------
# annotation tables


def test_tables_evaluate_as_the_reference(sample_archive: Path, items):
    measurement, calibration, noise = files(sample_archive, items[1], "vh")
    with rasterio.open(measurement) as src:
        shape = src.shape
    lines = np.arange(shape[0], dtype=np.float64)
    samples = np.arange(shape[1], dtype=np.float64)
    for kind, tag in ref.TAGS.items():
        mine = calibration_table(calibration.read_bytes(), kind).at(lines, samples)
        expected = ref._bilinear(*ref._vectors(calibration, "calibrationVector", tag), shape)
        np.testing.assert_allclose(mine, expected, rtol=1e-12)
    mine = noise_tables(noise.read_bytes()).at(lines, samples)
    np.testing.assert_allclose(mine, ref.noise_power(noise, shape), rtol=1e-12)


@pytest.mark.parametrize(
    "content",
    [b"", b"<calibration/>", b"<calibration><calibrationVectorList><calibrationVector>"
     b"<line>0</line><pixel>0 x</pixel><sigmaNought>1 2</sigmaNought></calibrationVector>"
     b"</calibrationVectorList></calibration>",
     b'<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><calibration>&e;</calibration>'],
)  # fmt: skip
def test_broken_calibration_files_are_refused(content):
    from gateway.core.sar.annotation import AnnotationError

    with pytest.raises(AnnotationError):
        calibration_table(content, "sigma0")


# ---------------------------------------------------------------------------------------------
# calibrated values on output grids


def utm_grid_lonlat(bounds, width, height, epsg=32631):
    """Lon/lat of the pixel centres of a north-up UTM grid."""
    minx, miny, maxx, maxy = bounds
    xs = minx + (np.arange(width) + 0.5) * (maxx - minx) / width
    ys = maxy - (np.arange(height) + 0.5) * (maxy - miny) / height
    gx, gy = np.meshgrid(xs, ys)
    lon, lat = Transformer.from_crs(epsg, 4326, always_xy=True).transform(gx, gy)
    return np.asarray(lon), np.asarray(lat)


# A 10 m UTM 31N grid over the lake, the forest and the town.
BOUNDS = (706500.0, 5829800.0, 709500.0, 5838400.0)
SIZE = (300, 860)


def compute(runtime, expression: str, time: str, **sar):
    request = build_request(
        runtime.config,
        bbox=BOUNDS,
        crs="EPSG:32631",
        width=SIZE[0],
        height=SIZE[1],
        collection=S1,
        expression=expression,
        format="tiff",
        time=time,
        sar=parse_sar_options(**sar),
    )
    return runtime.engine.compute(request)


@pytest.mark.parametrize(
    ("back_coeff", "kind", "noise"),
    [
        ("SIGMA0_ELLIPSOID", "sigma0", True),
        ("GAMMA0_ELLIPSOID", "gamma0", True),
        ("BETA0", "beta0", False),
    ],
)
@pytest.mark.parametrize("state", ["ascending", "descending"])
def test_backscatter_matches_the_numpy_reference(
    runtime, sample_archive: Path, items, state, back_coeff, kind, noise
):
    item = by_orbit(items, state)
    day = item["properties"]["datetime"][:10]
    raster = compute(
        runtime,
        "VV;VH",
        day,
        back_coeff=back_coeff,
        noise_removal="TRUE" if noise else "FALSE",
        orbit_direction=state.upper(),
    )
    assert [s.id for s in raster.scenes] == [item["id"]]
    lon, lat = utm_grid_lonlat(BOUNDS, *SIZE)
    for index, pol in enumerate(("vv", "vh")):
        measurement, calibration, noise_file = files(sample_archive, item, pol)
        full = ref.calibrated(measurement, calibration, noise_file if noise else None, kind)
        expected = ref.sample_at(full, ref.gcp_affine(measurement), lon, lat)
        got = raster.data[index]
        both = raster.valid & np.isfinite(expected)
        assert both.mean() > 0.99
        assert (raster.valid == np.isfinite(expected)).mean() > 0.999
        rel = np.abs(got[both] - expected[both]) / np.maximum(expected[both], 1e-4)
        assert np.percentile(rel, 99) < 1e-3, (pol, np.percentile(rel, 99))
        assert np.median(rel) < 1e-4


def test_noise_removal_lowers_the_dark_water(runtime, items):
    day = by_orbit(items, "descending")["properties"]["datetime"][:10]
    with_noise = compute(runtime, "VH", day, noise_removal="FALSE").data[0]
    without = compute(runtime, "VH", day).data[0]
    assert np.nanmean(without) < np.nanmean(with_noise)
    assert np.all(without[np.isfinite(without)] >= 0)


def test_the_landscape_shows_in_decibels(runtime, items):
    raster = compute(runtime, "10*log10(VV)", JUNE, orbit_direction="ASCENDING")
    lon, lat = utm_grid_lonlat(BOUNDS, *SIZE)

    def inside(name: str) -> np.ndarray:
        west, south, east, north = LANDMARKS[name].core
        return (lon > west) & (lon < east) & (lat > south) & (lat < north) & raster.valid

    db = raster.data[0]
    assert np.median(db[inside("lake")]) < -17
    assert np.median(db[inside("town")]) > -5
    assert -11 < np.median(db[inside("forest")]) < -4


def test_orbit_direction_picks_the_scenes(runtime, items):
    for state in ("ascending", "descending"):
        raster = compute(runtime, "VV", JUNE, orbit_direction=state.upper())
        wanted = {i["id"] for i in items if i["properties"]["sat:orbit_state"] == state}
        assert raster.scenes and {s.id for s in raster.scenes} <= wanted
    mixed = compute(runtime, "VV", JUNE)
    assert mixed.scenes[0].id == max(items, key=lambda i: i["properties"]["datetime"])["id"]


def test_zoomed_out_reads_an_overview_close_to_the_full_resolution(runtime):
    coarse = build_request(
        runtime.config, bbox=BOUNDS, crs="EPSG:32631", width=38, height=108,
        collection=S1, expression="VV", format="tiff", time=JUNE,
    )  # fmt: skip
    fine = compute(runtime, "VV", JUNE)
    low = runtime.engine.compute(coarse).data[0]
    # the fine grid averaged onto ~80 m pixels: speckle differs, the means agree
    high = fine.data[0]
    assert abs(np.nanmedian(low) / np.nanmedian(high) - 1) < 0.15


def test_a_tile_alone_and_cut_from_its_metatile_are_the_same(runtime):
    """Positions come per pixel from the GCP transformer and the level from the scene's
    centre: a pixel's value does not depend on the window asked."""
    west, south, east, north = 707000.0, 5834000.0, 707000.0 + 5120, 5834000.0 + 5120

    def values(bounds, size):
        request = build_request(
            runtime.config, bbox=bounds, crs="EPSG:32631", width=size, height=size,
            collection=S1, expression="VV;VH", format="tiff", time=JUNE,
        )  # fmt: skip
        return runtime.engine.compute(request)

    for size in (512, 64):  # 10 m (full resolution) and 80 m (an overview)
        whole = values((west, south, east, north), size)
        half = size // 2
        corner = values((west + (east - west) / 2, south, east, south + (north - south) / 2), half)
        cut = whole.data[:, half:, half:]
        assert np.array_equal(whole.valid[half:, half:], corner.valid)
        assert np.array_equal(cut[:, corner.valid], corner.data[:, corner.valid])
    # taller than the reader's chunk of rows (512): rows across a chunk's edge, asked alone
    tall = build_request(
        runtime.config, bbox=(west, south - 7000, west + 1000, north), crs="EPSG:32631",
        width=100, height=1212, collection=S1, expression="VV;VH", format="tiff", time=JUNE,
    )  # fmt: skip
    whole = runtime.engine.compute(tall)
    alone = values((west, north - 5620, west + 1000, north - 4620), 100)
    assert alone.valid.mean() > 0.99
    assert np.array_equal(whole.valid[462:562], alone.valid)
    assert np.array_equal(whole.data[:, 462:562][:, alone.valid], alone.data[:, alone.valid])


def test_scene_orbit_state_is_read_from_items(items):
    scenes = [scene_from_item(i) for i in items]
    assert {s.orbit_state for s in scenes} == {"ascending", "descending"}


@pytest.mark.parametrize(
    ("args", "locator"),
    [
        ({"orbit_direction": "SIDEWAYS"}, "orbitdirection"),
        ({"orbit_direction": "ascending\x00"}, "orbitdirection"),
        ({"back_coeff": "GAMMA0_TERRAIN"}, "backcoeff"),
        ({"noise_removal": "maybe"}, "noiseremoval"),
    ],
)
def test_bad_options_name_their_parameter(args, locator):
    with pytest.raises(InvalidParameterValue) as caught:
        parse_sar_options(**args)
    assert caught.value.locator == locator


# ---------------------------------------------------------------------------------------------
# from S3 and a STAC API, as against CDSE


@pytest.fixture(scope="module")
def remote(sample_archive: Path, tmp_path_factory: pytest.TempPathFactory):
    """An engine on the S3 stand-in (annotations through boto3, COGs through /vsis3/) and
    stac-fastapi-pgstac (ORBITDIRECTION as a CQL2 filter), with an empty data folder."""
    from gateway.runtime import build_runtime
    from gateway.settings import Settings
    from tests.support.s3_server import start_s3
    from tests.support.stac_api import start_stac_api

    s3 = start_s3(sample_archive / "eodata", tmp_path_factory.mktemp("moto-s1"))
    stac = start_stac_api(sample_archive / "stac")
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("remote-s1"), stac_url=stac.url, storage="s3",
        s3_endpoint=s3.endpoint, s3_https=False, s3_virtual_hosting=False,
        s3_access_key_id="test", s3_secret_access_key="test", s3_region="us-east-1",
        sample_data=False, redis_url=None,
    )  # fmt: skip
    built = build_runtime(settings)
    try:
        yield built
    finally:
        built.close()
        stac.stop()
        s3.stop()


@pytest.mark.parametrize("state", ["ascending", "descending"])
def test_same_backscatter_from_s3_and_stac_api(runtime, remote, items, state):
    options = {"orbit_direction": state.upper(), "back_coeff": "GAMMA0_ELLIPSOID"}
    local = compute(runtime, "VV;VH", JUNE, **options)
    far = compute(remote, "VV;VH", JUNE, **options)
    assert [s.id for s in far.scenes] == [s.id for s in local.scenes]
    assert {s.orbit_state for s in far.scenes} == {state}
    assert np.array_equal(far.valid, local.valid) and local.valid.mean() > 0.99
    assert np.array_equal(far.data[:, far.valid], local.data[:, local.valid])
    counted = remote.engine.reader.tally.snapshot()
    assert counted["windows"] >= 2 and counted["opens"] >= 2 and counted["bytes"] > 0


@pytest.mark.parametrize(
    ("metres", "factor"), [(10, 1), (15, 1), (21, 2), (39, 2), (41, 4), (500, 4)]
)
def test_the_level_read_fits_the_output_pixel(sample_archive: Path, items, metres, factor):
    from gateway.core.grid import Grid
    from gateway.core.sar.reader import level_factor

    measurement, _, _ = files(sample_archive, items[0], "vv")
    grid = Grid(rasterio.crs.CRS.from_epsg(32631), (707000.0, 5834000.0, 707000.0 + 64 * metres,
                5834000.0 + 64 * metres), 64, 64)  # fmt: skip
    with rasterio.open(measurement) as src:
        assert src.overviews(1) == [2, 4]
        assert level_factor(src, scene_from_item(items[0]), grid) == factor
