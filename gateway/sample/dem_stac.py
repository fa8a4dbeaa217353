"""STAC items of the sample DEM files, shaped like CDSE's ``cop-dem-glo-30-dged-cog`` and
``cop-dem-glo-90-dged-cog`` items: one ``data`` asset (the float32 COG, ``s3://eodata/auxdata/
CopDEM_COG/...``) and the zipped ``Product``, with the CDSE fields every COG collection's items
carry (auth, storage, file, alternate HTTPS href, timestamps)."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.sample.cdse import AUTH_SCHEMES, EXPIRES, STORAGE_SCHEMES
from gateway.sample.dem import DEM_NODATA, DemPlan
from gateway.sample.results import ItemResult
from gateway.sample.stac import _num, feature, file_fields, product_asset, timestamp

_EXT = "https://stac-extensions.github.io"
DEM_EXTENSIONS = [
    f"{_EXT}/alternate-assets/v1.2.0/schema.json",
    f"{_EXT}/authentication/v1.1.0/schema.json",
    f"{_EXT}/file/v2.1.0/schema.json",
    f"{_EXT}/processing/v1.2.0/schema.json",
    f"{_EXT}/product/v1.0.0/schema.json",
    f"{_EXT}/projection/v2.0.0/schema.json",
    f"{_EXT}/raster/v2.0.0/schema.json",
    f"{_EXT}/storage/v2.0.0/schema.json",
    f"{_EXT}/timestamps/v1.1.0/schema.json",
]
#: The TanDEM-X acquisitions the DGED release was made from; items are dated by the first.
ACQUIRED = (datetime(2010, 12, 12, tzinfo=UTC), datetime(2015, 1, 17, 23, 59, 59, tzinfo=UTC))
PUBLISHED = datetime(2023, 11, 20, 9, 41, 12, tzinfo=UTC)  # DGED 2023_1 on CDSE


def dem_item(plan: DemPlan, result: ItemResult) -> dict:
    """The STAC item of one DEM file."""
    grid = plan.grid
    facts = result.files["data"]
    data = {
        "type": "image/tiff; application=geotiff; profile=cloud-optimized",
        "title": f"Copernicus DEM GLO-{plan.kind.gsd} (DGED), height",
        "roles": ["data"],
        "data_type": "float32",
        "nodata": DEM_NODATA,
        "unit": "m",
        "gsd": plan.kind.gsd,
        "proj:code": "EPSG:4326",
        "proj:shape": list(grid.shape),
        "proj:bbox": [_num(v) for v in grid.bbox],
        "proj:transform": [_num(v) for v in grid.transform],
        **file_fields(plan, facts, "d50110" + facts.md5),
    }
    properties = {
        "created": timestamp(PUBLISHED),
        "updated": timestamp(PUBLISHED),
        "published": timestamp(PUBLISHED),
        "auth:schemes": AUTH_SCHEMES,
        "storage:schemes": STORAGE_SCHEMES,
        "datetime": timestamp(ACQUIRED[0]),
        "start_datetime": timestamp(ACQUIRED[0]),
        "end_datetime": timestamp(ACQUIRED[1]),
        "constellation": "tandem-x",
        "instruments": ["sar"],
        "gsd": plan.kind.gsd,
        "product:type": f"DGE_{plan.kind.gsd}-COG",
        "processing:level": "L3",
        "processing:version": "5.52",
        "proj:code": "EPSG:4326",
        "expires": EXPIRES,
    }
    assets = {"data": data, "Product": product_asset(plan)}
    return feature(plan, result, properties, assets, DEM_EXTENSIONS)
