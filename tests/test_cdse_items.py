"""The sample archive's items of ``sentinel-2-l1c``, ``sentinel-1-global-mosaics`` and the
Copernicus DEM against real CDSE items (tests/fixtures/cdse-stac/, from the examples of
eu-cdse/eometadatatool, the tool that builds CDSE's STAC catalogue), field for field.

What the sample does not match yet is listed here as KNOWN (each entry a gap to close, with
the sample version that closes it); the tests fail both when a new difference appears and
when a known one is gone, so this list stays true."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.cdse_items import CDSE_STAC_FIXTURES, cdse_item

L1C, S1_MOSAIC = "sentinel-2-l1c", "sentinel-1-global-mosaics"
GLO30, GLO90 = "cop-dem-glo-30-dged-cog", "cop-dem-glo-90-dged-cog"
SOURCE = "https://github.com/eu-cdse/eometadatatool/blob/34774b63c49fda29b3eed2c4df6b246fa8672eaa"

# Item properties: (only in CDSE's, only in the sample's).
KNOWN_PROPERTIES = {
    L1C: (set(), set()),
    S1_MOSAIC: ({"eopf:origin_datetime", "sar:center_frequency"}, {"proj:code"}),
    GLO30: (
        {"grid:code", "processing:software", "sar:polarizations"},
        {"constellation", "instruments", "processing:level", "published", "updated"},
    ),
}
KNOWN_PROPERTIES[GLO90] = KNOWN_PROPERTIES[GLO30]
# Asset keys: (only in CDSE's, only in the sample's). Neither lists L1C's MSK_CLASSI (the
# SAFE's QI_DATA/MSK_CLASSI_B00.jp2): the parser finds it beside the band files.
KNOWN_ASSETS = {
    L1C: (set(), set()),
    S1_MOSAIC: ({"userdata"}, set()),
    GLO30: ({"manifest"}, {"Product"}),
}
KNOWN_ASSETS[GLO90] = KNOWN_ASSETS[GLO30]
# Fields of the data assets: {asset: (only in CDSE's, only in the sample's)}.
KNOWN_ASSET_FIELDS = {
    L1C: {"B04": (set(), set()), "TCI": (set(), set())},
    S1_MOSAIC: {
        "VV": (
            {"description", "proj:code", "proj:transform", "sar:polarizations"},
            {"bands", "gsd", "proj:bbox", "raster:offset", "raster:scale"},
        )
    },
    GLO30: {
        "data": (
            set(),
            {
                "alternate",
                "alternate:name",
                "file:checksum",
                "file:local_path",
                "file:size",
                "gsd",
                "nodata",
                "proj:bbox",
                "proj:code",
                "unit",
            },
        )
    },
}
KNOWN_ASSET_FIELDS[GLO90] = KNOWN_ASSET_FIELDS[GLO30]
# Values that differ where they should not (not scene-specific): {field: (CDSE, sample)}.
KNOWN_VALUES = {
    L1C: {},
    S1_MOSAIC: {
        "sar:polarizations": (["VH", "VV"], ["VV", "VH"]),
        "processing:facility": ("Sinergise Solutions", "Copernicus Data Space Ecosystem"),
        "VV.data_type": ("float32", "uint16"),
        "VV.nodata": (-32768, 0),
        "VV.roles": (["data"], ["data", "backscatter"]),
    },
    GLO30: {},
    GLO90: {},
}
# Compared by value: the fields that are the same for every item of a collection.
SAME_PROPERTIES = ("constellation", "instruments", "processing:level", "product:type",
                   "product:timeliness", "sar:instrument_mode", "sar:frequency_band",
                   "sar:polarizations", "processing:facility", "processing:version", "gsd",
                   "storage:schemes", "expires")  # fmt: skip
# ...except where they follow the scene: an L1C's processing baseline (05.10, 05.11).
SCENE_SPECIFIC = {L1C: {"processing:version"}}
SAME_ASSET_FIELDS = ("type", "roles", "data_type", "nodata", "raster:scale", "raster:offset")
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
# Item ids: CDSE's S1 mosaics are Sentinel-1_IW_mosaic_2020_M01_<tile>_0_0; the sample's
# Sentinel-1_mosaic_2025_06_<tile>_0_0 (KNOWN).
ID_LAYOUT = {
    L1C: r"S2[ABC]_MSIL1C_\d{8}T\d{6}_N\d{4}_R\d{3}_T\w{5}_\d{8}T\d{6}",
    S1_MOSAIC: r"Sentinel-1_IW_mosaic_\d{4}_M\d\d_\w{5}_0_0",
    GLO30: r"Copernicus_DSM_COG_10_[NS]\d\d_00_[EW]\d{3}_00_DEM",
    GLO90: r"Copernicus_DSM_COG_30_[NS]\d\d_00_[EW]\d{3}_00_DEM",
}
KNOWN_ID_MISMATCH = {S1_MOSAIC}
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
            f"{data}.{name}": (real["assets"][data][name], item["assets"][data][name])
            for name in SAME_ASSET_FIELDS
            if name in real["assets"][data] and name in item["assets"][data]
            and real["assets"][data][name] != item["assets"][data][name]
        }  # fmt: skip
        assert differ == KNOWN_VALUES[collection]
        href = re.fullmatch(HREF_LAYOUT[collection], item["assets"][data]["href"])
        assert href is not None and href["id"] == item["id"], item["assets"][data]["href"]


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
