"""The Sentinel-1 monthly mosaics (``sentinel-1-global-mosaics``): the sample's files and
items, and their values through every door (WCS, WMS, WMTS, OGC API Coverages and Maps, the
band-math and statistics processes; WFS lists the items) against numpy on the files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import morecantile
import numpy as np
import pytest
import rasterio
from owslib.wms import WebMapService
from PIL import Image
from pyproj import Transformer
from rio_cogeo.cogeo import cog_validate

from tests.support.ogr import feature_count
from tests.support.ows_live import OWS_DOORS, live_gateway
from tests.support.wcs_checks import geotiff, get

S1 = "sentinel-1-global-mosaics"
MAPPROXY = "gateway.ows.mapproxy.door:build_door"
OGCAPI = "gateway.ogcapi.door:build_door"
UTM31 = "http://www.opengis.net/def/crs/EPSG/0/32631"
# 6 km of T31UFU's window on the mosaics' own 20 m grid, west of T32ULD's (whose pixels the
# mosaic may take where both are).
UTM_BOX = (698000.0, 5830000.0, 704000.0, 5836000.0)


@pytest.fixture(scope="module")
def items(sample_archive: Path) -> list[dict]:
    path = sample_archive / "stac" / "collections" / S1 / "items.ndjson"
    return [json.loads(line) for line in path.read_text().splitlines()]


def local(archive: Path, href: str) -> Path:
    return archive / "eodata" / href.removeprefix("s3://eodata/")


def t31ufu(items: list[dict]) -> dict:
    (item,) = [i for i in items if i["properties"]["grid:code"] == "MGRS-31UFU"]
    return item


def gamma0(values: np.ndarray, asset: dict) -> np.ndarray:
    """Linear gamma0 (power) of a file's values: float32 as stored (CDSE's mosaics carry no
    raster:scale), the asset's nodata (-32768) -> NaN."""
    assert "raster:scale" not in asset and asset["nodata"] == -32768
    values = values.astype(np.float64)
    return np.where(values == asset["nodata"], np.nan, values)


def window_of(archive: Path, item: dict, band: str) -> np.ndarray:
    """Linear gamma0 of UTM_BOX from the file, with numpy."""
    asset = item["assets"][band]
    with rasterio.open(local(archive, asset["href"])) as src:
        return gamma0(src.read(1, window=src.window(*UTM_BOX)), asset)


@pytest.fixture(scope="module")
def server(sample_settings):
    with live_gateway(sample_settings, doors=(*OWS_DOORS, MAPPROXY, OGCAPI)) as url:
        yield url


def test_files_and_items(sample_archive: Path, items):
    assert sorted(i["id"] for i in items) == [
        "Sentinel-1_IW_mosaic_2025_M06_31UFU_0_0",
        "Sentinel-1_IW_mosaic_2025_M06_32ULD_0_0",
    ]
    for item in items:
        props = item["properties"]
        assert props["product:type"] == "S1SAR_L3_IW_MCM"
        assert props["sar:polarizations"] == ["VH", "VV"]
        assert (props["start_datetime"], props["end_datetime"]) == (
            "2025-06-01T00:00:00.000000Z",
            "2025-06-30T23:59:59.000000Z",
        )
        folder = f"Global-Mosaics/Sentinel-1/S1SAR_L3_IW_MCM/2025/06/01/{item['id']}"
        userdata = local(sample_archive, item["assets"]["userdata"]["href"])
        assert userdata == sample_archive / "eodata" / folder / "userdata.json"
        assert json.loads(userdata.read_text())["Name"] == item["id"]
        for band in ("VV", "VH"):
            asset = item["assets"][band]
            href = asset["href"]
            assert href == f"s3://eodata/{folder}/{band}.tif"
            path = local(sample_archive, href)
            assert cog_validate(str(path), quiet=True)[0]
            with rasterio.open(path) as src:
                assert src.dtypes[0] == asset["data_type"] == "float32"
                assert src.nodata == asset["nodata"] == -32768 and src.res == (20.0, 20.0)
                assert list(src.shape) == asset["proj:shape"] == [600, 600]
                assert src.crs.to_string() == asset["proj:code"]
                assert asset["proj:transform"] == list(src.transform.to_gdal())  # CDSE's order
    # Backscatter of the land: water dark, VH below VV.
    vv = window_of(sample_archive, t31ufu(items), "VV")
    vh = window_of(sample_archive, t31ufu(items), "VH")
    assert np.isfinite(vv).all() and (vh < vv).all()
    assert -26 < 10 * np.log10(vv.min()) < -17 and -7 < 10 * np.log10(vv.max()) < 0


def test_wcs_gives_linear_gamma0(server, sample_archive: Path, items):
    crs = "http://www.opengis.net/def/crs/EPSG/0/32631"
    answer = get(
        f"{server}/wcs", SERVICE="WCS", VERSION="2.0.1", REQUEST="GetCoverage", COVERAGEID=S1,
        SUBSET=[f"E({UTM_BOX[0]},{UTM_BOX[2]})", f"N({UTM_BOX[1]},{UTM_BOX[3]})"],
        SUBSETTINGCRS=crs, OUTPUTCRS=crs, SCALESIZE="i(300),j(300)", RANGESUBSET="VV,VH",
        INTERPOLATION="nearest", FORMAT="image/tiff",
    )  # fmt: skip
    assert answer.status_code == 200, answer.text[:400]
    data, _, _, _ = geotiff(answer.content)
    for index, band in enumerate(("VV", "VH")):
        expected = window_of(sample_archive, t31ufu(items), band)
        assert np.allclose(data[index], expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    ("layer", "band", "low", "high"),
    [("S1_MOSAIC_VV", "VV", -25, 0), ("S1_MOSAIC_VH", "VH", -30, -5)],
)
def test_owslib_wms_draws_decibels(server, sample_archive: Path, items, layer, band, low, high):
    """The dB layers' grey levels are 255 * (10 log10(gamma0) - low) / (high - low)."""
    wms = WebMapService(f"{server}/wms", version="1.3.0")
    assert layer in wms.contents
    picture = wms.getmap(
        layers=[layer], styles=[""], srs="EPSG:32631", bbox=UTM_BOX, size=(300, 300),
        format="image/png", transparent=True,
    )  # fmt: skip
    grey = np.asarray(Image.open(io.BytesIO(picture.read())).convert("RGBA"))[..., 0]
    db = 10 * np.log10(window_of(sample_archive, t31ufu(items), band))
    expected = np.clip((db - low) / (high - low), 0, 1) * 255
    # Two roundings: to one of the ramp's 255 palette entries (half an entry, 255/254 levels
    # wide), then the entry's grey to an integer (half a level).
    assert np.abs(grey - expected).max() <= 0.5 * 255 / 254 + 0.5


def false_colour(vv: np.ndarray, vh: np.ndarray) -> np.ndarray:
    """S1_MOSAIC_FALSE_COLOR's RGB levels (0..255) with numpy: VV -25..0 dB, VH -30..-5 dB,
    VV/VH 0..20 dB, each clipped to 0..1."""
    channels = [
        (10 * np.log10(vv) + 25) / 25,
        (10 * np.log10(vh) + 30) / 25,
        10 * np.log10(vv / vh) / 20,
    ]
    return np.stack([np.clip(c, 0, 1) * 255 for c in channels], axis=-1)


def test_owslib_wms_draws_the_false_colour(server, sample_archive: Path, items):
    wms = WebMapService(f"{server}/wms", version="1.3.0")
    assert "S1_MOSAIC_FALSE_COLOR" in wms.contents
    picture = wms.getmap(
        layers=["S1_MOSAIC_FALSE_COLOR"], styles=[""], srs="EPSG:32631", bbox=UTM_BOX,
        size=(300, 300), format="image/png", transparent=True,
    )  # fmt: skip
    rgba = np.asarray(Image.open(io.BytesIO(picture.read())).convert("RGBA")).astype(float)
    item = t31ufu(items)
    vv, vh = (window_of(sample_archive, item, band) for band in ("VV", "VH"))
    expected = false_colour(vv, vh)
    assert (rgba[..., 3] == 255).all()
    assert np.abs(rgba[..., :3] - expected).max() <= 1.0
    assert expected.std(axis=(0, 1)).min() > 3  # each channel varies: a real check


def bilinear(grid: np.ndarray, col: np.ndarray, row: np.ndarray) -> np.ndarray:
    """``grid`` at fractional pixel positions (pixel centres at i + 0.5), bilinearly."""
    u, v = col - 0.5, row - 0.5
    c0, r0 = np.floor(u).astype(int), np.floor(v).astype(int)
    fu, fv = u - c0, v - r0
    return (
        grid[r0, c0] * (1 - fu) * (1 - fv) + grid[r0, c0 + 1] * fu * (1 - fv)
        + grid[r0 + 1, c0] * (1 - fu) * fv + grid[r0 + 1, c0 + 1] * fu * fv
    )  # fmt: skip


def test_wmts_rest_tile_is_the_bilinear_decibels(server, sample_archive: Path, items):
    """A WebMercatorQuad tile (z14, ~6 m pixels over the 20 m files) of S1_MOSAIC_VV: its grey
    levels against numpy's bilinear read of the file at the tile's pixel centres."""

    tms = morecantile.tms.get("WebMercatorQuad")
    tile = morecantile.Tile(x=8463, y=5366, z=14)  # inside UTM_BOX
    answer = httpx.get(
        f"{server}/wmts/1.0.0/S1_MOSAIC_VV/WebMercatorQuad/default/14/{tile.x}/{tile.y}.png",
        timeout=60,
    )
    assert answer.status_code == 200, answer.text[:300]
    grey = np.asarray(Image.open(io.BytesIO(answer.content)).convert("RGBA"))
    assert grey.shape == (256, 256, 4) and (grey[..., 3] == 255).all()
    left, _, right, top = tms.xy_bounds(tile)
    step = (right - left) / 256
    cols, rows = np.meshgrid(np.arange(256) + 0.5, np.arange(256) + 0.5)
    x, y = left + cols * step, top - rows * step
    east, north = Transformer.from_crs(3857, 32631, always_xy=True).transform(x, y)
    asset = t31ufu(items)["assets"]["VV"]
    with rasterio.open(local(sample_archive, asset["href"])) as src:
        linear = gamma0(src.read(1), asset)
        col, row = ~src.transform @ (east, north)
    db = 10 * np.log10(bilinear(linear, col, row))
    expected = np.clip((db + 25) / 25, 0, 1) * 255
    diff = np.abs(grey[..., 0] - expected)
    assert np.percentile(diff, 99) <= 1.0 and diff.max() <= 3.0


def ogcapi_utm(server: str, path: str, **params: str) -> httpx.Response:
    """GET an OGC API collection resource on UTM_BOX in EPSG:32631 at the files' 20 m."""
    answer = httpx.get(
        f"{server}/ogcapi/collections/{path}",
        params={"bbox": ",".join(map(str, UTM_BOX)), "bbox-crs": UTM31, "crs": UTM31,
                "width": "300", "height": "300", **params},
        timeout=60,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text[:400]
    return answer


def test_ogcapi_coverage_is_linear_gamma0(server, sample_archive: Path, items):
    """OGC API Coverages answers in CRS84: its values are the files' pixels (nearest) under
    the coverage's pixel centres, taken to UTM 31N with pyproj."""

    area, width, height = (5.93, 52.59, 6.0, 52.63), 350, 300
    answer = httpx.get(
        f"{server}/ogcapi/collections/{S1}/coverage",
        params={"f": "GTiff", "bbox": ",".join(map(str, area)), "width": str(width),
                "height": str(height), "resampling": "nearest"},
        timeout=60,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text[:400]
    data, crs, transform, _ = geotiff(answer.content)
    assert crs.to_epsg() == 4326 and data.shape == (2, height, width)
    cols, rows = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    lon, lat = transform @ (cols, rows)
    east, north = Transformer.from_crs(4326, 32631, always_xy=True).transform(lon, lat)
    item = t31ufu(items)
    for index, band in enumerate(("VV", "VH")):
        asset = item["assets"][band]
        with rasterio.open(local(sample_archive, asset["href"])) as src:
            col, row = ~src.transform @ (east, north)
            linear = gamma0(src.read(1), asset)
        expected = linear[np.floor(row).astype(int), np.floor(col).astype(int)]
        same = np.isclose(data[index], expected, rtol=1e-6, atol=1e-7)
        # GDAL warps with its approximate transformer (1/8 pixel): centres near a pixel edge
        # may take the neighbour.
        assert same.mean() > 0.99


def test_ogcapi_map_draws_the_false_colour(server, sample_archive: Path, items):
    answer = ogcapi_utm(server, "S1_MOSAIC_FALSE_COLOR/map", f="png", resampling="nearest")
    rgba = np.asarray(Image.open(io.BytesIO(answer.content)).convert("RGBA")).astype(float)
    vv, vh = (window_of(sample_archive, t31ufu(items), band) for band in ("VV", "VH"))
    assert rgba.shape == (300, 300, 4)
    assert np.abs(rgba[..., :3] - false_colour(vv, vh)).max() <= 1.0


def _execute(server: str, process: str, inputs: dict) -> httpx.Response:
    answer = httpx.post(
        f"{server}/ogcapi/processes/{process}/execution", json={"inputs": inputs}, timeout=300
    )
    assert answer.status_code == 200, answer.text[:500]
    return answer


def test_band_math_process_gives_the_ratio(server, sample_archive: Path, items):
    inputs = {
        "expression": "VV/VH", "collection": S1, "bbox": list(UTM_BOX), "crs": "EPSG:32631",
        "resolution": 20, "resampling": "nearest", "format": "cog",
    }  # fmt: skip
    data, crs, transform, _ = geotiff(_execute(server, "band-math", inputs).content)
    assert crs.to_epsg() == 32631 and data.shape == (1, 300, 300)
    assert (transform.c, transform.f) == (UTM_BOX[0], UTM_BOX[3])
    vv, vh = (window_of(sample_archive, t31ufu(items), band) for band in ("VV", "VH"))
    assert np.allclose(data[0], vv / vh, rtol=1e-5)


def test_statistics_process_of_vv_in_decibels(server, sample_archive: Path, items):
    inputs = {
        "expression": "10*log10(VV)", "collection": S1, "bbox": list(UTM_BOX),
        "crs": "EPSG:32631", "resolution": 20, "time": "2025-06-01/2025-06-30",
        "aggregation_interval": "P1M", "percentiles": [50],
    }  # fmt: skip
    rows = [r for r in _execute(server, "statistics", inputs).json()["data"] if r["validCount"]]
    assert len(rows) == 1
    (stats,) = [o["stats"] for o in rows[0]["outputs"].values()]
    expected = 10 * np.log10(window_of(sample_archive, t31ufu(items), "VV"))
    assert rows[0]["validCount"] == expected.size
    for key, value in (("min", expected.min()), ("max", expected.max()), ("mean", expected.mean())):
        assert stats[key] == pytest.approx(value, abs=1e-4), key
    assert stats["percentiles"]["50"] == pytest.approx(np.median(expected), abs=1e-3)


def test_ogrinfo_lists_and_counts_the_mosaic_items(server, items):
    source = f"WFS:{server}/wfs"
    assert feature_count(source, f"cdse:{S1}") == len(items) == 2
    assert feature_count(source, f"cdse:{S1}", "-where", "grid_code = 'MGRS-31UFU'") == 1
