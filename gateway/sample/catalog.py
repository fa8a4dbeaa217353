"""The static STAC catalog: catalog.json, one collection.json per collection, items as files
and as ``items.ndjson`` (one item per line, ready for ``pypgstac load items``)."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.core.catalog.models import collection_extent, collection_links
from gateway.sample.cdse import (
    AUTH_SCHEMES,
    L1C_EXTENSIONS,
    L2A_EXTENSIONS,
    MOSAIC_EXTENSIONS,
    S1_EXTENSIONS,
    STAC_VERSION,
    STORAGE_SCHEMES,
)
from gateway.sample.dem import GLO30_COLLECTION, GLO90_COLLECTION
from gateway.sample.dem_stac import DEM_EXTENSIONS
from gateway.sample.layout import L1C_COLLECTION, L2A_COLLECTION, MOSAIC_COLLECTION
from gateway.sample.s1_layout import S1_COLLECTION
from gateway.sample.s1mosaic import S1_MOSAIC_COLLECTION
from gateway.sample.s1mosaic_stac import S1_MOSAIC_EXTENSIONS

CATALOG_ID = "cdse-gateway-sample"

_DESCRIPTIONS = {
    L2A_COLLECTION: (
        "Sentinel-2 Level-2A",
        "Sample Sentinel-2 Level-2A products (bottom-of-atmosphere reflectance, scene "
        "classification) laid out exactly like the Copernicus Data Space Ecosystem archive: "
        "JPEG 2000 bands in .SAFE folders, processing baseline 05.11 with the -0.1 offset. "
        "Synthetic pixels over real MGRS tiles 31UFU and 32ULD.",
        ["Copernicus", "Sentinel", "Sentinel-2", "L2A", "Reflectance", "Sample"],
    ),
    L1C_COLLECTION: (
        "Sentinel-2 Level-1C",
        "Sample Sentinel-2 Level-1C products (top-of-atmosphere reflectance, the MSK_CLASSI "
        "cloud mask) laid out like the Copernicus Data Space Ecosystem archive: one JPEG 2000 "
        "file per band at its native resolution in .SAFE folders, processing baseline 05.11 with "
        "the -0.1 offset. The same datatakes and synthetic ground as the L2A sample, seen "
        "through the atmosphere.",
        ["Copernicus", "Sentinel", "Sentinel-2", "L1C", "Reflectance", "Sample"],
    ),
    MOSAIC_COLLECTION: (
        "Sentinel-2 Global Mosaics",
        "Sample quarterly cloud-free Sentinel-2 mosaics (B02, B03, B04, B08 and the number of "
        "valid observations) as Cloud Optimized GeoTIFFs, laid out like the Copernicus Data "
        "Space Ecosystem archive. Synthetic pixels over real MGRS tiles 31UFU and 32ULD.",
        ["Copernicus", "Sentinel", "Sentinel-2", "Mosaic", "Cloud-free", "Sample"],
    ),
    S1_COLLECTION: (
        "Sentinel-1 Level-1 Ground Range Detected (GRD)",
        "Sample Sentinel-1 IW GRDH products (VV and VH amplitude) laid out like the Copernicus "
        "Data Space Ecosystem archive: COG measurements georeferenced by GCPs in .SAFE folders "
        "with their annotation, calibration and noise XMLs. Synthetic pixels over the area of "
        "MGRS tiles 31UFU and 32ULD, ascending and descending passes.",
        ["Copernicus", "Sentinel", "Sentinel-1", "SAR", "GRD", "Sample"],
    ),
    S1_MOSAIC_COLLECTION: (
        "Sentinel-1 Global Mosaics",
        "Sample monthly Sentinel-1 IW mosaics (VV and VH terrain-flattened gamma0 backscatter, "
        "linear power, float32, 20 m) as Cloud Optimized GeoTIFFs, laid out like the Copernicus "
        "Data Space Ecosystem archive. Synthetic backscatter over real MGRS tiles 31UFU and "
        "32ULD.",
        ["Copernicus", "Sentinel", "Sentinel-1", "SAR", "Mosaic", "Sample"],
    ),
    GLO30_COLLECTION: (
        "Copernicus DEM GLO-30 (DGED, COG)",
        "Sample Copernicus DEM GLO-30 DGED tiles (1 arc second, float32 surface heights in "
        "metres, 1° x 1° Cloud Optimized GeoTIFFs in EPSG:4326) laid out like the Copernicus "
        "Data Space Ecosystem archive. Synthetic rolling hills over the sample area.",
        ["Copernicus", "DEM", "DSM", "Elevation", "GLO-30", "Sample"],
    ),
    GLO90_COLLECTION: (
        "Copernicus DEM GLO-90 (DGED, COG)",
        "Sample Copernicus DEM GLO-90 DGED tiles (3 arc seconds, float32 surface heights in "
        "metres, 1° x 1° Cloud Optimized GeoTIFFs in EPSG:4326) laid out like the Copernicus "
        "Data Space Ecosystem archive: the same synthetic relief as GLO-30.",
        ["Copernicus", "DEM", "DSM", "Elevation", "GLO-90", "Sample"],
    ),
}
_EXTENSIONS = {
    L2A_COLLECTION: L2A_EXTENSIONS,
    L1C_COLLECTION: L1C_EXTENSIONS,
    MOSAIC_COLLECTION: MOSAIC_EXTENSIONS,
    S1_COLLECTION: S1_EXTENSIONS,
    S1_MOSAIC_COLLECTION: S1_MOSAIC_EXTENSIONS,
    GLO30_COLLECTION: DEM_EXTENSIONS,
    GLO90_COLLECTION: DEM_EXTENSIONS,
}

# Per-item asset fields that describe one file, not the kind of asset.
_ITEM_ONLY = ("href", "alternate", "alternate:name", "proj:", "file:", "view:", "auth:", "storage:")


def _item_assets(item: dict) -> dict:
    """``item_assets`` of a collection: what every item's asset of that key looks like."""
    out = {}
    for key, asset in item["assets"].items():
        entry = {k: v for k, v in asset.items() if not k.startswith(_ITEM_ONLY)}
        if "classification:classes" in entry:
            entry["classification:classes"] = [
                {k: v for k, v in c.items() if k != "percentage"}
                for c in entry["classification:classes"]
            ]
        out[key] = entry
    return out


def _summaries(items: list[dict]) -> dict:
    def values(key: str) -> list:
        found = {json.dumps(i["properties"][key]) for i in items if key in i["properties"]}
        return sorted(json.loads(v) for v in found)

    gsds = sorted({a["gsd"] for i in items for a in i["assets"].values() if "gsd" in a})
    summaries: dict[str, object] = {"gsd": gsds} if gsds else {}
    for key in (
        "platform",
        "constellation",
        "instruments",
        "processing:level",
        "processing:version",
        "product:type",
        "grid:code",
        "sat:relative_orbit",
        "sat:orbit_state",
        "sar:instrument_mode",
    ):
        found = values(key)
        if found:
            summaries[key] = found[0] if key == "instruments" else found
    covers = [
        i["properties"]["eo:cloud_cover"] for i in items if "eo:cloud_cover" in i["properties"]
    ]
    if covers:
        summaries["eo:cloud_cover"] = {"minimum": min(covers), "maximum": max(covers)}
    return summaries


def collection(collection_id: str, items: list[dict]) -> dict:
    """A collection document with extents computed from its items."""
    title, description, keywords = _DESCRIPTIONS[collection_id]
    boxes = [i["bbox"] for i in items]
    starts = sorted(
        i["properties"].get("start_datetime", i["properties"]["datetime"]) for i in items
    )
    ends = sorted(i["properties"].get("end_datetime", i["properties"]["datetime"]) for i in items)
    links = collection_links(items)
    extensions = _EXTENSIONS[collection_id]
    return {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": list(extensions),
        "id": collection_id,
        "title": title,
        "description": description,
        "keywords": keywords,
        "license": "other",
        "providers": [
            {
                "name": "CDSE gateway sample generator",
                "roles": ["producer", "processor", "host"],
                "description": "Synthetic data shaped like the Copernicus Data Space Ecosystem",
            }
        ],
        "extent": collection_extent(boxes, starts[0], ends[-1]),
        "summaries": _summaries(items),
        "item_assets": _item_assets(items[0]),
        "auth:schemes": AUTH_SCHEMES,
        "storage:schemes": STORAGE_SCHEMES,
        "sci:citation": "Copernicus Sentinel data [Year] (synthetic sample)",
        "links": links,
    }


def write_catalog(stac_dir: Path, items_by_collection: dict[str, list[dict]]) -> None:
    """Write the whole static catalog under ``stac_dir``."""
    children = []
    for cid, items in items_by_collection.items():
        folder = stac_dir / "collections" / cid
        (folder / "items").mkdir(parents=True, exist_ok=True)
        for item in items:
            _dump(folder / "items" / f"{item['id']}.json", item)
        with open(folder / "items.ndjson", "w", encoding="utf-8") as fh:
            for item in items:
                fh.write(json.dumps(item, separators=(",", ":")) + "\n")
        coll = collection(cid, items)
        _dump(folder / "collection.json", coll)
        children.append(
            {
                "rel": "child",
                "href": f"./collections/{cid}/collection.json",
                "type": "application/json",
                "title": coll["title"],
            }
        )
    catalog = {
        "type": "Catalog",
        "stac_version": STAC_VERSION,
        "id": CATALOG_ID,
        "title": "CDSE gateway sample archive",
        "description": "Synthetic Sentinel-1 and Sentinel-2 data laid out like the Copernicus "
        "Data Space Ecosystem: an eodata tree and this static STAC catalog.",
        "links": [
            {"rel": "root", "href": "./catalog.json", "type": "application/json"},
            {"rel": "self", "href": "./catalog.json", "type": "application/json"},
            *children,
        ],
    }
    _dump(stac_dir / "catalog.json", catalog)


def _dump(path: Path, doc: dict) -> None:
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
