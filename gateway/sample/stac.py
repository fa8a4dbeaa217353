"""STAC items shaped field for field like CDSE's (../shared/fixtures/cdse-stac/), from results."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import Protocol

from gateway.sample import safe_metadata, scl
from gateway.sample.bands import (
    BANDS,
    DN_OFFSET,
    DN_SCALE,
    MOSAIC_BANDS,
    RESOLUTIONS,
    TCI_BANDS,
    band_info,
    layers,
    sampling,
)
from gateway.sample.cdse import (
    AUTH_SCHEMES,
    DOWNLOAD,
    EXPIRES,
    INTERNATIONAL_DESIGNATORS,
    L2A_EXTENSIONS,
    MOSAIC_EXTENSIONS,
    QUICKLOOK,
    SOFTWARE,
    STAC_VERSION,
    STORAGE_REFS,
    STORAGE_SCHEMES,
    TRACE,
    VIEW,
    VIEW_BAND,
    ZIPPER,
)
from gateway.sample.layout import (
    MOSAIC_END,
    PROCESSING_BASELINE,
    Grid,
    ScenePlan,
    product_uuid,
)
from gateway.sample.results import FileFacts, ItemResult


class Product(Protocol):
    """What the item helpers read of a plan (Sentinel-2 or Sentinel-1)."""

    @property
    def collection(self) -> str: ...
    @property
    def item_id(self) -> str: ...
    @property
    def directory(self) -> str: ...
    @property
    def product_name(self) -> str: ...


def timestamp(when: datetime) -> str:
    """CDSE's item time format: microseconds and Z."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lifecycle(created: datetime, published: datetime, updated: datetime) -> dict[str, object]:
    """The first properties of every CDSE item: its times and the access schemes."""
    return {
        "created": timestamp(created),
        "updated": timestamp(updated),
        "published": timestamp(published),
        "eopf:origin_datetime": timestamp(created),
        "auth:schemes": AUTH_SCHEMES,
        "storage:schemes": STORAGE_SCHEMES,
    }


def _num(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _proj(plan: ScenePlan, res: int, with_code: bool = True, transform: bool = True) -> dict:
    grid = plan.grids[res]
    out: dict[str, object] = {"proj:code": plan.tile.crs} if with_code else {}
    out["proj:shape"] = list(grid.shape)
    out["proj:bbox"] = [_num(v) for v in grid.bbox]
    if transform:
        out["proj:transform"] = [_num(v) for v in grid.transform]
    return out


def gdal_transform(grid: Grid) -> list[float]:
    """A grid's ``proj:transform`` as CDSE's Sentinel-1 mosaic and DEM items write it: GDAL's
    geotransform order (west, x step, 0, north, 0, -y step), not STAC's affine order."""
    a, b, c, d, e, f = grid.transform
    return [float(v) for v in (c, a, b, f, d, e)]


def _odata_nodes(plan: Product, rel: str) -> str:
    """The CDSE zipper URL of one file of a product."""
    parent = plan.directory.rsplit("/", 1)[0]
    parts = PurePosixPath(rel[len(parent) + 1 :]).parts
    nodes = "/".join(f"Nodes({p})" for p in parts)
    return f"{ZIPPER}/Products({product_uuid(plan.item_id)})/{nodes}/$value"


def file_fields(plan: Product, facts: FileFacts, checksum: str | None) -> dict:
    """file:*, href and alternate fields of an S3-hosted asset, in CDSE's order."""
    parent = plan.directory.rsplit("/", 1)[0]
    out: dict[str, object] = {}
    if checksum is not None:
        out["file:checksum"] = checksum
    out["file:size"] = facts.size
    out["file:local_path"] = facts.path[len(parent) + 1 :]
    out["href"] = f"s3://eodata/{facts.path}"
    out["alternate:name"] = "S3"
    out["auth:refs"] = ["s3"]
    out["storage:refs"] = list(STORAGE_REFS)
    out["alternate"] = {
        "https": {
            "href": _odata_nodes(plan, facts.path),
            "alternate:name": "HTTPS",
            "auth:refs": ["oidc"],
            "storage:refs": [],
        }
    }
    return out


def sha3_checksum(facts: FileFacts) -> str:
    return "1620" + facts.sha3_256


def md5_checksum(facts: FileFacts) -> str:
    return "d50110" + facts.md5


def catalog_links(plan: Product) -> list[dict]:
    """The static catalog's own links of an item (self, parent, collection, root)."""
    return [
        {"rel": "self", "href": f"./{plan.item_id}.json", "type": "application/geo+json"},
        {"rel": "parent", "href": "../collection.json", "type": "application/json"},
        {"rel": "collection", "href": "../collection.json", "type": "application/json"},
        {"rel": "root", "href": "../../../catalog.json", "type": "application/json"},
    ]


def _links(plan: Product) -> list[dict]:
    """CDSE's provenance links (trace record, S3 folder), then the catalog's."""
    product = f"{plan.product_name}.zip"
    return [
        {
            "rel": "version-history",
            "href": f"{TRACE}/{product}",
            "type": "application/json",
            "title": "Product history record from the CDSE traceability service",
        },
        {
            "rel": "enclosure",
            "href": f"s3://eodata/{plan.directory}/",
            "type": "application/x-directory",
            "title": "S3 path to source directory",
            "auth:refs": ["s3"],
            "storage:refs": list(STORAGE_REFS),
        },
        *catalog_links(plan),
    ]


def _bbox(geometry: dict) -> list[float]:
    ring = geometry["coordinates"][0]
    lons = [p[0] for p in ring]
    lats = [p[1] for p in ring]
    return [min(lons), min(lats), max(lons), max(lats)]


def feature(
    plan: Product,
    result: ItemResult,
    properties: dict,
    assets: dict,
    extensions: Sequence[str],
    links: list[dict] | None = None,
) -> dict:
    """The item itself, keys in the order CDSE serves them; ``links`` default to CDSE's
    provenance links and the catalog's."""
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "collection": plan.collection,
        "id": plan.item_id,
        "properties": properties,
        "bbox": _bbox(result.geometry),
        "geometry": result.geometry,
        "links": _links(plan) if links is None else links,
        "assets": assets,
        "stac_extensions": list(extensions),
    }


def quicklook_fields(plan: Product, facts: FileFacts) -> dict:
    """file:*, href (HTTPS) and S3 alternate of a quicklook asset, in CDSE's order."""
    parent = plan.directory.rsplit("/", 1)[0]
    return {
        "file:checksum": md5_checksum(facts),
        "file:size": facts.size,
        "file:local_path": facts.path[len(parent) + 1 :],
        "href": f"{QUICKLOOK}/Assets({product_uuid(plan.item_id + '-ql')})/$value",
        "alternate:name": "HTTPS",
        "alternate": {
            "s3": {
                "href": f"s3://eodata/{facts.path}",
                "alternate:name": "S3",
                "auth:refs": ["s3"],
                "storage:refs": list(STORAGE_REFS),
            }
        },
    }


def metadata_asset(plan: Product, facts: FileFacts, title: str) -> dict:
    return {
        "type": "application/xml",
        "title": title,
        "roles": ["metadata"],
        **file_fields(plan, facts, md5_checksum(facts)),
    }


def band_asset(
    plan: ScenePlan, layer: str, res: int, facts: FileFacts, sampling_role: str | None
) -> dict:
    """The asset of one spectral band file (L2A or L1C), ``sampling_role`` as in
    :func:`gateway.sample.bands.sampling` (None: no sampling and gsd roles, as CDSE's L1C
    band assets have none)."""
    band = band_info(layer)
    view_az, view_inc = VIEW[plan.tile.name]
    d_az, d_inc = VIEW_BAND[layer]
    return {
        "type": "image/jp2",
        "title": f"{band.description} - {res}m",
        "roles": ["data", "reflectance"]
        + ([f"sampling:{sampling_role}", f"gsd:{res}m"] if sampling_role else []),
        "bands": [band.stac()],
        "data_type": "uint16",
        "nodata": 0,
        "raster:scale": DN_SCALE,
        "raster:offset": DN_OFFSET,
        "gsd": res,
        **_proj(plan, res),
        "view:azimuth": round(view_az + d_az, 6),
        "view:incidence_angle": round(view_inc + d_inc, 6),
        **file_fields(plan, facts, sha3_checksum(facts)),
    }


def _aux_asset(plan: ScenePlan, layer: str, res: int, facts: FileFacts, counts: tuple) -> dict:
    files = file_fields(plan, facts, sha3_checksum(facts))
    if layer == "TCI":
        return {
            "type": "image/jp2",
            "title": "True color image",
            "roles": ["visual", f"sampling:{sampling(layer, res)}", f"gsd:{res}m"],
            "bands": [BANDS[b].stac() for b in TCI_BANDS],
            "data_type": "uint8",
            "nodata": 0,
            "gsd": res,
            **_proj(plan, res),
            **files,
        }
    if layer == "SCL":
        pct = scl.percentages(counts) if res == 20 else None
        classes = []
        for value, name, _ in scl.CLASSES:
            entry: dict[str, object] = {"value": value, "name": name}
            if value == scl.NODATA:
                entry["nodata"] = True
            if pct is not None:
                entry["percentage"] = pct[value]
            classes.append(entry)
        return {
            "type": "image/jp2",
            "title": f"Scene classification map (SCL) - {res}m",
            "roles": ["data", f"sampling:{sampling(layer, res)}", f"gsd:{res}m"],
            "data_type": "uint8",
            "nodata": 0,
            "gsd": res,
            **_proj(plan, res),
            "classification:classes": classes,
            **files,
        }
    title = "Aerosol optical thickness (AOT)" if layer == "AOT" else "Water vapour (WVP)"
    return {
        "type": "image/jp2",
        "title": f"{title} - {res}m",
        "roles": ["data", f"gsd:{res}m"],
        "data_type": "uint16",
        "nodata": 0,
        "raster:scale": DN_SCALE,
        "raster:offset": DN_OFFSET,
        "gsd": res,
        **_proj(plan, res),
        **files,
    }


def product_asset(plan: Product) -> dict:
    return {
        "type": "application/zip",
        "title": "Zipped product",
        "roles": ["data", "metadata", "archive"],
        "file:local_path": f"{plan.product_name}.zip",
        "href": f"{DOWNLOAD}/Products({product_uuid(plan.item_id)})/$value",
        "auth:refs": ["oidc"],
    }


def scene_metadata_assets(plan: ScenePlan, result: ItemResult) -> dict[str, dict]:
    """The metadata and quicklook assets of a Sentinel-2 L2A or L1C item, in CDSE's order."""
    f = result.files
    assets: dict[str, dict] = {
        "safe_manifest": metadata_asset(plan, f["safe_manifest"], "manifest.safe"),
        "product_metadata": metadata_asset(
            plan, f["product_metadata"], f"MTD_MSIL{safe_metadata.level(plan)}.xml"
        ),
        "granule_metadata": metadata_asset(plan, f["granule_metadata"], "MTD_TL.xml"),
        "inspire_metadata": metadata_asset(plan, f["inspire_metadata"], "INSPIRE.xml"),
        "datastrip_metadata": metadata_asset(plan, f["datastrip_metadata"], "MTD_DS.xml"),
    }
    assets["thumbnail"] = {
        "type": "image/jpeg",
        "title": "Quicklook",
        "roles": ["thumbnail", "overview"],
        "data_type": "uint8",
        "proj:code": None,
        "proj:shape": list(result.shapes["thumbnail"]),
        **quicklook_fields(plan, f["thumbnail"]),
    }
    return assets


def _l2a_assets(plan: ScenePlan, result: ItemResult) -> dict:
    f = result.files
    assets = scene_metadata_assets(plan, result)
    for layer in BANDS:
        for res in RESOLUTIONS:
            if layer in layers(res):
                key = f"{layer}_{res}m"
                assets[key] = band_asset(plan, layer, res, f[key], sampling(layer, res))
    for layer in ("TCI", "AOT", "SCL", "WVP"):
        for res in RESOLUTIONS:
            if layer in layers(res):
                key = f"{layer}_{res}m"
                assets[key] = _aux_asset(plan, layer, res, f[key], result.scl_counts)
    assets["Product"] = product_asset(plan)
    return assets


def l2a_item(plan: ScenePlan, result: ItemResult) -> dict:
    """The STAC item of an L2A scene, field for field like CDSE's ``sentinel-2-l2a`` items."""
    pct = scl.percentages(result.scl_counts)
    statistics = {key: pct[value] for value, _, key in scl.CLASSES if key is not None}
    properties = scene_properties(
        plan,
        result,
        level="2A",
        cloud_cover=scl.cloud_cover(result.scl_counts),
        snow_cover=pct[scl.SNOW],
        statistics=statistics,
    )
    return feature(plan, result, properties, _l2a_assets(plan, result), L2A_EXTENSIONS)


def scene_properties(
    plan: ScenePlan,
    result: ItemResult,
    *,
    level: str,
    cloud_cover: float,
    snow_cover: float | None = None,
    statistics: dict[str, float] | None = None,
) -> dict:
    """The properties of a Sentinel-2 L2A (``level`` "2A") or L1C ("1C") item, in CDSE's
    order; ``snow_cover`` and ``statistics`` only where the product has them."""
    acq = plan.acquisition
    assert acq is not None
    created = acq.processed + timedelta(minutes=40)
    published = created + timedelta(minutes=10)
    updated = published + timedelta(minutes=5)
    view_az, view_inc = VIEW[plan.tile.name]
    properties: dict[str, object] = {
        **lifecycle(created, published, updated),
        "datetime": timestamp(acq.sensing),
        "start_datetime": timestamp(acq.sensing),
        "end_datetime": timestamp(acq.sensing),
        "platform": acq.platform_name,
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "gsd": 10,
        "processing:level": f"L{level[0]}",
        "processing:datetime": timestamp(acq.processed),
        "product:type": f"S2MSI{level}",
        "product:timeliness": "PT24H",
        "product:timeliness_category": "NRT",
        "eo:cloud_cover": cloud_cover,
    }
    if snow_cover is not None:
        properties["eo:snow_cover"] = snow_cover
    properties |= {
        "sat:orbit_state": "descending",
        "sat:relative_orbit": acq.relative_orbit,
        "sat:absolute_orbit": acq.absolute_orbit,
        "sat:platform_international_designator": INTERNATIONAL_DESIGNATORS[acq.platform],
        "grid:code": f"MGRS-{plan.tile.name}",
        "view:sun_azimuth": round(result.sun[0], 6),
        "view:sun_elevation": round(result.sun[1], 6),
        "eopf:datastrip_id": safe_metadata.datastrip_id(plan),
        "eopf:datatake_id": safe_metadata.datatake_id(plan),
        "eopf:instrument_mode": "INS-NOBS",
    }
    if statistics is not None:
        properties["statistics"] = statistics
    return properties | {
        "processing:version": PROCESSING_BASELINE,
        "view:azimuth": view_az,
        "view:incidence_angle": view_inc,
        "processing:software": SOFTWARE,
        "processing:facility": "ESA",
        "expires": EXPIRES,
    }


def _mosaic_asset(plan: ScenePlan, key: str, facts: FileFacts) -> dict:
    cog = "image/tiff; application=geotiff; profile=cloud-optimized"
    if key == "observations":
        head: dict[str, object] = {
            "type": cog,
            "title": "Observations",
            "roles": ["data"],
            "data_type": "uint16",
            "nodata": 0,
            "gsd": 10,
            **_proj(plan, 10, with_code=False, transform=False),
            "description": "Number of valid observations for each pixel",
        }
    else:
        band = BANDS[key]
        head = {
            "type": cog,
            "title": band.description,
            "roles": ["data"],
            "bands": [band.stac()],
            "data_type": "int16",
            "nodata": -32768,
            "gsd": 10,
            **_proj(plan, 10, with_code=False, transform=False),
        }
    return {**head, **file_fields(plan, facts, None)}


def mosaic_item(plan: ScenePlan, result: ItemResult) -> dict:
    """The STAC item of a quarterly mosaic, like CDSE's ``sentinel-2-global-mosaics`` items."""
    created = MOSAIC_END + timedelta(days=16, hours=17, minutes=9, seconds=33)
    published = created + timedelta(days=1)
    f = result.files
    assets: dict[str, dict] = {
        "userdata": {
            "type": "application/xml",
            "title": "Product Odata Response File (JSON)",
            "roles": ["metadata"],
            **file_fields(plan, f["userdata"], None),
        }
    }
    for key in (*MOSAIC_BANDS, "observations"):
        assets[key] = _mosaic_asset(plan, key, f[key])
    assets["Product"] = product_asset(plan)
    properties = {
        "created": timestamp(created),
        "updated": timestamp(published),
        "published": timestamp(published),
        "eopf:origin_datetime": timestamp(created),
        "auth:schemes": AUTH_SCHEMES,
        "storage:schemes": STORAGE_SCHEMES,
        "datetime": plan.datetime.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "start_datetime": plan.datetime.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end_datetime": MOSAIC_END.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "processing:level": "L3",
        "processing:facility": "Copernicus Data Space Ecosystem",
        "product:type": "S2MSI_L3__MCQ",
        "product:timeliness": "P3M",
        "gsd": 10,
        "grid:code": f"MGRS-{plan.tile.name}",
        "proj:code": plan.tile.crs,
        "processing:software": SOFTWARE,
        "expires": EXPIRES,
    }
    return feature(plan, result, properties, assets, MOSAIC_EXTENSIONS)
