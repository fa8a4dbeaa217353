"""STAC items of the sample Sentinel-1 monthly mosaics, shaped like the Sentinel-2 mosaics'
(``gateway.sample.stac.mosaic_item``) with the SAR fields: one COG asset per polarisation
(``VV``, ``VH``: uint16, ``raster:scale`` 0.0001 to linear gamma0, nodata 0) and the zipped
``Product``."""

from __future__ import annotations

from datetime import timedelta

from gateway.sample.cdse import AUTH_SCHEMES, EXPIRES, MOSAIC_EXTENSIONS, SOFTWARE, STORAGE_SCHEMES
from gateway.sample.layout import ScenePlan
from gateway.sample.results import ItemResult
from gateway.sample.s1mosaic import (
    S1_MOSAIC_BANDS,
    S1_MOSAIC_END,
    S1_MOSAIC_RES,
    S1_MOSAIC_SCALE,
)
from gateway.sample.stac import _proj, feature, file_fields, product_asset, timestamp

_EXT = "https://stac-extensions.github.io"
S1_MOSAIC_EXTENSIONS = sorted(
    {*MOSAIC_EXTENSIONS, f"{_EXT}/raster/v2.0.0/schema.json", f"{_EXT}/sar/v1.2.0/schema.json"}
)
_COG = "image/tiff; application=geotiff; profile=cloud-optimized"


def _band_asset(plan: ScenePlan, band: str, result: ItemResult) -> dict:
    return {
        "type": _COG,
        "title": f"{band} backscatter (gamma0, terrain flattened, linear)",
        "roles": ["data", "backscatter"],
        "bands": [{"name": band, "description": f"{band} polarisation, gamma0 (linear)"}],
        "data_type": "uint16",
        "nodata": 0,
        "raster:scale": S1_MOSAIC_SCALE,
        "raster:offset": 0.0,
        "gsd": S1_MOSAIC_RES,
        **_proj(plan, S1_MOSAIC_RES, with_code=False, transform=False),
        **file_fields(plan, result.files[band], None),
    }


def s1_mosaic_item(plan: ScenePlan, result: ItemResult) -> dict:
    """The STAC item of one month's IW mosaic of one tile."""
    created = S1_MOSAIC_END + timedelta(days=9, hours=4, minutes=12, seconds=7)
    published = created + timedelta(hours=20)
    assets = {band: _band_asset(plan, band, result) for band in S1_MOSAIC_BANDS}
    assets["Product"] = product_asset(plan)
    properties = {
        "created": timestamp(created),
        "updated": timestamp(published),
        "published": timestamp(published),
        "auth:schemes": AUTH_SCHEMES,
        "storage:schemes": STORAGE_SCHEMES,
        "datetime": plan.datetime.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "start_datetime": plan.datetime.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end_datetime": S1_MOSAIC_END.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "constellation": "sentinel-1",
        "instruments": ["sar"],
        "sar:instrument_mode": "IW",
        "sar:frequency_band": "C",
        "sar:polarizations": list(S1_MOSAIC_BANDS),
        "processing:level": "L3",
        "processing:facility": "Copernicus Data Space Ecosystem",
        "product:type": "S1SAR_L3_IW_MCM",
        "product:timeliness": "P1M",
        "gsd": S1_MOSAIC_RES,
        "grid:code": f"MGRS-{plan.tile.name}",
        "proj:code": plan.tile.crs,
        "processing:software": SOFTWARE,
        "expires": EXPIRES,
    }
    return feature(plan, result, properties, assets, S1_MOSAIC_EXTENSIONS)
