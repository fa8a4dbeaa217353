"""The sample Copernicus DEM (GLO-30 and GLO-90): CDSE's names and layout, its items, its
files (float32 COGs, 1° cells in EPSG:4326, half a pixel north-west) and its relief."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

GLO30, GLO90 = "cop-dem-glo-30-dged-cog", "cop-dem-glo-90-dged-cog"
CELLS = ("N52_00_E005_00", "N52_00_E006_00")  # the 1° cells under the small sample area


def items_of(archive: Path, cid: str) -> list[dict]:
    lines = (archive / "stac" / "collections" / cid / "items.ndjson").read_text().splitlines()
    return [json.loads(line) for line in lines]


def local(archive: Path, href: str) -> Path:
    assert href.startswith("s3://eodata/")
    return archive / "eodata" / href.removeprefix("s3://eodata/")


@pytest.fixture(scope="module")
def dem_items(sample_archive: Path) -> dict[str, list[dict]]:
    return {cid: items_of(sample_archive, cid) for cid in (GLO30, GLO90)}


@pytest.mark.parametrize(("cid", "code", "folder"), [(GLO30, "10", "30m"), (GLO90, "30", "90m")])
def test_names_and_layout(sample_archive: Path, dem_items, cid, code, folder):
    ids = sorted(item["id"] for item in dem_items[cid])
    assert ids == [f"Copernicus_DSM_COG_{code}_{cell}_DEM" for cell in CELLS]
    for item in dem_items[cid]:
        href = item["assets"]["data"]["href"]
        name = item["id"]
        assert href == f"s3://eodata/auxdata/CopDEM_COG/copernicus-dem-{folder}/{name}/{name}.tif"
        assert local(sample_archive, href).is_file()
        assert item["collection"] == cid
        manifest = item["assets"]["manifest"]
        assert manifest["type"] == "application/xml" and manifest["roles"] == ["metadata"]
        xml = f"Copernicus_DSM_{code}_{name.removeprefix(f'Copernicus_DSM_COG_{code}_')[:-4]}.xml"
        assert manifest["href"] == href.rsplit("/", 1)[0] + "/" + xml
        assert local(sample_archive, manifest["href"]).read_text().startswith("<?xml")


@pytest.mark.parametrize(("cid", "arcsec", "gsd"), [(GLO30, 1, 30), (GLO90, 3, 90)])
def test_items_describe_their_files(sample_archive: Path, dem_items, cid, arcsec, gsd):
    for item in dem_items[cid]:
        data = item["assets"]["data"]
        props = item["properties"]
        assert data["type"] == "image/tiff; application=geotiff; profile=cloud-optimized"
        # As CDSE's: no band list (item_bands), no nodata, unit or file fields.
        assert data["roles"] == ["data"] and data["data_type"] == "float32"
        assert not {"bands", "nodata", "unit", "gsd", "file:size"} & set(data)
        assert props["gsd"] == gsd and props["sar:polarizations"] == ["HH"]
        assert props["product:type"] == f"DGE_{gsd}-COG" and props["proj:code"] == "EPSG:4326"
        projection = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
        assert projection in item["stac_extensions"]
        path = local(sample_archive, data["href"])
        valid, errors, _ = cog_validate(str(path), quiet=True)
        assert valid, errors
        lat, lon = (int(v) for v in re.findall(r"[NE](\d+)_00", item["id"]))
        with rasterio.open(path) as src:
            assert src.crs.to_epsg() == 4326 and src.dtypes[0] == "float32"
            assert src.nodata == -32767.0 and src.overviews(1)
            # 50°-60° N: columns 1.5 times as wide as rows; the grid half a pixel north-west.
            assert (src.height, src.width) == (3600 // arcsec, 2400 // arcsec)
            res_y = arcsec / 3600
            res_x = 1.5 * res_y
            assert src.res == pytest.approx((res_x, res_y), rel=1e-12)
            assert src.transform.c == pytest.approx(lon - res_x / 2, abs=1e-12)
            assert src.transform.f == pytest.approx(lat + 1 + res_y / 2, abs=1e-12)
            assert data["proj:shape"] == [src.height, src.width]
            # CDSE's DEM items give GDAL's geotransform order.
            assert data["proj:transform"] == pytest.approx(list(src.transform.to_gdal()))
        # The footprint is the whole-degree cell, like CDSE's.
        assert item["bbox"] == [lon, lat, lon + 1, lat + 1]
        assert props["grid:code"] == f"CDEM-N{lat:02d}E{lon:03d}"
        assert "2010-12-12" <= props["start_datetime"] < props["end_datetime"] <= "2015-01-18"
        assert props["datetime"] == props["start_datetime"]


def test_a_cell_has_the_same_acquisitions_in_glo30_and_glo90(dem_items):
    dates = {
        cid: {i["id"][22:36]: (i["properties"]["start_datetime"], i["properties"]["end_datetime"])
              for i in dem_items[cid]}
        for cid in (GLO30, GLO90)
    }  # fmt: skip
    assert dates[GLO30] == dates[GLO90] and len(set(dates[GLO30].values())) == len(CELLS)


def test_relief_is_hills_and_both_dems_show_the_same_ground(sample_archive: Path, dem_items):
    for cell in CELLS:
        (fine,) = [i for i in dem_items[GLO30] if cell in i["id"]]
        (coarse,) = [i for i in dem_items[GLO90] if cell in i["id"]]
        with rasterio.open(local(sample_archive, fine["assets"]["data"]["href"])) as src:
            z30 = src.read(1)
            dx = src.res[0] * 111320 * np.cos(np.radians(52.5))
            dy = src.res[1] * 110574
        with rasterio.open(local(sample_archive, coarse["assets"]["data"]["href"])) as src:
            z90 = src.read(1)
        # GLO-90's pixel (k, j) is centred on GLO-30's (3k, 3j): the same heights there.
        assert np.abs(z90 - z30[::3, ::3]).max() <= 1 / 32
        assert z30.min() > 0 and 120 < z30.max() < 400  # a low plain with hills
        gy, gx = np.gradient(z30.astype(np.float64), dy, dx)
        slope = np.degrees(np.arctan(np.hypot(gx, gy)))
        assert 1 < np.median(slope) < 8 and 8 < np.percentile(slope, 99.9) < 35
