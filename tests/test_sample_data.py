"""The CDSE-shaped sample archive: tree, STAC items against the real CDSE fixtures, and pixels.

Everything is checked with plain rasterio reads and numpy against the items and the
documented synthetic world; the archive itself is written once per session (conftest).
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.enums import Resampling
from rasterio.warp import reproject
from rasterio.windows import Window
from rio_cogeo.cogeo import cog_validate
from shapely.geometry import box, shape

from gateway.sample import LANDMARKS, SAMPLE_MARKER, plan_sample, write_sample_archive
from tests.support.cdse_items import cdse_item

L2A, MOSAIC, S1 = "sentinel-2-l2a", "sentinel-2-global-mosaics", "sentinel-1-grd"
DEMS = ("cop-dem-glo-30-dged-cog", "cop-dem-glo-90-dged-cog")
CLEAR_SCL = (4, 5, 6)
CLOUD_SCL = (8, 9)
SAME_VALUE_FIELDS = (
    "type",
    "roles",
    "bands",
    "data_type",
    "nodata",
    "raster:scale",
    "raster:offset",
)

# ---------------------------------------------------------------------------------------------
# fixtures and helpers


@pytest.fixture(scope="module")
def archive(sample_archive: Path) -> Path:
    """The small archive (written once per session by the conftest fixture)."""
    return sample_archive


def ndjson_items(archive: Path, cid: str) -> list[dict]:
    lines = (archive / "stac" / "collections" / cid / "items.ndjson").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def items(archive: Path) -> dict[str, list[dict]]:
    out = {cid: ndjson_items(archive, cid) for cid in (L2A, MOSAIC, S1)}
    # The small profile: 2 MGRS tiles x 4 acquisitions, and one mosaic item per tile. Every
    # loop over the items below checks all of them, and there are that many; and three
    # Sentinel-1 GRD products (two ascending, one descending).
    assert (len(out[L2A]), len(out[MOSAIC]), len(out[S1])) == (8, 2, 3)
    return out


@pytest.fixture(scope="module")
def fixture_items() -> dict[str, dict]:
    return {
        L2A: cdse_item(L2A),
        MOSAIC: cdse_item(MOSAIC),
        S1: cdse_item(S1),
    }


def s3_href(asset: dict) -> str | None:
    """The s3:// address of an asset (its href or its S3 alternate), if it has one."""
    if asset["href"].startswith("s3://"):
        return asset["href"]
    return asset.get("alternate", {}).get("s3", {}).get("href")


def local(archive: Path, href: str) -> Path:
    assert href.startswith("s3://eodata/"), href
    return archive / "eodata" / href[len("s3://eodata/") :]


def tile_of(item: dict) -> str:
    return item["properties"]["grid:code"].removeprefix("MGRS-")


def date_of(item: dict) -> str:
    return item["properties"]["datetime"][:10]


def find(items: list[dict], tile: str, date: str) -> dict:
    (item,) = [i for i in items if tile_of(i) == tile and date_of(i) == date]
    return item


def read(archive: Path, item: dict, key: str, bbox_lonlat=None) -> np.ndarray:
    """Band 1 (or all bands of TCI) of an asset, optionally a lon/lat box of it."""
    asset = item["assets"][key]
    with rasterio.open(local(archive, asset["href"])) as src:
        window = None if bbox_lonlat is None else inner_window(src, bbox_lonlat)
        data = src.read(window=window)
    return data if data.shape[0] > 1 else data[0]


def inner_window(src: rasterio.DatasetReader, bbox_lonlat) -> Window:
    """The pixels of ``src`` lying wholly inside a lon/lat box (the grids are rotated)."""
    w, s, e, n = bbox_lonlat
    tr = Transformer.from_crs(4326, src.crs, always_xy=True)
    (xsw, xnw, xse, xne), (ysw, ynw, yse, yne) = tr.transform([w, w, e, e], [s, n, s, n])
    t = src.transform
    col0 = math.ceil((max(xsw, xnw) - t.c) / t.a)
    col1 = math.floor((min(xse, xne) - t.c) / t.a)
    row0 = math.ceil((t.f - min(ynw, yne)) / -t.e)
    row1 = math.floor((t.f - max(ysw, yse)) / -t.e)
    assert col1 > col0 and row1 > row0, bbox_lonlat
    return Window(col0, row0, col1 - col0, row1 - row0)


def reflectance(archive: Path, item: dict, key: str, bbox_lonlat=None) -> np.ndarray:
    """DN * raster:scale + raster:offset, NaN where DN is the asset's nodata."""
    asset = item["assets"][key]
    dn = read(archive, item, key, bbox_lonlat)
    out = dn * asset["raster:scale"] + asset["raster:offset"]
    return np.where(dn == asset["nodata"], np.nan, out)


def scl_percentages(scl: np.ndarray) -> dict[int, float]:
    valid = scl[scl != 0]
    return {v: 100.0 * np.count_nonzero(valid == v) / valid.size for v in range(1, 12)}


# ---------------------------------------------------------------------------------------------
# plans (no I/O)


def test_plan_full_uses_whole_real_tiles():
    plans = plan_sample("full")
    scenes = [p for p in plans if p.collection == L2A]
    assert {p.tile.name for p in scenes} == {"31UFU", "32ULD"}
    ulx = {"31UFU": 599980.0, "32ULD": 299980.0}
    for p in plans:
        g10 = p.grids[10]
        assert g10.shape == (10980, 10980)
        assert g10.transform == (10.0, 0.0, ulx[p.tile.name], 0.0, -10.0, 5900020.0)
        if p.collection == L2A:
            assert p.grids[20].shape == (5490, 5490)
            assert p.grids[60].shape == (1830, 1830)
    small_ids = [p.item_id for p in plan_sample("small")]
    assert [p.item_id for p in plans] == small_ids  # same products, bigger windows


def test_plan_small_windows_face_each_other():
    plans = {(p.tile.name, p.collection): p for p in plan_sample("small")}
    ufu, uld = plans["31UFU", L2A], plans["32ULD", L2A]
    assert ufu.grids[10].transform == (10.0, 0.0, 697780.0, 0.0, -10.0, 5840020.0)
    assert uld.grids[10].transform == (10.0, 0.0, 299980.0, 0.0, -10.0, 5840020.0)
    assert ufu.grids[10].bbox == (697780.0, 5828020.0, 709780.0, 5840020.0)
    assert ufu.grids[60].shape == (200, 200) and ufu.grids[20].shape == (600, 600)
    with pytest.raises(ValueError):
        plan_sample("huge")


# ---------------------------------------------------------------------------------------------
# the tree


RUNTIME_DIRS = ("cog-cache", "outputs")


def test_marker_written_last_and_counts(archive: Path):
    marker = json.loads((archive / SAMPLE_MARKER).read_text())
    counts = {
        L2A: 8, "sentinel-2-l1c": 8, MOSAIC: 2, S1: 3, "sentinel-1-global-mosaics": 2,
        DEMS[0]: 2, DEMS[1]: 2,
    }  # fmt: skip
    assert marker == {"profile": "small", "version": 5, "collections": counts}
    marker_time = (archive / SAMPLE_MARKER).stat().st_mtime_ns
    # The gateway keeps its own folders in its data folder too (cog-cache, outputs): only the
    # sample's part is the writer's.
    written = [p for top in ("eodata", "stac") for p in (archive / top).rglob("*") if p.is_file()]
    assert marker_time >= max(p.stat().st_mtime_ns for p in written)
    assert {"eodata", SAMPLE_MARKER, "stac"} <= {p.name for p in archive.iterdir()}
    assert {p.name for p in archive.iterdir()} <= {"eodata", SAMPLE_MARKER, "stac", *RUNTIME_DIRS}


def test_tree_layout_and_cdse_names(archive: Path, items):
    product = re.compile(r"^S2[BC]_MSIL2A_(\d{8}T\d{6})_N0511_R094_T(31UFU|32ULD)_\d{8}T\d{6}$")
    for item in items[L2A]:
        m = product.match(item["id"])
        assert m, item["id"]
        sensing, tile = m.groups()
        day = f"{sensing[:4]}/{sensing[4:6]}/{sensing[6:8]}"
        safe = archive / "eodata" / "Sentinel-2" / "MSI" / "L2A" / day / f"{item['id']}.SAFE"
        assert (safe / "manifest.safe").is_file() and (safe / "MTD_MSIL2A.xml").is_file()
        (granule,) = (safe / "GRANULE").iterdir()
        assert re.match(rf"^L2A_T{tile}_A\d{{6}}_\d{{8}}T\d{{6}}$", granule.name)
        assert (granule / "MTD_TL.xml").is_file()
        aux = "TCI AOT WVP"
        expected = {
            "R10m": f"B02 B03 B04 B08 {aux}".split(),
            "R20m": f"B01 B02 B03 B04 B05 B06 B07 B8A B11 B12 SCL {aux}".split(),
            "R60m": f"B01 B02 B03 B04 B05 B06 B07 B8A B09 B11 B12 SCL {aux}".split(),
        }
        for folder, layers in expected.items():
            names = sorted(p.name for p in (granule / "IMG_DATA" / folder).iterdir())
            res = folder[1:]
            assert names == sorted(f"T{tile}_{sensing}_{layer}_{res}.jp2" for layer in layers)
    for item in items[MOSAIC]:
        folder = (
            archive / "eodata" / "Global-Mosaics/Sentinel-2/S2MSI_L3__MCQ/2025/04/01" / item["id"]
        )
        assert re.match(r"^Sentinel-2_mosaic_2025_Q2_(31UFU|32ULD)_0_0$", item["id"])
        names = sorted(p.name for p in folder.iterdir())
        expected = ["B02", "B03", "B04", "B08", "observations"]
        assert names == [f"{n}.tif" for n in expected] + ["userdata.json"]
    assert not list(archive.rglob("*.aux.xml"))  # like CDSE: no sidecars


# ---------------------------------------------------------------------------------------------
# STAC items against the real CDSE items


@pytest.mark.parametrize("cid", [L2A, MOSAIC, S1])
def test_items_have_the_shape_of_the_cdse_fixture(items, fixture_items, cid):
    ref = fixture_items[cid]
    for item in items[cid]:
        assert list(item) == list(ref)
        assert item["stac_version"] == "1.1.0" and item["collection"] == cid
        assert item["stac_extensions"] == ref["stac_extensions"]
        assert list(item["properties"]) == list(ref["properties"])
        assert list(item["assets"]) == list(ref["assets"])
        for key, asset in item["assets"].items():
            ref_asset = ref["assets"][key]
            if key == "Product":  # no zip exists: size and checksum of the archive are left out
                assert set(asset) <= set(ref_asset)
                continue
            assert list(asset) == list(ref_asset), key
            for field in SAME_VALUE_FIELDS:
                if field in ref_asset:
                    assert asset[field] == ref_asset[field], (key, field)
            if "classification:classes" in ref_asset:
                names = [(c["value"], c["name"]) for c in asset["classification:classes"]]
                assert names == [
                    (c["value"], c["name"]) for c in ref_asset["classification:classes"]
                ]
        for link in ("version-history", "enclosure", "self", "parent", "collection", "root"):
            assert link in {lk["rel"] for lk in item["links"]}


def test_l2a_item_properties(items):
    for item in items[L2A]:
        p = item["properties"]
        assert p["processing:version"] == "05.11" and p["product:type"] == "S2MSI2A"
        assert p["platform"] in ("sentinel-2b", "sentinel-2c") and p["instruments"] == ["msi"]
        assert p["grid:code"] in ("MGRS-31UFU", "MGRS-32ULD")
        assert p["sat:relative_orbit"] == 94 and f"_R094_T{tile_of(item)}_" in item["id"]
        assert f"A{p['sat:absolute_orbit']:06d}" in item["assets"]["granule_metadata"]["href"]
        assert 55 < p["view:sun_elevation"] < 62 and 150 < p["view:sun_azimuth"] < 175
        assert p["datetime"] == p["start_datetime"] == p["end_datetime"]
        enclosure = next(lk for lk in item["links"] if lk["rel"] == "enclosure")
        day = date_of(item).replace("-", "/")
        assert enclosure["href"] == f"s3://eodata/Sentinel-2/MSI/L2A/{day}/{item['id']}.SAFE/"
        xs = [c[0] for c in item["geometry"]["coordinates"][0]]
        ys = [c[1] for c in item["geometry"]["coordinates"][0]]
        assert item["bbox"] == [min(xs), min(ys), max(xs), max(ys)]


def test_asset_files_match_their_items(archive: Path, items):
    for item in items[L2A] + items[MOSAIC] + items[S1]:
        for key, asset in item["assets"].items():
            href = s3_href(asset)
            if href is None:
                continue  # the zipped product exists only on CDSE
            path = local(archive, href)
            assert path.is_file(), href
            assert asset["file:size"] == path.stat().st_size, href
            assert asset["file:local_path"] in href
            if "proj:shape" not in asset or key == "thumbnail":
                continue
            if item["collection"] == S1:  # GCPs only: checked in test_s1_*
                continue
            with rasterio.open(path) as src:
                assert [src.height, src.width] == asset["proj:shape"], href
                assert src.dtypes[0] == asset["data_type"], href
                assert list(src.bounds) == pytest.approx(asset["proj:bbox"]), href
                code = asset.get("proj:code", item["properties"].get("proj:code"))
                assert src.crs.to_epsg() == int(code.split(":")[1])
                if "proj:transform" in asset:
                    assert list(src.transform)[:6] == pytest.approx(asset["proj:transform"])
                assert src.count == (3 if key.startswith("TCI") else 1)
                if src.driver == "JP2OpenJPEG":
                    assert src.nodata is None  # as on CDSE: nodata comes from the item (0)
                    if src.width >= 1024:
                        assert src.block_shapes[0] == (1024, 1024)
                        assert src.overviews(1), href
                else:
                    assert src.nodata == asset["nodata"]


# ---------------------------------------------------------------------------------------------
# pixels


def test_reflectance_offset_and_land_classes(archive: Path, items):
    item = find(items[L2A], "31UFU", "2025-06-13")  # the clear date
    stats = {}
    for name in ("forest", "lake", "bare_field", "town"):
        core = LANDMARKS[name].core
        scl = read(archive, item, "SCL_20m", core)
        bands = ("B02", "B03", "B04", "B8A", "B11")
        b = {k: reflectance(archive, item, f"{k}_20m", core) for k in bands}
        clear = np.isin(scl, CLEAR_SCL)
        assert clear.mean() > 0.9, name
        stats[name] = {k: float(np.median(v[clear])) for k, v in b.items()}
    f, w, s, t = stats["forest"], stats["lake"], stats["bare_field"], stats["town"]
    ndvi = lambda d: (d["B8A"] - d["B04"]) / (d["B8A"] + d["B04"])  # noqa: E731
    ndwi = lambda d: (d["B03"] - d["B8A"]) / (d["B03"] + d["B8A"])  # noqa: E731
    assert ndvi(f) > 0.6 and f["B04"] == pytest.approx(0.03, abs=0.015) and f["B8A"] > 0.35
    assert f["B11"] == pytest.approx(0.2, abs=0.04)
    assert ndwi(w) > 0.3 and w["B8A"] < 0.03
    assert s["B04"] == pytest.approx(0.16, abs=0.03) and s["B11"] > s["B8A"] > s["B04"]
    assert 0.08 < t["B04"] < 0.2 and ndvi(t) < 0.2 and t["B11"] > t["B8A"]
    # 10 m bands: DN = round((reflectance + 0.1) * 10000) with the -1000 offset really applied
    dn = read(archive, item, "B08_10m", LANDMARKS["lake"].core)
    assert 1000 < np.median(dn) < 1300
    forest_red = read(archive, item, "B04_10m", LANDMARKS["forest"].core)
    assert np.median(forest_red) == pytest.approx(1300, abs=150)


def test_scl_marks_what_is_in_the_bands(archive: Path, items):
    for item in items[L2A]:
        scl = read(archive, item, "SCL_20m")
        blue = reflectance(archive, item, "B02_20m")
        swir = reflectance(archive, item, "B11_20m")
        clouds = np.isin(scl, CLOUD_SCL)
        clear = np.isin(scl, CLEAR_SCL)
        assert np.percentile(blue[clear], 99) < 0.17, item["id"]
        if clouds.sum() > 100:
            assert np.median(blue[clouds]) > 0.35 and np.percentile(blue[clouds], 5) > 0.18
            assert np.median(swir[clouds]) < np.median(blue[clouds])  # clouds: lower in SWIR
        shadow = scl == 3
        if shadow.sum() > 100:
            nir = reflectance(archive, item, "B8A_20m")
            assert np.median(nir[shadow]) < 0.5 * np.median(nir[scl == 4])
        # no data: SCL 0 and DN 0 in every band at once
        nodata = scl == 0
        for key in ("B02_20m", "B8A_20m", "B12_20m", "AOT_20m"):
            assert np.array_equal(read(archive, item, key) == 0, nodata)
        assert np.array_equal(read(archive, item, "TCI_20m")[0] == 0, nodata)


def test_cloud_cover_and_statistics_come_from_scl(archive: Path, items):
    covers = []
    for item in items[L2A]:
        pct = scl_percentages(read(archive, item, "SCL_20m"))
        cover = pct[8] + pct[9] + pct[10]
        assert item["properties"]["eo:cloud_cover"] == pytest.approx(cover, abs=0.006)
        stats = item["properties"]["statistics"]
        assert stats["vegetation"] == pytest.approx(pct[4], abs=1e-4)
        assert stats["water"] == pytest.approx(pct[6], abs=1e-4)
        assert stats["cloud_shadow"] == pytest.approx(pct[3], abs=1e-4)
        classes = item["assets"]["SCL_20m"]["classification:classes"]
        classes = {c["value"]: c["percentage"] for c in classes}
        assert classes[9] == pytest.approx(pct[9], abs=1e-4)
        covers.append(cover)
    assert min(covers) < 2 and max(covers) > 60
    by_date = defaultdict(set)
    for item in items[L2A]:
        by_date[date_of(item)].add(round(item["properties"]["eo:cloud_cover"]))
    assert len(by_date) == 4 and "2025-05-29" in by_date


def test_swath_edge_leaves_a_corner_to_fill_from_another_date(archive: Path, items):
    uld = [i for i in items[L2A] if tile_of(i) == "32ULD"]
    cut = [i for i in uld if i["properties"]["statistics"]["nodata"] > 5]
    assert len(cut) == 1
    edge = cut[0]
    assert shape(edge["geometry"]).area < 0.9 * box(*uld[0]["bbox"]).area
    corner = read(archive, edge, "B04_10m") == 0
    for other in uld:
        if other is not edge:
            assert (read(archive, other, "B04_10m")[corner] > 0).all()
    # the lake east of the edge is missing on that date only
    assert (read(archive, edge, "SCL_20m", LANDMARKS["lake_east"].core) == 0).all()


def test_tci_is_the_true_colour_of_the_bands(archive: Path, items):
    item = find(items[L2A], "32ULD", "2025-06-23")
    tci = read(archive, item, "TCI_10m").astype(int)
    valid = tci[0] > 0
    for i, band in enumerate(("B04", "B03", "B02")):
        refl = reflectance(archive, item, f"{band}_10m")
        expected = np.clip(np.rint(refl / 0.2 * 254) + 1, 1, 255)
        assert np.abs(tci[i][valid] - expected[valid]).max() <= 1


def test_overlap_shows_the_same_ground_in_both_zones(archive: Path, items):
    date = "2025-06-13"
    ufu, uld = find(items[L2A], "31UFU", date), find(items[L2A], "32ULD", date)
    overlap = shape(ufu["geometry"]).intersection(shape(uld["geometry"]))
    assert 0.03 < overlap.bounds[2] - overlap.bounds[0] < 0.08  # ~4 km of longitude
    for name in ("lake", "forest", "town", "bare_field"):
        assert overlap.contains(box(*LANDMARKS[name].bbox)), name
    with rasterio.open(local(archive, ufu["assets"]["B08_10m"]["href"])) as dst_src:
        dst_crs, dst_transform, shape_ = dst_src.crs, dst_src.transform, dst_src.shape
    for band in ("B04_10m", "B08_10m"):
        target = np.full(shape_, np.nan, dtype=np.float64)
        with rasterio.open(local(archive, uld["assets"][band]["href"])) as src:
            source = src.read(1).astype(np.float64) * 0.0001 - 0.1
            source[src.read(1) == 0] = np.nan
            reproject(
                source,
                target,
                src_transform=src.transform,
                src_crs=src.crs,
                dst_transform=dst_transform,
                dst_crs=dst_crs,
                src_nodata=np.nan,
                dst_nodata=np.nan,
                resampling=Resampling.bilinear,
            )
        here = reflectance(archive, ufu, band)
        scl = np.repeat(np.repeat(read(archive, ufu, "SCL_20m"), 2, 0), 2, 1)
        both = np.isfinite(target) & np.isfinite(here) & np.isin(scl, CLEAR_SCL)
        assert both.mean() > 0.15  # the overlap is a real part of the window
        diff = target[both] - here[both]
        assert abs(np.median(diff)) < 0.003, band
        assert np.median(np.abs(diff)) < 0.012, band


def test_mosaic_cogs(archive: Path, items):
    for item in items[MOSAIC]:
        assert item["properties"]["start_datetime"] == "2025-04-01T00:00:00Z"
        assert item["properties"]["end_datetime"] == "2025-06-30T23:59:59Z"
        for key in ("B02", "B03", "B04", "B08", "observations"):
            path = local(archive, item["assets"][key]["href"])
            valid, errors, _ = cog_validate(str(path), quiet=True)
            assert valid, (path, errors)
            with rasterio.open(path) as src:
                assert src.dtypes[0] == item["assets"][key]["data_type"]
                assert src.nodata == item["assets"][key]["nodata"]
                assert src.overviews(1) and src.compression.name == "deflate"
        # observations: how many L2A dates saw the pixel clear (independent count from SCL)
        scenes = [i for i in items[L2A] if tile_of(i) == tile_of(item)]
        clear = sum(np.isin(read(archive, s, "SCL_20m"), CLEAR_SCL).astype(int) for s in scenes)
        obs = read(archive, item, "observations")
        assert np.array_equal(obs[::2, ::2], clear)
        # bands: the cloud-free ground, round(reflectance * 10000), no offset
        b04 = read(archive, item, "B04", LANDMARKS["forest"].core)
        assert np.median(b04) == pytest.approx(300, abs=120)
        clear_day = find(items[L2A], tile_of(item), "2025-06-13")
        l2a = reflectance(archive, clear_day, "B08_10m", LANDMARKS["lake"].core)
        lake = read(archive, item, "B08", LANDMARKS["lake"].core) / 10000
        assert np.nanmedian(l2a) == pytest.approx(np.median(lake), abs=0.005)


def test_static_catalog_links_resolve(archive: Path, items):
    stac = archive / "stac"
    catalog = json.loads((stac / "catalog.json").read_text())
    children = [lk["href"] for lk in catalog["links"] if lk["rel"] == "child"]
    # L1C, S1 mosaics and DEMs: tests/test_sentinel2_l1c.py, test_s1_mosaics.py, test_dem.py
    assert len(children) == 7
    more = ("sentinel-2-l1c", "sentinel-1-global-mosaics", *DEMS)
    items = {**items, **{cid: ndjson_items(archive, cid) for cid in more}}
    for href in children:
        coll_path = (stac / href).resolve()
        coll = json.loads(coll_path.read_text())
        cid = coll["id"]
        assert coll["type"] == "Collection" and coll["license"] and coll["description"]
        item_links = [lk["href"] for lk in coll["links"] if lk["rel"] == "item"]
        assert len(item_links) == len(items[cid])
        for href_item in item_links:
            doc = json.loads((coll_path.parent / href_item).read_text())
            assert doc in items[cid]
            root = next(lk["href"] for lk in doc["links"] if lk["rel"] == "root")
            root_path = (coll_path.parent / "items" / root).resolve()
            assert root_path == (stac / "catalog.json").resolve()
        (bbox,) = coll["extent"]["spatial"]["bbox"]
        for item in items[cid]:
            assert bbox[0] <= item["bbox"][0] and bbox[2] >= item["bbox"][2]
        assert set(coll["item_assets"]) == set(items[cid][0]["assets"])


def test_refuses_foreign_data_and_leaves_no_marker_on_failure(tmp_path: Path, monkeypatch):
    foreign = tmp_path / "foreign"
    (foreign / "eodata").mkdir(parents=True)
    with pytest.raises(FileExistsError):
        write_sample_archive(foreign, "small", workers=1)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    # every product writer fails (the inline executor runs each as it is submitted: one
    # broken writer alone would still write all the others' products first, a minute)
    for writer in ("write_s1_product", "write_scene", "write_l1c_scene"):
        monkeypatch.setattr(f"gateway.sample.writer.{writer}", broken)
    target = tmp_path / "target"
    with pytest.raises(RuntimeError, match="disk full"):
        write_sample_archive(target, "small", workers=1)
    assert list(target.iterdir()) == []  # no marker, no half archive, no staging left


def test_an_archive_of_an_older_writer_is_written_again(archive: Path, tmp_path: Path):
    from gateway.runtime import needs_sample_data
    from gateway.sample import sample_is_current
    from gateway.settings import Settings

    assert sample_is_current(archive)
    marker = json.loads((archive / SAMPLE_MARKER).read_text())
    (tmp_path / SAMPLE_MARKER).write_text(json.dumps({**marker, "version": 1}))
    assert not sample_is_current(tmp_path)  # written before Sentinel-1
    settings = Settings(data_dir=tmp_path, sample_data=True, stac_url=None, storage="local")
    assert needs_sample_data(settings)
    assert not needs_sample_data(settings.model_copy(update={"data_dir": archive}))
