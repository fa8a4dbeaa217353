"""The MapProxy configuration dict generated from the gateway's configuration and catalog."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from copy import deepcopy
from typing import Any

from gateway import registry
from gateway.config import LayerConfig
from gateway.core.catalog.summary import WORLD, CollectionSummary
from gateway.runtime import Runtime

WMS_VERSIONS = ["1.1.1", "1.3.0"]
UTM_ZONES = [f"EPSG:{326 * 100 + z}" for z in range(1, 61)] + [
    f"EPSG:{327 * 100 + z}" for z in range(1, 61)
]
WMS_SRS = ["EPSG:3857", "EPSG:4326", "CRS:84", "EPSG:3035", *UTM_ZONES]
WMS_FORMATS = ["image/png", "image/jpeg", "image/webp", "image/tiff"]
INFO_TYPES = ["text", "json", "xml"]

# WMTS tile matrix sets (MapProxy grids, named as OGC's well-known sets and as Sentinel Hub's),
# 256 and 512 px tiles: what the capabilities list. Tiles are served on
# gateway.core.tiles.grids.SETS, the same sets (tests/test_tile_service.py checks that they
# agree).
WEB_MERCATOR = 20037508.342789244
GRIDS: dict[str, dict[str, Any]] = {
    "WebMercatorQuad": {"base": "GLOBAL_WEBMERCATOR", "origin": "nw"},
    "GoogleMapsCompatible": {"base": "GLOBAL_WEBMERCATOR", "origin": "nw"},
    "WebMercatorQuad512": {"base": "GLOBAL_WEBMERCATOR", "origin": "nw", "tile_size": [512, 512]},
    # OGC's WorldCRS84Quad: 2x1 tiles at level 0 (MapProxy's GLOBAL_GEODETIC has 1x1).
    "WorldCRS84Quad": {
        "srs": "EPSG:4326",
        "bbox": [-180, -90, 180, 90],
        "origin": "nw",
        "min_res": 180 / 256,
        "num_levels": 19,
    },
    "WorldCRS84Quad512": {
        "srs": "EPSG:4326",
        "bbox": [-180, -90, 180, 90],
        "origin": "nw",
        "min_res": 180 / 512,
        "num_levels": 19,
        "tile_size": [512, 512],
    },
    # Sentinel Hub's: WebMercatorQuad, and its scales in 512 px tiles (level 0: one tile,
    # the world in its top-left quarter).
    "PopularWebMercator256": {"base": "GLOBAL_WEBMERCATOR", "origin": "nw"},
    "PopularWebMercator512": {
        "srs": "EPSG:3857",
        "bbox": [-WEB_MERCATOR, -WEB_MERCATOR, WEB_MERCATOR, WEB_MERCATOR],
        "origin": "nw",
        "min_res": 2 * WEB_MERCATOR / 256,
        "num_levels": 20,
        "tile_size": [512, 512],
    },
}
TILE_FORMAT = "image/png"
REST_TEMPLATE = "/1.0.0/{Layer}/{TileMatrixSet}/{Time}/{TileMatrix}/{TileCol}/{TileRow}.{Format}"
REST_INFO_TEMPLATE = (
    "/1.0.0/{Layer}/{TileMatrixSet}/{Time}/{TileMatrix}/{TileCol}/{TileRow}/{I}/{J}.{InfoFormat}"
)
# WMTS GetFeatureInfo formats: REST suffix -> media type (the door answers, MapProxy advertises).
WMTS_INFO_FORMATS = {"txt": "text/plain", "json": "application/json", "xml": "text/xml"}


def utm_zones(bbox: Sequence[float]) -> list[str]:
    """The UTM zone CRSs an area (lon/lat) touches, for capabilities BoundingBoxes."""
    first = max(1, min(60, int((bbox[0] + 180) // 6) + 1))
    last = max(1, min(60, int((bbox[2] + 180) // 6) + 1))
    hemispheres = ([326] if bbox[3] >= 0 else []) + ([327] if bbox[1] < 0 else [])
    return [f"EPSG:{h * 100 + z}" for h in hemispheres for z in range(first, last + 1)]


def mapproxy_config(
    runtime: Runtime,
    runtime_key: str,
    *,
    base_dir: str,
    title: str = "CDSE OGC gateway",
    summaries: dict[str, CollectionSummary] | None = None,
) -> dict[str, Any]:
    """One MapProxy layer, source and storage-less cache per configured layer.

    Tiles are cached by the engine (``runtime.cache``), not by MapProxy: MapProxy's caches
    key by z/x/y only, and the engine's key covers every parameter that changes pixels.
    """
    config = runtime.config
    if summaries is None:
        summaries = {c.id: runtime.summaries.get(c.id) for c in config.collections}
    everywhere = [s.extent for s in summaries.values() if s.dates]
    layers, sources, caches = [], {}, {}
    for layer in config.layers:
        summary = summaries[layer.collection]
        source_name, cache_name = f"{layer.name}_source", f"{layer.name}_tiles"
        sources[source_name] = _source(layer.name, runtime_key, summary)
        caches[cache_name] = _cache(source_name)
        layers.append(_layer(runtime, layer, summary, source_name, cache_name))
    return {
        "globals": {
            "cache": {"base_dir": base_dir, "lock_dir": f"{base_dir}/locks"},
            "image": {
                "formats": {
                    "image/webp": {"format": "image/webp", "mode": "RGBA", "transparent": True},
                    "image/tiff": {"format": "image/tiff", "mode": "RGBA", "transparent": True},
                }
            },
        },
        "services": {
            "wms": _wms_service(runtime, title, everywhere[0] if everywhere else WORLD),
            "wmts": _wmts_service(title),
        },
        "grids": deepcopy(GRIDS),
        "sources": sources,
        "caches": caches,
        "layers": [{"title": title, "layers": layers}],
    }


def _source(layer: str, runtime_key: str, summary: CollectionSummary) -> dict[str, Any]:
    """The layer's source: the engine, found through the registry, over the data's extent."""
    return {
        "type": "cdse",
        "layer": layer,
        registry.KEY: runtime_key,
        "coverage": {"bbox": list(summary.extent), "srs": "EPSG:4326"},
    }


def _cache(source_name: str) -> dict[str, Any]:
    """A cache without storage: it only gives the WMTS its grids (the engine caches)."""
    return {
        "grids": list(GRIDS),
        "sources": [source_name],
        "disable_storage": True,
        "format": TILE_FORMAT,
        "meta_size": [1, 1],
        "meta_buffer": 0,
    }


def _layer(
    runtime: Runtime,
    layer: LayerConfig,
    summary: CollectionSummary,
    source_name: str,
    cache_name: str,
) -> dict[str, Any]:
    """The layer as both services list it, with its TIME dimension when it has dates."""
    entry: dict[str, Any] = {
        "name": layer.name,
        "title": layer.title,
        "sources": [source_name],
        "tile_sources": [cache_name],
        "md": {"abstract": _abstract(layer.abstract or layer.title, summary.note)},
    }
    if summary.dates:
        # MapProxy reads a single value as an ISO range: repeat it to keep it a date list.
        values = list(summary.dates) * (2 if len(summary.dates) == 1 else 1)
        default = runtime.times.default_text(layer.collection)
        entry["dimensions"] = {"time": {"values": values, "default": default}}
    return entry


def _abstract(text: str, note: str | None) -> str:
    """A layer's abstract, and what its TIME values are when the listing is partial."""
    return f"{text.rstrip('.')}. {note}" if note else text


def _wms_service(
    runtime: Runtime, title: str, area: tuple[float, float, float, float]
) -> dict[str, Any]:
    """The WMS: versions, CRSs (the UTM zones of ``area`` among them), formats, size cap."""
    limits = runtime.config.limits
    return {
        "versions": WMS_VERSIONS,
        "srs": WMS_SRS,
        "bbox_srs": _unique(["EPSG:4326", "CRS:84", "EPSG:3857", "EPSG:3035", *utm_zones(area)]),
        "image_formats": WMS_FORMATS,
        "featureinfo_types": INFO_TYPES,
        # MapProxy's own cap (4000 x 4000 by default) never below the door's limits;
        # the capabilities say the limits (_compat.wms130_capabilities).
        "max_output_pixels": [limits.max_width, limits.max_height],
        "strict": True,
        "md": {"title": title, "abstract": "Copernicus Sentinel data through WMS"},
    }


def _wmts_service(title: str) -> dict[str, Any]:
    """The WMTS: REST and KVP, with GetFeatureInfo in every format the door writes."""
    return {
        "restful": True,
        "kvp": True,
        "restful_template": REST_TEMPLATE,
        "restful_featureinfo_template": REST_INFO_TEMPLATE,
        "featureinfo_formats": [
            {"suffix": suffix, "mimetype": media} for suffix, media in WMTS_INFO_FORMATS.items()
        ],
        "md": {"title": title, "abstract": "Copernicus Sentinel data through WMTS"},
    }


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
