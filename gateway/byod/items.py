"""The STAC item of an ingested raster: proj, raster and eo fields per band asset, and the
footprint of its valid pixels (not its bounding box). A document names the extensions whose
fields it uses, and only those (each extension's schema requires one of its fields)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.features import shapes
from rasterio.warp import transform_geom
from shapely.geometry import mapping, shape
from shapely.ops import unary_union

from gateway.core.catalog.models import STAC_VERSION
from gateway.errors import InvalidParameterValue

_EXT = "https://stac-extensions.github.io"
# Field prefix -> the schema of its extension, in the order documents name them.
EXTENSIONS = {
    "eo": f"{_EXT}/eo/v2.0.0/schema.json",
    "proj": f"{_EXT}/projection/v2.0.0/schema.json",
    "raster": f"{_EXT}/raster/v2.0.0/schema.json",
}
# The eo extension v2.0.0's common band names: a band named so gets its ``eo:common_name``.
EO_COMMON_NAMES = frozenset({
    "pan", "coastal", "blue", "green", "green05", "yellow", "red", "rededge", "rededge071",
    "rededge075", "rededge078", "nir", "nir08", "nir09", "cirrus", "swir16", "swir22", "lwir",
    "lwir11", "lwir12",
})  # fmt: skip
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
# The footprint is traced on the valid-data mask read at most this many pixels a side.
FOOTPRINT_PIXELS = 1024


def footprint(path: Path) -> dict:
    """The outline of ``path``'s valid pixels in lon/lat (GeoJSON), traced on a mask read at
    most ``FOOTPRINT_PIXELS`` a side and simplified to a pixel of that mask."""
    with rasterio.open(path) as src:
        factor = max(1, int(np.ceil(max(src.width, src.height) / FOOTPRINT_PIXELS)))
        height, width = max(1, src.height // factor), max(1, src.width // factor)
        mask = src.dataset_mask(out_shape=(height, width), resampling=Resampling.nearest)
        transform = src.transform @ src.transform.scale(src.width / width, src.height / height)
        parts = [shape(g) for g, v in shapes(mask, mask=mask > 0, transform=transform) if v]
        if not parts:
            raise InvalidParameterValue("no valid pixel: every pixel is nodata")
        outline = unary_union(parts).simplify(abs(transform.a), preserve_topology=True)
        return transform_geom(src.crs, "EPSG:4326", mapping(outline))


def statistics(src: rasterio.DatasetReader) -> dict[str, float]:
    """Lowest and highest valid value (stored x scale + offset) of a single-band file, read
    at most ``FOOTPRINT_PIXELS`` a side."""
    factor = max(1, int(np.ceil(max(src.width, src.height) / FOOTPRINT_PIXELS)))
    shape_ = (max(1, src.height // factor), max(1, src.width // factor))
    data = src.read(1, out_shape=shape_, masked=True, resampling=Resampling.nearest)
    values = data.compressed().astype("float64") * src.scales[0] + src.offsets[0]
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise InvalidParameterValue("no valid pixel: every pixel is nodata")
    return {"minimum": float(values.min()), "maximum": float(values.max())}


def band_asset(path: Path, href: str, name: str, unit: str | None) -> dict:
    """A single-band COG asset with its proj, raster and eo fields (STAC 1.1 ``bands``)."""
    with rasterio.open(path) as src:
        band: dict = {"name": name}
        if name.lower() in EO_COMMON_NAMES:
            band["eo:common_name"] = name.lower()
        if unit:
            band["unit"] = unit
        band["statistics"] = statistics(src)
        asset: dict = {
            "href": href,
            "type": COG_TYPE,
            "title": name,
            "roles": ["data"],
            "bands": [band],
            "data_type": src.dtypes[0],
            "proj:code": _proj_code(src.crs),
            "proj:shape": [src.height, src.width],
            "proj:transform": list(src.transform)[:6],
            "proj:bbox": list(src.bounds),
            "gsd": float(abs(src.transform.a)),
        }
        if src.crs.to_epsg() is None:
            asset["proj:wkt2"] = src.crs.to_wkt()
        if src.nodata is not None:
            asset["nodata"] = _number(src.nodata)
        if src.scales[0] != 1.0:
            asset["raster:scale"] = float(src.scales[0])
        if src.offsets[0] != 0.0:
            asset["raster:offset"] = float(src.offsets[0])
        return asset


def build_item(
    item_id: str,
    collection: str,
    when: datetime,
    bands: dict[str, Path],
    hrefs: dict[str, str],
    units: dict[str, str],
) -> dict:
    """The item of one ingested raster: a band asset each, geometry the valid footprint."""
    geometry = footprint(next(iter(bands.values())))
    outline = shape(geometry)
    assets = {
        name: band_asset(path, hrefs[name], name, units.get(name)) for name, path in bands.items()
    }
    item = {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": [],
        "id": item_id,
        "collection": collection,
        "geometry": geometry,
        "bbox": list(outline.bounds),
        "properties": {"datetime": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")},
        "links": [
            {"rel": "collection", "href": "../collection.json", "type": "application/json"},
            {"rel": "parent", "href": "../collection.json", "type": "application/json"},
            {"rel": "root", "href": "../../../catalog.json", "type": "application/json"},
        ],
        "assets": assets,
    }
    item["stac_extensions"] = extensions_used(item)
    return item


def extensions_used(document: dict) -> list[str]:
    """The schemas of the extensions whose fields ``document`` (an item or a collection) uses
    in its properties, assets, summaries or item assets, bands included."""
    prefixes: set[str] = set()

    def visit(value: object) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                prefix, colon, _ = key.partition(":")
                if colon:
                    prefixes.add(prefix)
                visit(inner)
        elif isinstance(value, list):
            for inner in value:
                visit(inner)

    visit([document.get(part) for part in ("properties", "assets", "summaries", "item_assets")])
    return [schema for prefix, schema in EXTENSIONS.items() if prefix in prefixes]


def _proj_code(crs: rasterio.crs.CRS) -> str | None:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg is not None else None


def _number(value: float) -> float | int | str:
    """A nodata value as STAC writes it (``nan``/``inf`` as strings)."""
    if np.isnan(value):
        return "nan"
    if np.isinf(value):
        return "inf" if value > 0 else "-inf"
    return int(value) if float(value).is_integer() else float(value)
