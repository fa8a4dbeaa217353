"""STAC items of the sample DEM files, field for field like CDSE's ``cop-dem-glo-30-dged-cog``
and ``cop-dem-glo-90-dged-cog`` items (tests/fixtures/cdse-stac/, tests/test_cdse_items.py):
S3 access only (no HTTPS alternate, no zipped product), a bare ``data`` asset (the float32 COG:
no nodata, unit or band list; the configuration's ``item_bands`` names it), the ``manifest``
XML, the TanDEM-X acquisitions' dates of each cell and no provenance links."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta

from gateway.sample.cdse import EXPIRES, SOFTWARE, STORAGE_REFS, STORAGE_SCHEMES
from gateway.sample.dem import DemPlan
from gateway.sample.results import FileFacts, ItemResult
from gateway.sample.stac import catalog_links, feature, gdal_transform, timestamp

_EXT = "https://stac-extensions.github.io"
DEM_EXTENSIONS = [
    f"{_EXT}/alternate-assets/v1.2.0/schema.json",
    f"{_EXT}/authentication/v1.1.0/schema.json",
    f"{_EXT}/grid/v1.1.0/schema.json",
    f"{_EXT}/processing/v1.2.0/schema.json",
    f"{_EXT}/projection/v2.0.0/schema.json",
    f"{_EXT}/sar/v1.3.0/schema.json",
    f"{_EXT}/storage/v2.0.0/schema.json",
    f"{_EXT}/timestamps/v1.1.0/schema.json",
]
#: The TanDEM-X mission's DEM acquisitions (Dec 2010 - Jan 2015): each cell is dated by the
#: first and last acquisition that made it.
ACQUIRED = (datetime(2010, 12, 12, tzinfo=UTC), datetime(2015, 1, 17, 23, 59, 59, tzinfo=UTC))
INGESTED = datetime(2022, 8, 9, tzinfo=UTC)  # CDSE's DEM items were created on 2022-08-09


def _fraction(key: str, salt: int) -> float:
    """A stable pseudo-random number in [0, 1) for a cell (or a file)."""
    return zlib.crc32(f"{key}/{salt}".encode()) / 2**32


def acquisitions(plan: DemPlan) -> tuple[datetime, datetime]:
    """The first and last acquisition of a cell: the same for GLO-30 and GLO-90, as in CDSE."""
    span = (ACQUIRED[1] - ACQUIRED[0]).total_seconds()
    first = ACQUIRED[0] + timedelta(seconds=span * 0.6 * _fraction(plan.cell, 1))
    rest = (ACQUIRED[1] - first).total_seconds()
    last = first + timedelta(seconds=rest * (0.2 + 0.8 * _fraction(plan.cell, 2)))
    return first, last


def _s3_asset(facts: FileFacts, kind: str, title: str, role: str) -> dict:
    return {
        "type": kind,
        "title": title,
        "roles": [role],
        "href": f"s3://eodata/{facts.path}",
        "auth:refs": ["s3"],
        "storage:refs": list(STORAGE_REFS),
    }


def dem_item(plan: DemPlan, result: ItemResult) -> dict:
    """The STAC item of one DEM file."""
    grid = plan.grid
    first, last = acquisitions(plan)
    created = INGESTED + timedelta(seconds=86400 * _fraction(plan.item_id, 3))
    data = {
        **_s3_asset(
            result.files["data"],
            "image/tiff; application=geotiff; profile=cloud-optimized",
            f"{plan.item_id}.tif",
            "data",
        ),
        "proj:shape": list(grid.shape),
        "proj:transform": gdal_transform(grid),
        "data_type": "float32",
    }
    manifest = _s3_asset(result.files["manifest"], "application/xml", "manifest", "metadata")
    properties = {
        "auth:schemes": {"s3": {"type": "s3"}},
        "storage:schemes": STORAGE_SCHEMES,
        "start_datetime": timestamp(first),
        "end_datetime": timestamp(last),
        "sar:polarizations": ["HH"],  # TanDEM-X's bistatic interferometry, HH
        "datetime": timestamp(first),
        "created": timestamp(created),
        "gsd": plan.kind.gsd,
        "proj:code": "EPSG:4326",
        "product:type": f"DGE_{plan.kind.gsd}-COG",
        "processing:version": "5.52",
        "grid:code": f"CDEM-{plan.cell[:3]}{plan.cell[7:11]}",
        "processing:software": SOFTWARE,
        "expires": EXPIRES,
    }
    assets = {"data": data, "manifest": manifest}
    return feature(plan, result, properties, assets, DEM_EXTENSIONS, links=catalog_links(plan))
