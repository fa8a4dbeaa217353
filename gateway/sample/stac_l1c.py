"""STAC items of the L1C sample products, shaped like CDSE's ``sentinel-2-l1c`` items: the
L2A item's properties (without the scene-classification statistics) and one asset per band
file, keyed by the band alone (``B04``, ``TCI``); like CDSE's, no asset for the granule's
``MSK_CLASSI`` cloud mask (``gateway.core.catalog.models.l1c_cloud_mask`` finds it)."""

from __future__ import annotations

from gateway.sample.bands import TCI_BANDS, band_info
from gateway.sample.cdse import L1C_EXTENSIONS
from gateway.sample.layout import ScenePlan
from gateway.sample.results import FileFacts, ItemResult
from gateway.sample.sentinel2_l1c import MASK, l1c_layers, mask_percentages
from gateway.sample.stac import (
    _proj,
    band_asset,
    feature,
    file_fields,
    product_asset,
    scene_metadata_assets,
    scene_properties,
    sha3_checksum,
)


def _tci_asset(plan: ScenePlan, facts: FileFacts) -> dict:
    return {
        "type": "image/jp2",
        "title": "True color image",
        "roles": ["visual"],  # as CDSE's L1C items
        "bands": [band_info(b).stac() for b in TCI_BANDS],
        "data_type": "uint8",
        "nodata": 0,
        "gsd": 10,
        **_proj(plan, 10),
        **file_fields(plan, facts, sha3_checksum(facts)),
    }


def l1c_item(plan: ScenePlan, result: ItemResult) -> dict:
    """The STAC item of an L1C scene (``result.scl_counts`` holds its mask counts)."""
    f = result.files
    assets = scene_metadata_assets(plan, result)
    for layer, res in l1c_layers():
        if layer == "TCI":
            assets[layer] = _tci_asset(plan, f[layer])
        elif layer == MASK:
            continue  # CDSE's items do not list it (gateway.core.catalog.models.l1c_cloud_mask)
        else:
            assets[layer] = band_asset(plan, layer, res, f[layer], None)
    assets["Product"] = product_asset(plan)
    cover = mask_percentages(result.scl_counts)["CLOUDY"]
    properties = scene_properties(plan, result, level="1C", cloud_cover=cover)
    return feature(plan, result, properties, assets, L1C_EXTENSIONS)
