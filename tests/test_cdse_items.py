"""The sample archive's items of ``sentinel-2-l1c``, ``sentinel-1-global-mosaics`` and the
Copernicus DEM against real CDSE items (tests/fixtures/cdse-stac/, from the examples of
eu-cdse/eometadatatool, the tool that builds CDSE's STAC catalogue), field for field.

Since sample version 5 nothing is KNOWN: the same properties and assets in the same order,
the same fields on every asset, the same extensions and the same values wherever a value
does not follow the scene. A gap that appears would be listed as KNOWN (the tests fail both
when a new difference appears and when a known one is gone, so the lists stay true).

Left out on purpose: values that follow the scene (see SCENE_SPECIFIC) and ``links``: CDSE's
carry provenance (a trace record, the S3 folder; none on DEM items), the sample's add the
static catalog's own self/parent/collection/root links, which the catalog needs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.cdse_items import CDSE_STAC_FIXTURES, cdse_item

L1C, S1_MOSAIC = "sentinel-2-l1c", "sentinel-1-global-mosaics"
GLO30, GLO90 = "cop-dem-glo-30-dged-cog", "cop-dem-glo-90-dged-cog"
SOURCE = "https://github.com/eu-cdse/eometadatatool/blob/34774b63c49fda29b3eed2c4df6b246fa8672eaa"

# Item properties: (only in CDSE's, only in the sample's). Empty since sample version 5.
KNOWN_PROPERTIES: dict[str, tuple[set[str], set[str]]] = {
    collection: (set(), set()) for collection in (L1C, S1_MOSAIC, GLO30, GLO90)
}
# Asset keys: (only in CDSE's, only in the sample's). Neither lists L1C's MSK_CLASSI (the
# SAFE's QI_DATA/MSK_CLASSI_B00.jp2): the parser finds it beside the band files.
KNOWN_ASSETS: dict[str, tuple[set[str], set[str]]] = {
    collection: (set(), set()) for collection in (L1C, S1_MOSAIC, GLO30, GLO90)
}
# Fields of the data assets: {asset: (only in CDSE's, only in the sample's)}.
KNOWN_ASSET_FIELDS: dict[str, dict[str, tuple[set[str], set[str]]]] = {
    L1C: {"B04": (set(), set()), "TCI": (set(), set())},
    S1_MOSAIC: {"userdata": (set(), set()), "VV": (set(), set()), "VH": (set(), set())},
    GLO30: {"data": (set(), set()), "manifest": (set(), set())},
    GLO90: {"data": (set(), set()), "manifest": (set(), set())},
}
# Values that differ where they should not (not scene-specific): {field: (CDSE, sample)}.
KNOWN_VALUES: dict[str, dict] = {L1C: {}, S1_MOSAIC: {}, GLO30: {}, GLO90: {}}
# Compared by value: the fields that are the same for every item of a collection.
SAME_PROPERTIES = ("constellation", "instruments", "processing:level", "product:type",
                   "product:timeliness", "sar:instrument_mode", "sar:frequency_band",
                   "sar:polarizations", "sar:center_frequency", "processing:facility",
                   "processing:version", "gsd", "storage:schemes", "auth:schemes",
                   "expires")  # fmt: skip
# Not compared: processing:software names the tool that wrote the item (CDSE's
# eometadatatool, the sample's writer), which the sample must not claim to be.
# ...except where they follow the scene: an L1C's processing baseline (05.10, 05.11). Not
# compared at all, as they follow the scene or the file: times (datetime, start/end, created,
# updated, published, eopf:origin_datetime: a DEM cell is dated by its own TanDEM-X
# acquisitions, a mosaic by its month), grid:code, proj:code, bbox/geometry, hrefs (checked
# against HREF_LAYOUT), file:size/file:checksum, proj:shape/proj:transform (their layout is
# checked: test_proj_transform_has_cdse_s_order).
SCENE_SPECIFIC = {L1C: {"processing:version"}}
SAME_ASSET_FIELDS = ("type", "roles", "data_type", "nodata", "raster:scale", "raster:offset",
                     "sar:polarizations", "description", "auth:refs", "storage:refs")  # fmt: skip
# The sample's hrefs are CDSE's with the item's names put in: {collection: pattern}.
HREF_LAYOUT = {
    L1C: r"s3://eodata/Sentinel-2/MSI/L1C/\d{4}/\d\d/\d\d/(?P<id>S2[ABC]_MSIL1C_\w+)\.SAFE/"
    r"GRANULE/L1C_T\w{5}_A\d{6}_\d{8}T\d{6}/IMG_DATA/T\w{5}_\d{8}T\d{6}_B04\.jp2",
    S1_MOSAIC: r"s3://eodata/Global-Mosaics/Sentinel-1/S1SAR_L3_IW_MCM/\d{4}/\d\d/01/"
    r"(?P<id>Sentinel-1_\w+_0_0)/VV\.tif",
    GLO30: r"s3://eodata/auxdata/CopDEM_COG/copernicus-dem-30m/(?P<id>Copernicus_DSM_COG_10_"
    r"[NS]\d\d_00_[EW]\d{3}_00_DEM)/(?P=id)\.tif",
    GLO90: r"s3://eodata/auxdata/CopDEM_COG/copernicus-dem-90m/(?P<id>Copernicus_DSM_COG_30_"
    r"[NS]\d\d_00_[EW]\d{3}_00_DEM)/(?P=id)\.tif",
}
DATA_ASSET = {L1C: "B04", S1_MOSAIC: "VV", GLO30: "data", GLO90: "data"}
# Item ids: CDSE's, the sample's too (the S1 mosaics' since sample version 5).
ID_LAYOUT = {
    L1C: r"S2[ABC]_MSIL1C_\d{8}T\d{6}_N\d{4}_R\d{3}_T\w{5}_\d{8}T\d{6}",
    S1_MOSAIC: r"Sentinel-1_IW_mosaic_\d{4}_M\d\d_\w{5}_0_0",
    GLO30: r"Copernicus_DSM_COG_10_[NS]\d\d_00_[EW]\d{3}_00_DEM",
    GLO90: r"Copernicus_DSM_COG_30_[NS]\d\d_00_[EW]\d{3}_00_DEM",
}
KNOWN_ID_MISMATCH: set[str] = set()
# Configured bands CDSE's items do not give the gateway (scene_from_item finds no asset of
# the band's item name): none.
KNOWN_MISSING_BANDS: dict[str, set[str]] = {}
COLLECTIONS = (L1C, S1_MOSAIC, GLO30, GLO90)


def sample_items(archive: Path, collection: str) -> list[dict]:
    path = archive / "stac" / "collections" / collection / "items.ndjson"
    return [json.loads(line) for line in path.read_text().splitlines()]


def only(a: dict, b: dict) -> tuple[set[str], set[str]]:
    return set(a) - set(b), set(b) - set(a)


def test_fixtures_are_cdse_items_with_their_source():
    readme = (CDSE_STAC_FIXTURES / "README.md").read_text()
    for collection in COLLECTIONS:
        real = cdse_item(collection)
        assert real["collection"] == collection and real["type"] == "Feature"
        assert re.fullmatch(ID_LAYOUT[collection], real["id"]), real["id"]
        assert re.fullmatch(HREF_LAYOUT[collection], real["assets"][DATA_ASSET[collection]]["href"])
        assert f"`{collection}.item.json`" in readme and SOURCE in readme


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_sample_items_match_cdse_field_for_field(sample_archive: Path, collection):
    real = cdse_item(collection)
    items = sample_items(sample_archive, collection)
    assert items
    data = DATA_ASSET[collection]
    for item in items:
        assert item["collection"] == collection and item["stac_version"] == real["stac_version"]
        named = re.fullmatch(ID_LAYOUT[collection], item["id"]) is not None
        assert named is (collection not in KNOWN_ID_MISMATCH), item["id"]
        assert only(real["properties"], item["properties"]) == KNOWN_PROPERTIES[collection]
        assert only(real["assets"], item["assets"]) == KNOWN_ASSETS[collection]
        for key, known in KNOWN_ASSET_FIELDS[collection].items():
            assert only(real["assets"][key], item["assets"][key]) == known, key
        differ = {
            name: (real["properties"][name], item["properties"][name])
            for name in SAME_PROPERTIES
            if name not in SCENE_SPECIFIC.get(collection, set())
            and name in real["properties"] and name in item["properties"]
            and real["properties"][name] != item["properties"][name]
        }  # fmt: skip
        differ |= {
            f"{key}.{name}": (real["assets"][key][name], item["assets"][key][name])
            for key in KNOWN_ASSET_FIELDS[collection]
            for name in SAME_ASSET_FIELDS
            if name in real["assets"][key] and name in item["assets"][key]
            and real["assets"][key][name] != item["assets"][key][name]
        }  # fmt: skip
        assert differ == KNOWN_VALUES[collection]
        assert item["stac_extensions"] == real["stac_extensions"]
        assert list(item["properties"]) == list(real["properties"])
        assert list(item["assets"]) == list(real["assets"])
        href = re.fullmatch(HREF_LAYOUT[collection], item["assets"][data]["href"])
        assert href is not None and href["id"] == item["id"], item["assets"][data]["href"]


def transform_order(transform: list[float]) -> str:
    """``affine`` (STAC's a, b, c, d, e, f) or ``gdal`` (c, a, b, f, d, e) for a north-up grid."""
    if transform[1] == transform[3] == 0 and transform[0] > 0 > transform[4]:
        return "affine"
    assert transform[2] == transform[4] == 0 and transform[1] > 0 > transform[5], transform
    return "gdal"


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_proj_transform_has_cdse_s_order(sample_archive: Path, collection):
    """CDSE's S1 mosaic and DEM items write ``proj:transform`` in GDAL's geotransform order
    (west, x step, 0, north, 0, -y step), its L1C items in STAC's affine order: the sample's
    follow, and the gateway reads neither (the grid comes from the file)."""
    data = DATA_ASSET[collection]
    expected = transform_order(cdse_item(collection)["assets"][data]["proj:transform"])
    assert expected == ("affine" if collection == L1C else "gdal")
    for item in sample_items(sample_archive, collection):
        assert transform_order(item["assets"][data]["proj:transform"]) == expected


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_the_gateway_reads_cdse_s_items_as_they_are(collection):
    """CDSE's items parse into the bands the configuration serves, with the values' scale:
    CDSE's float32 S1 mosaics (no raster:scale, nodata -32768) are read as they are stored.
    CDSE's L1C item lists no MSK_CLASSI: the parser derives it from the band files' folder;
    CDSE's DEM ``data`` asset has no ``bands`` list: the configuration's ``item_bands`` names
    it as band ``DEM``'s."""
    from gateway.config import load_config
    from gateway.core.catalog.models import scene_from_item
    from gateway.core.reader import scale_and_offset

    config = load_config().collection(collection)
    assert config is not None
    scene = scene_from_item(cdse_item(collection))
    found = {asset.band for asset in scene.assets}
    missing = {band for band in config.bands if config.item_band(band) not in found}
    assert missing == KNOWN_MISSING_BANDS.get(collection, set())
    if collection == L1C:
        (mask,) = scene.band_assets("MSK_CLASSI")
        granule = cdse_item(L1C)["assets"]["B04"]["href"].rsplit("/IMG_DATA/", 1)[0]
        assert mask.href == f"{granule}/QI_DATA/MSK_CLASSI_B00.jp2" and mask.gsd == 60
    for band in set(config.bands) - missing:
        (asset, *_) = scene.band_assets(config.item_band(band))
        scale, offset = scale_and_offset(scene, asset, config)
        if collection == L1C:  # baseline 05.10: DN / 10000 - 0.1
            assert (scale, offset) == (0.0001, -0.1)
        else:
            assert (scale, offset) == (1.0, 0.0)
        if collection == S1_MOSAIC:
            assert asset.data_type == "float32" and asset.nodata == -32768
