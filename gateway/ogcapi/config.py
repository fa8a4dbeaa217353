"""pygeoapi's configuration and OpenAPI document, generated from the gateway's own config."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.registry import KEY
from gateway.runtime import Runtime

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
PROCESSES = {
    "band-math": "gateway.processes.bandmath.BandMathProcessor",
    "statistics": "gateway.processes.statistics.StatisticsProcessor",
    "export": "gateway.processes.export.ExportProcessor",
}
MANAGER = "gateway.processes.manager.DaskRedisManager"


def collection_extent(runtime: Runtime, collection: str) -> dict[str, Any]:
    """Bounding box and time interval of a catalog collection, from the catalog summaries.

    pygeoapi reads this once and refuses a requested ``datetime`` outside it, so the interval
    starts on the first acquisition's day (a date means that day from midnight) and stays
    open at its end: acquisitions arrive while the server runs. Where the listing is
    partial the summary's extent is widened or open (never narrower than the catalog).
    """
    summary = runtime.summaries.get(collection)
    first = summary.first
    begin = first.replace(hour=0, minute=0, second=0, microsecond=0) if first else None
    return {
        "spatial": {"bbox": list(summary.extent), "crs": CRS84},
        # datetimes, not text: pygeoapi compares them with requested times
        "temporal": {"begin": begin, "end": None},
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None


def _coverage(data: str, extent: dict[str, Any]) -> dict[str, Any]:
    temporal = extent["temporal"]
    return {
        "type": "coverage",
        "name": "gateway.ogcapi.coverage.EngineCoverageProvider",
        "data": data,
        "options": {
            "bbox": extent["spatial"]["bbox"],
            "interval": [_iso(temporal["begin"]), _iso(temporal["end"])],
        },
        "format": {"name": "GTiff", "mimetype": "image/tiff"},
    }


def _resource(title: str, description: str, extent: dict[str, Any], providers: list) -> dict:
    return {
        "type": "collection",
        "title": title,
        "description": description or title,
        "keywords": ["Copernicus", "Sentinel-2"],
        "links": [],
        "extents": extent,
        "providers": providers,
    }


def _tagged(resources: dict[str, dict[str, Any]], runtime_key: str) -> dict[str, dict[str, Any]]:
    """Every provider, processor and the manager definition carry the runtime's key
    (``gateway.registry``)."""
    for resource in resources.values():
        for provider in resource.get("providers", []):
            provider[KEY] = runtime_key
        if "processor" in resource:
            resource["processor"][KEY] = runtime_key
    return resources


def collection_resources(runtime: Runtime) -> dict[str, dict[str, Any]]:
    """One collection per catalog collection (footprints + bands) and per layer (values,
    tiles, maps)."""
    config = runtime.config
    extents = {c.id: collection_extent(runtime, c.id) for c in config.collections}
    resources: dict[str, dict[str, Any]] = {}
    for collection in config.collections:
        extent = extents[collection.id]
        features = {
            "type": "feature",
            "name": "gateway.ogcapi.features.SceneFeatureProvider",
            "data": collection.id,
            "id_field": "id",
            "time_field": "datetime",
        }
        resources[collection.id] = _resource(
            collection.title,
            f"{collection.title}: scene footprints and bands",
            extent,
            [features, _coverage(collection.id, extent)],
        )
    for layer in config.layers:
        extent = extents[layer.collection]
        image = {"name": "png", "mimetype": "image/png"}
        tiles = {
            "type": "tile",
            "name": "gateway.ogcapi.tiles.EngineTileProvider",
            "data": layer.name,
            "options": {
                "zoom": {"min": 0, "max": 18},
                "schemes": ["WebMercatorQuad", "WorldCRS84Quad"],
            },
            "format": image,
        }
        maps = {
            "type": "map",
            "name": "gateway.ogcapi.maps.EngineMapProvider",
            "data": layer.name,
            "format": image,
        }
        coverage = [_coverage(layer.name, extent)] if layer.evalscript is None else []
        resources[layer.name] = _resource(
            layer.title, layer.abstract, extent, [*coverage, tiles, maps]
        )
    return resources


def process_resources() -> dict[str, dict[str, Any]]:
    return {
        name: {"type": "process", "processor": {"name": dotted}}
        for name, dotted in PROCESSES.items()
    }


def build_config(
    runtime: Runtime, *, base_url: str, output_dir: str, runtime_key: str
) -> dict[str, Any]:
    """The whole pygeoapi configuration; ``base_url`` is the public URL of ``/ogcapi``,
    ``runtime_key`` the door's runtime key in ``gateway.registry``."""
    redis_url = runtime.settings.redis_url
    return {
        "server": {
            "bind": {"host": "127.0.0.1", "port": 8000},
            "url": base_url,
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "gzip": False,
            "languages": ["en-US"],
            "cors": False,  # one CORS policy for every door: the HTTP edge's
            "pretty_print": False,
            "limits": {"default_items": 10, "max_items": 1000, "on_exceed": "throttle"},
            "map": {
                "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                "attribution": "OpenStreetMap contributors",
            },
            "manager": {
                "name": MANAGER,
                "connection": redis_url or "",  # empty: jobs in this process's memory
                "output_dir": output_dir,
                KEY: runtime_key,
            },
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {
                "title": "CDSE gateway OGC API",
                "description": "Copernicus Sentinel data as OGC API Features, Coverages, "
                "Tiles, Maps and Processes",
                "keywords": ["Copernicus", "Sentinel-2", "OGC API"],
                "keywords_type": "theme",
                "terms_of_service": "https://creativecommons.org/licenses/by/4.0/",
                "url": base_url,
            },
            "license": {"name": "CC-BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
            "provider": {"name": "cdse-gateway", "url": base_url},
            "contact": {
                "name": "cdse-gateway",
                "email": "gateway@example.org",
                "role": "pointOfContact",
            },
        },
        "resources": _tagged({**collection_resources(runtime), **process_resources()}, runtime_key),
    }
