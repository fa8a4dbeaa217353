"""STAC items of the sample Sentinel-1 monthly mosaics, field for field like CDSE's
``sentinel-1-global-mosaics`` items (tests/fixtures/cdse-stac/, tests/test_cdse_items.py): the
``userdata`` JSON, one COG asset per polarisation (``VV``, ``VH``: float32 linear gamma0, no
``raster:scale``, nodata -32768) and the zipped ``Product``."""

from __future__ import annotations

from datetime import timedelta

from gateway.sample.cdse import AUTH_SCHEMES, EXPIRES, SOFTWARE, STORAGE_SCHEMES
from gateway.sample.layout import ScenePlan
from gateway.sample.results import ItemResult
from gateway.sample.s1mosaic import (
    S1_MOSAIC_BANDS,
    S1_MOSAIC_END,
    S1_MOSAIC_NODATA,
    S1_MOSAIC_RES,
)
from gateway.sample.stac import (
    _num,
    feature,
    file_fields,
    gdal_transform,
    md5_checksum,
    product_asset,
    timestamp,
)

_EXT = "https://stac-extensions.github.io"
S1_MOSAIC_EXTENSIONS = [
    "https://cs-si.github.io/eopf-stac-extension/v1.2.0/schema.json",
    f"{_EXT}/alternate-assets/v1.2.0/schema.json",
    f"{_EXT}/authentication/v1.1.0/schema.json",
    f"{_EXT}/file/v2.1.0/schema.json",
    f"{_EXT}/grid/v1.1.0/schema.json",
    f"{_EXT}/processing/v1.2.0/schema.json",
    f"{_EXT}/product/v1.0.0/schema.json",
    f"{_EXT}/projection/v2.0.0/schema.json",
    f"{_EXT}/sar/v1.3.0/schema.json",
    f"{_EXT}/storage/v2.0.0/schema.json",
    f"{_EXT}/timestamps/v1.1.0/schema.json",
]
_COG = "image/tiff; application=geotiff; profile=cloud-optimized"
# CDSE's titles and descriptions (eometadatatool's, shared by every Sentinel-1 product: the
# word "Amplitude" is generic there; the mosaics hold gamma0 power, docs/sentinel-1-mosaics.md).
_POLARISATIONS = {
    "VV": ("VV: Vertical transmit, vertical receive", "vertically"),
    "VH": ("VH: Vertical transmit, horizontal receive", "horizontally"),
}
S1_CENTER_FREQUENCY = 5.405  # GHz, C band


def _band_asset(plan: ScenePlan, band: str, result: ItemResult) -> dict:
    title, received = _POLARISATIONS[band]
    grid = plan.grids[S1_MOSAIC_RES]
    return {
        "type": _COG,
        "title": title,
        "roles": ["data"],
        "data_type": "float32",
        "nodata": int(S1_MOSAIC_NODATA),
        "sar:polarizations": [band],
        "proj:code": plan.tile.crs,
        "description": f"Amplitude of vertically polarized signal received {received}.",
        **file_fields(plan, result.files[band], None),
        "proj:shape": list(grid.shape),
        "proj:transform": gdal_transform(grid),
    }


def s1_mosaic_item(plan: ScenePlan, result: ItemResult) -> dict:
    """The STAC item of one month's IW mosaic of one tile."""
    created = timestamp(S1_MOSAIC_END + timedelta(days=9, hours=4, minutes=12, seconds=7))
    assets: dict[str, dict] = {
        "userdata": {
            "type": "application/xml",
            "title": "userdata.json",
            "roles": ["metadata"],
            **file_fields(plan, result.files["userdata"], md5_checksum(result.files["userdata"])),
        }
    }
    for band in S1_MOSAIC_BANDS:
        assets[band] = _band_asset(plan, band, result)
    assets["Product"] = product_asset(plan)
    properties = {
        "created": created,
        "updated": created,
        "published": created,
        "eopf:origin_datetime": created,
        "auth:schemes": AUTH_SCHEMES,
        "storage:schemes": STORAGE_SCHEMES,
        "datetime": timestamp(plan.datetime),
        "start_datetime": timestamp(plan.datetime),
        "end_datetime": timestamp(S1_MOSAIC_END),
        "constellation": "sentinel-1",
        "instruments": ["sar"],
        "processing:level": "L3",
        "processing:facility": "Sinergise Solutions",
        "product:type": "S1SAR_L3_IW_MCM",
        "product:timeliness": "P1M",
        "sar:instrument_mode": "IW",
        "sar:frequency_band": "C",
        "sar:center_frequency": S1_CENTER_FREQUENCY,
        "sar:polarizations": sorted(S1_MOSAIC_BANDS),
        "gsd": _num(S1_MOSAIC_RES),
        "grid:code": f"MGRS-{plan.tile.name}",
        "processing:software": SOFTWARE,
        "expires": EXPIRES,
    }
    return feature(plan, result, properties, assets, S1_MOSAIC_EXTENSIONS)
