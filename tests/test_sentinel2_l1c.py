"""Sentinel-2 L1C through the doors of a live gateway, with real clients: the band-math
process, OWSLib's WMS GetMap, GDAL's WCS driver, ogrinfo on the WFS. Decoded pixels are
compared with an independent numpy reading of the sample's JPEG 2000 files and the baseline
04.00 formula, TOA = (DN - 1000) / 10000; the MSK_CLASSI cloud mask is checked pixel by pixel.
The STAC items are compared with the L2A items' (CDSE's real L2A item) field lists."""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import rasterio
from owslib.wms import WebMapService
from PIL import Image
from pyproj import Transformer
from rasterio.io import MemoryFile
from rasterio.warp import transform_bounds
from rasterio.windows import from_bounds

from gateway.app import DOORS
from gateway.core.catalog.models import scene_from_item
from tests.support.cdse_items import CDSE_STAC_FIXTURES
from tests.support.mapproxy_live import LiveServer, live_server
from tests.support.ogr import feature_count

L1C = "sentinel-2-l1c"
L2A = "sentinel-2-l2a"
CLEAR_DAY = "2025-06-13"  # 0.4 % cloud
CLOUDY_DAY = "2025-06-03"  # 62 % cloud
# 2 x 2 km of tile 31UFU on its own 10 m grid (no other tile there).
BOUNDS = (698000.0, 5830000.0, 700000.0, 5832000.0)
SIZE = (200, 200)


@pytest.fixture(scope="module")
def live(sample_settings) -> Iterator[LiveServer]:
    with live_server(sample_settings, DOORS) as server:
        yield server


def _items(sample_archive: Path, collection: str) -> list[dict]:
    path = sample_archive / "stac" / "collections" / collection / "items.ndjson"
    return [json.loads(line) for line in path.read_text().splitlines()]


def _item(sample_archive: Path, collection: str, day: str) -> dict:
    return next(
        i
        for i in _items(sample_archive, collection)
        if i["properties"]["datetime"].startswith(day) and "T31UFU" in i["id"]
    )


def _file(sample_archive: Path, item: dict, key: str) -> Path:
    """The file of asset ``key``; MSK_CLASSI, which the items do not list (as CDSE's do not),
    where the gateway's parse of the item finds it."""
    hrefs = {a.key: a.href for a in scene_from_item(item).assets}
    href = item["assets"][key]["href"] if key in item["assets"] else hrefs[key]
    return sample_archive / "eodata" / href.removeprefix("s3://eodata/")


def toa(sample_archive: Path, item: dict, band: str) -> np.ndarray:
    """Independent reading: the file's DN over BOUNDS, (DN - 1000) / 10000, NaN for DN 0."""
    with rasterio.open(_file(sample_archive, item, band)) as src:
        dn = src.read(1, window=from_bounds(*BOUNDS, src.transform)).astype(np.float64)
    out = (dn - 1000) / 10000
    out[dn == 0] = np.nan
    return out


def cloudy_pixels(sample_archive: Path, item: dict) -> np.ndarray:
    """Where MSK_CLASSI flags opaque clouds or cirrus, on BOUNDS' 10 m grid."""
    with rasterio.open(_file(sample_archive, item, "MSK_CLASSI")) as src:
        assert src.count == 3 and src.res == (60.0, 60.0)
        flags = src.read()
        rows, cols = np.mgrid[0 : SIZE[1], 0 : SIZE[0]]
        x = BOUNDS[0] + (cols + 0.5) * 10
        y = BOUNDS[3] - (rows + 0.5) * 10
        r, c = rasterio.transform.rowcol(src.transform, x.ravel(), y.ravel())
    r, c = np.reshape(r, x.shape), np.reshape(c, x.shape)
    return (flags[0][r, c] != 0) | (flags[1][r, c] != 0)


def band_math(live: LiveServer, expression: str, day: str, **extra: object) -> np.ndarray:
    inputs = {
        "expression": expression, "collection": L1C, "bbox": list(BOUNDS), "crs": "EPSG:32631",
        "resolution": 10, "time": f"{day}/{day}", "format": "cog", **extra,
    }  # fmt: skip
    answer = httpx.post(
        f"{live.url}/ogcapi/processes/band-math/execution", json={"inputs": inputs}, timeout=120
    )
    assert answer.status_code == 200, answer.text[:300]
    with MemoryFile(answer.content) as mem, mem.open() as ds:
        assert tuple(ds.bounds) == BOUNDS
        data = ds.read(1).astype(np.float64)
        if ds.nodata is not None and not np.isnan(ds.nodata):
            data[data == ds.nodata] = np.nan
        return data


def test_items_have_the_l2a_fields_and_one_asset_per_band(sample_archive):
    l1c = _items(sample_archive, L1C)
    assert len(l1c) == len(_items(sample_archive, L2A)) == 8
    item = _item(sample_archive, L1C, CLEAR_DAY)
    l2a = _item(sample_archive, L2A, CLEAR_DAY)
    real = json.loads((CDSE_STAC_FIXTURES / f"{L2A}.item.json").read_text())
    # properties: the L2A item's, without what only scene classification gives
    assert list(item["properties"]) == [
        k for k in l2a["properties"] if k not in ("statistics", "eo:snow_cover")
    ]
    assert set(l2a["properties"]) == set(real["properties"])
    props = item["properties"]
    assert props["product:type"] == "S2MSI1C" and props["processing:level"] == "L1"
    assert item["id"] == l2a["id"].replace("MSIL2A", "MSIL1C")
    assert props["datetime"] == l2a["properties"]["datetime"]
    bands = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10",
             "B11", "B12"]  # fmt: skip
    assert [k for k in item["assets"] if k.startswith("B")] == bands
    assert {"TCI", "product_metadata", "granule_metadata", "thumbnail"} <= set(item["assets"])
    assert "MSK_CLASSI" not in item["assets"]  # as in CDSE's items
    gsd = {b: item["assets"][b]["gsd"] for b in bands}
    assert [b for b in bands if gsd[b] == 10] == ["B02", "B03", "B04", "B08"]
    assert [b for b in bands if gsd[b] == 60] == ["B01", "B09", "B10"]
    for band in bands:  # each band asset has the fields of CDSE's L2A band assets
        assert list(item["assets"][band]) == list(real["assets"]["B04_10m"])
        assert item["assets"][band]["raster:offset"] == -0.1
    assert item["assets"]["B04"]["href"].endswith(
        f"/IMG_DATA/T31UFU_{props['datetime'][:19].replace('-', '').replace(':', '')}_B04.jp2"
    )
    mask = _file(sample_archive, item, "MSK_CLASSI")  # found beside IMG_DATA by the parser
    assert mask.name == "MSK_CLASSI_B00.jp2" and mask.parent.name == "QI_DATA" and mask.exists()
    mtd = _file(sample_archive, item, "product_metadata").read_text()
    assert '<RADIO_ADD_OFFSET band_id="3">-1000</RADIO_ADD_OFFSET>' in mtd
    assert '<QUANTIFICATION_VALUE unit="none">10000</QUANTIFICATION_VALUE>' in mtd


def test_toa_is_the_l2a_ground_seen_through_the_atmosphere(sample_archive):
    l1c = _item(sample_archive, L1C, CLEAR_DAY)
    l2a = _item(sample_archive, L2A, CLEAR_DAY)
    for band, brighter in (("B02", 0.04), ("B04", 0.01)):
        top = toa(sample_archive, l1c, band)
        with rasterio.open(_file(sample_archive, l2a, f"{band}_10m")) as src:
            dn = src.read(1, window=from_bounds(*BOUNDS, src.transform)).astype(np.float64)
        bottom = (dn - 1000) / 10000
        assert np.nanmean(top - bottom) > brighter  # path radiance, strongest in the blue
        assert np.corrcoef(top.ravel(), bottom.ravel())[0, 1] > 0.99  # the same ground


def test_band_math_process_returns_toa_reflectance(live, sample_archive):
    item = _item(sample_archive, L1C, CLEAR_DAY)
    got = band_math(live, "(B08-B04)/(B08+B04)", CLEAR_DAY, resampling="nearest")
    b04, b08 = toa(sample_archive, item, "B04"), toa(sample_archive, item, "B08")
    expected = (b08 - b04) / (b08 + b04)
    assert got.shape == expected.shape == SIZE[::-1]
    both = np.isfinite(got) & np.isfinite(expected)
    assert both.mean() > 0.95
    assert np.abs(got[both] - expected[both]).max() < 1e-5
    red = band_math(live, "B04", CLEAR_DAY, resampling="nearest")
    assert np.nanmax(np.abs(red - b04)) < 1e-6  # the -1000 offset applied exactly once


def test_cloud_mask_drops_opaque_clouds_and_cirrus(live, sample_archive):
    item = _item(sample_archive, L1C, CLOUDY_DAY)
    cloudy = cloudy_pixels(sample_archive, item)
    assert 0.05 < cloudy.mean() < 0.95  # the test area is partly cloudy that day
    masked = band_math(live, "L1C_NDVI", CLOUDY_DAY)
    kept = np.isfinite(masked)
    assert not (kept & cloudy).any()
    assert kept[~cloudy].mean() > 0.97  # bilinear edges may lose a pixel next to a cloud
    unmasked = band_math(live, "(B08-B04)/(B08+B04)", CLOUDY_DAY, cloud_mask=False)
    assert np.isfinite(unmasked).mean() > 0.99


def test_cloud_mask_on_the_mask_s_grid(live, sample_archive):
    """The whole 31UFU window at 20 m (the process snaps its grid to multiples of the
    resolution, and the tile's 60 m grid is not on multiples of 60 m), 3 x 3 output pixels
    per MSK_CLASSI pixel: every pixel flagged opaque or cirrus is dropped, every other kept."""
    day = "2025-05-29"  # opaque clouds and cirrus
    item = _item(sample_archive, L1C, day)
    with rasterio.open(_file(sample_archive, item, "MSK_CLASSI")) as src:
        flags = src.read()
        window = tuple(src.bounds)
    cirrus_only = (flags[1] != 0) & (flags[0] == 0)
    assert cirrus_only[:, :130].sum() > 20  # cirrus alone, west of the shared ground
    inputs = {
        "expression": "L1C_NDVI", "collection": L1C, "bbox": list(window),
        "crs": "EPSG:32631", "resolution": 20, "time": f"{day}/{day}", "format": "cog",
    }  # fmt: skip
    answer = httpx.post(
        f"{live.url}/ogcapi/processes/band-math/execution", json={"inputs": inputs}, timeout=120
    )
    assert answer.status_code == 200, answer.text[:300]
    with MemoryFile(answer.content) as mem, mem.open() as ds:
        got = ds.read(1).astype(np.float64)
        if ds.nodata is not None and not np.isnan(ds.nodata):
            got[got == ds.nodata] = np.nan
    flags = flags.repeat(3, axis=1).repeat(3, axis=2)
    assert got.shape == flags.shape[1:]
    # west of the 4 km the window shares with 32ULD, whose scene fills what 31UFU's mask drops
    west = slice(0, 390)
    kept = np.isfinite(got)[:, west]
    dropped = ((flags[0] != 0) | (flags[1] != 0))[:, west]
    assert (np.isfinite(got) & (flags[0] != 0))[:, 400:].any()  # filled from 32ULD there
    assert not (kept & dropped).any()
    assert kept[~dropped].mean() > 0.99


def test_wms_getmap_draws_toa_true_colour(live, sample_archive):
    wms = WebMapService(f"{live.url}/wms", version="1.3.0", timeout=60)
    assert {"L1C_TRUE_COLOR", "L1C_FALSE_COLOR", "L1C_NDVI", "L1C_CLOUD_MASK"} <= set(wms.contents)
    answer = wms.getmap(
        layers=["L1C_TRUE_COLOR"], styles=[""], srs="EPSG:32631", bbox=BOUNDS, size=SIZE,
        format="image/png", transparent=True, time=CLEAR_DAY,
    )  # fmt: skip
    got = np.asarray(Image.open(io.BytesIO(answer.read())).convert("RGBA")).astype(float)
    assert (got[..., 3] == 255).all()
    item = _item(sample_archive, L1C, CLEAR_DAY)
    for channel, band in enumerate(("B04", "B03", "B02")):
        expected = np.clip(toa(sample_archive, item, band) / 0.3, 0, 1) * 255
        assert np.percentile(np.abs(got[..., channel] - expected), 99) <= 1.5


def test_gdal_wcs_reads_toa_reflectance(live, sample_archive, tmp_path):
    url = f"WCS:{live.url}/wcs?version=2.0.1&coverage={L1C}__L1C_NDVI"
    with rasterio.open(url, CACHE=str(tmp_path)) as ds:  # GDAL finds the layer's coverage
        assert ds.count == 1 and ds.crs.to_epsg() == 4326
    params = {
        "SERVICE": "WCS", "VERSION": "2.0.1", "REQUEST": "GetCoverage", "COVERAGEID": L1C,
        "SUBSETTINGCRS": "http://www.opengis.net/def/crs/EPSG/0/32631",
        "OUTPUTCRS": "http://www.opengis.net/def/crs/EPSG/0/32631",
        "SUBSET": [f"E({BOUNDS[0]:.0f},{BOUNDS[2]:.0f})", f"N({BOUNDS[1]:.0f},{BOUNDS[3]:.0f})",
                   f'time("{CLEAR_DAY}")'],
        "RANGESUBSET": "B08,B10", "SCALESIZE": f"i({SIZE[0]}),j({SIZE[1]})",
        "FORMAT": "image/tiff", "INTERPOLATION": "nearest",
    }  # fmt: skip
    answer = httpx.get(f"{live.url}/wcs", params=params, timeout=60)
    assert answer.status_code == 200, answer.text[:400]
    with MemoryFile(answer.content) as mem, mem.open() as ds:
        got = ds.read().astype(np.float64)
    item = _item(sample_archive, L1C, CLEAR_DAY)
    expected = toa(sample_archive, item, "B08")
    both = np.isfinite(got[0]) & np.isfinite(expected)
    assert both.mean() > 0.95
    assert np.abs(got[0][both] - expected[both]).max() < 1e-4
    cirrus = np.nan_to_num(got[1])  # B10 (60 m): only high cloud reflects there
    assert cirrus.min() >= 0 and np.median(cirrus) < 0.01


def _at_lonlat(path: Path, band_count: int, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The file's values (all ``band_count`` bands) at the pixels holding lon/lat points."""
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32631", always_xy=True).transform(lon, lat)
    with rasterio.open(path) as src:
        data = src.read()
        r, c = rasterio.transform.rowcol(src.transform, x.ravel(), y.ravel())
    assert data.shape[0] == band_count
    return data[:, np.reshape(r, x.shape), np.reshape(c, x.shape)]


def test_ogcapi_coverage_holds_toa_and_the_mask_bits(live, sample_archive):
    west, south, east, north = transform_bounds("EPSG:32631", "EPSG:4326", *BOUNDS)
    area = (west + 0.002, south + 0.002, east - 0.002, north - 0.002)
    width, height = 120, 150
    answer = httpx.get(
        f"{live.url}/ogcapi/collections/{L1C}/coverage",
        params={
            "f": "GTiff", "properties": "B04,MSK_CLASSI", "bbox": ",".join(map(str, area)),
            "datetime": CLOUDY_DAY, "scale-size": f"Lon({width}),Lat({height})",
            "resampling": "nearest",
        },
        timeout=60,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text[:300]
    with MemoryFile(answer.content) as mem, mem.open() as ds:
        data = ds.read().astype(np.float64)
        assert ds.crs.to_epsg() == 4326 and data.shape == (2, height, width)
        t = ds.transform
    rows, cols = np.mgrid[0:height, 0:width] + 0.5
    lon, lat = t.c + cols * t.a, t.f + rows * t.e
    item = _item(sample_archive, L1C, CLOUDY_DAY)
    dn = _at_lonlat(_file(sample_archive, item, "B04"), 1, lon, lat)[0].astype(np.float64)
    expected = np.where(dn > 0, (dn - 1000) / 10000, np.nan)
    flags = _at_lonlat(_file(sample_archive, item, "MSK_CLASSI"), 3, lon, lat)
    bits = (flags[0] != 0) * 1 + (flags[1] != 0) * 2 + (flags[2] != 0) * 4
    both = np.isfinite(data[0]) & np.isfinite(expected)
    assert both.mean() > 0.95
    # nearest neighbour through a reprojection may take the next pixel at a cell edge
    assert (np.abs(data[0][both] - expected[both]) < 1e-6).mean() > 0.9
    assert (data[1] == bits).mean() > 0.97 and 1 in set(np.unique(data[1]).astype(int))


def test_wmts_tile_shows_toa_not_surface_colour(live, sample_archive):
    """A WebMercatorQuad tile inside BOUNDS: its blue is L1C's TOA stretch, well above what
    L2A's surface reflectance gives (the atmosphere's path radiance)."""
    zoom = 15
    lon, lat = Transformer.from_crs("EPSG:32631", "EPSG:4326", always_xy=True).transform(
        (BOUNDS[0] + BOUNDS[2]) / 2, (BOUNDS[1] + BOUNDS[3]) / 2
    )
    n = 2**zoom
    col = int((lon + 180) / 360 * n)
    row = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    tile = f"/wmts/1.0.0/L1C_TRUE_COLOR/WebMercatorQuad/{CLEAR_DAY}/{zoom}/{col}/{row}.png"
    answer = httpx.get(f"{live.url}{tile}", timeout=60)
    assert answer.status_code == 200, answer.text[:300]
    got = np.asarray(Image.open(io.BytesIO(answer.content)).convert("RGBA")).astype(float)
    assert (got[..., 3] == 255).all()
    # pixel centres of the tile in lon/lat
    j, i = np.mgrid[0:256, 0:256] + 0.5
    lons = (col + i / 256) / n * 360 - 180
    lats = np.degrees(np.arctan(np.sinh(math.pi * (1 - 2 * (row + j / 256) / n))))
    blues = {}
    for collection, key in ((L1C, "B02"), (L2A, "B02_10m")):
        item = _item(sample_archive, collection, CLEAR_DAY)
        dn = _at_lonlat(_file(sample_archive, item, key), 1, lons, lats)[0].astype(float)
        blues[collection] = np.clip((dn - 1000) / 10000 / 0.3, 0, 1) * 255
    assert np.median(np.abs(got[..., 2] - blues[L1C])) < 3
    assert np.median(got[..., 2] - blues[L2A]) > 40


def test_wms_evalscript_reads_l1c_bands(live, sample_archive):
    """A Sentinel Hub evalscript on an L1C layer gets TOA reflectance, B10 included."""
    script = (
        "//VERSION=3\nfunction setup() { return { input: ['B02', 'B10', 'dataMask'], "
        "output: { bands: 2, sampleType: 'FLOAT32' } }; }\n"
        "function evaluatePixel(s) { return [s.B02, s.B10]; }"
    )
    params = {
        "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "L1C_TRUE_COLOR",
        "STYLES": "", "FORMAT": "image/tiff", "TIME": CLEAR_DAY, "CRS": "EPSG:32631",
        "BBOX": ",".join(map(str, BOUNDS)), "WIDTH": str(SIZE[0]), "HEIGHT": str(SIZE[1]),
        "EVALSCRIPT": base64.b64encode(script.encode()).decode(),
    }  # fmt: skip
    answer = httpx.get(f"{live.url}/wms", params=params, timeout=60)
    assert answer.status_code == 200, answer.text[:300]
    with MemoryFile(answer.content) as mem, mem.open() as ds:
        got = ds.read().astype(np.float64)
    expected = toa(sample_archive, _item(sample_archive, L1C, CLEAR_DAY), "B02")
    both = np.isfinite(got[0]) & np.isfinite(expected)
    assert both.mean() > 0.95
    assert np.abs(got[0][both] - expected[both]).max() < 1e-5
    assert np.nanmedian(got[1]) == pytest.approx(0.002, abs=1e-4)  # B10: clear sky


def test_ogrinfo_counts_the_l1c_scenes(live, sample_archive):
    def count(*args: str) -> int:
        return feature_count(f"WFS:{live.url}/wfs", f"cdse:{L1C}", *args)

    assert count() == 8
    cloudy = [i for i in _items(sample_archive, L1C) if i["properties"]["eo:cloud_cover"] > 50]
    assert cloudy and count("-where", "cloud_cover > 50") == len(cloudy)
