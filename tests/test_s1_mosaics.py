"""The Sentinel-1 monthly mosaics (``sentinel-1-global-mosaics``): the sample's files and
items, and their values through WCS (linear gamma0) and WMS (the dB layers) against numpy on
the files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from owslib.wms import WebMapService
from PIL import Image
from rio_cogeo.cogeo import cog_validate

from tests.support.ows_live import OWS_DOORS, live_gateway
from tests.support.wcs_checks import geotiff, get

S1 = "sentinel-1-global-mosaics"
MAPPROXY = "gateway.ows.mapproxy.door:build_door"
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


def window_of(archive: Path, item: dict, band: str) -> np.ndarray:
    """Linear gamma0 of UTM_BOX from the file, with numpy (DN x raster:scale, 0 -> NaN)."""
    asset = item["assets"][band]
    with rasterio.open(local(archive, asset["href"])) as src:
        dn = src.read(1, window=src.window(*UTM_BOX)).astype(np.float64)
    return np.where(dn == asset["nodata"], np.nan, dn * asset["raster:scale"])


@pytest.fixture(scope="module")
def server(sample_settings):
    with live_gateway(sample_settings, doors=(*OWS_DOORS, MAPPROXY)) as url:
        yield url


def test_files_and_items(sample_archive: Path, items):
    assert sorted(i["id"] for i in items) == [
        "Sentinel-1_mosaic_2025_06_31UFU_0_0",
        "Sentinel-1_mosaic_2025_06_32ULD_0_0",
    ]
    for item in items:
        props = item["properties"]
        assert props["product:type"] == "S1SAR_L3_IW_MCM"
        assert props["sar:polarizations"] == ["VV", "VH"]
        assert (props["start_datetime"], props["end_datetime"]) == (
            "2025-06-01T00:00:00Z",
            "2025-06-30T23:59:59Z",
        )
        for band in ("VV", "VH"):
            asset = item["assets"][band]
            href = asset["href"]
            folder = f"Global-Mosaics/Sentinel-1/S1SAR_L3_IW_MCM/2025/06/01/{item['id']}"
            assert href == f"s3://eodata/{folder}/{band}.tif"
            path = local(sample_archive, href)
            assert cog_validate(str(path), quiet=True)[0]
            with rasterio.open(path) as src:
                assert src.dtypes[0] == asset["data_type"] == "uint16"
                assert src.nodata == asset["nodata"] == 0 and src.res == (20.0, 20.0)
                assert list(src.shape) == asset["proj:shape"] == [600, 600]
                assert src.crs.to_string() == props["proj:code"]
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
    assert np.abs(grey - expected).max() <= 1.0
