"""The OGC API door: generate pygeoapi's files, import its Starlette app, mount it at /ogcapi."""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route

from gateway import registry, yamlio
from gateway.doors import Door
from gateway.edge.caching import TileCaching
from gateway.forwarded import configured_root
from gateway.metrics import job_metrics
from gateway.ogcapi._compat import (
    advertise_features_classes,
    fix_error_answers,
    import_cql2_parser,
    load_app,
    private_cache_dir,
    validate_config,
)
from gateway.ogcapi.config import build_config
from gateway.ogcapi.cql import CONFORMANCE as CQL2_CLASSES
from gateway.ogcapi.endpoints import with_query
from gateway.ogcapi.execution import job_routes
from gateway.ogcapi.front import CORS, UnderPrefix
from gateway.ogcapi.items import items_endpoint
from gateway.ogcapi.links import FollowRequest
from gateway.ogcapi.outputs import output_dir, output_endpoint
from gateway.ogcapi.visible import visible_collections, visible_landing_page, visible_openapi
from gateway.processes.cluster import close_clients
from gateway.runtime import Runtime

PREFIX = "/ogcapi"
FOLDER_PREFIX = "cdse-gateway-ogcapi-"
NOT_IMPLEMENTED = {
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
}


def public_base_url(runtime: Runtime) -> str:
    """``server.url`` of pygeoapi: the gateway's public URL (or ``forwarded.STAND_IN``, replaced
    in each answer by its request's address) plus the mount prefix."""
    return configured_root(runtime.settings) + PREFIX


def write_files(runtime: Runtime, folder: Path, runtime_key: str) -> tuple[Path, Path]:
    """Write the generated configuration and OpenAPI document; return their paths."""
    from pygeoapi.openapi import get_oas

    jobs = folder / "jobs"
    jobs.mkdir(parents=True, exist_ok=True)
    config = build_config(
        runtime, base_url=public_base_url(runtime), output_dir=str(jobs), runtime_key=runtime_key
    )
    validate_config(config)
    config_path = folder / "pygeoapi-config.yml"
    config_path.write_text(yamlio.dump(config, sort_keys=False), encoding="utf-8")
    openapi_path = folder / "pygeoapi-openapi.json"
    openapi_path.write_text(json.dumps(get_oas(config)), encoding="utf-8")
    return config_path, openapi_path


def build_providers(module: ModuleType) -> None:
    """Build every provider of the configuration now (each class builds once per app:
    ``gateway.registry.BuiltOnce``), so no request builds one."""
    from pygeoapi.plugin import load_plugin

    for resource in module.CONFIG["resources"].values():
        for definition in resource.get("providers", []):
            load_plugin("provider", definition)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def runtime_folder() -> Path:
    """A fresh folder for the generated files, named after this process; folders of processes
    that are gone (killed before they could clean up) are removed."""
    root = Path(tempfile.gettempdir())
    for stale in root.glob(f"{FOLDER_PREFIX}*"):
        pid = stale.name[len(FOLDER_PREFIX) :].partition("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def build_door(runtime: Runtime) -> Door:
    """Generate pygeoapi's configuration from the runtime, build its providers, and mount its
    app at /ogcapi."""
    import_cql2_parser(private_cache_dir())  # before pygeoapi's item handlers import it
    runtime_key = registry.register(runtime)
    folder = runtime_folder()
    config_path, openapi_path = write_files(runtime, folder, runtime_key)
    module = load_app(config_path, openapi_path)
    build_providers(module)
    advertise_features_classes(CQL2_CLASSES, NOT_IMPLEMENTED)
    fix_error_answers(module.api_)

    from pygeoapi.api import coverages, maps, tiles

    caching = TileCaching(runtime.settings.tile_max_age_s)
    collection = PREFIX + "/collections/{collection_id}"
    tile = collection + "/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}"
    items = items_endpoint(module)
    config = runtime.config
    listing = visible_collections(config, PREFIX)
    landing = visible_landing_page(config, PREFIX)
    described = visible_openapi(config, PREFIX, module.api_)
    routes: list[BaseRoute] = [
        Route(collection + "/items", items, methods=["GET", "POST", "OPTIONS"]),
        Route(
            collection + "/items/{item_id:path}", items, methods=["GET", "PUT", "DELETE", "OPTIONS"]
        ),
        Route(collection + "/coverage", with_query(module, coverages.get_collection_coverage)),
        Route(collection + "/map", with_query(module, maps.get_collection_map)),
        Route(tile, caching.answered(with_query(module, tiles.get_collection_tiles_data))),
        Route(PREFIX + "/collections", with_query(module, listing)),
        Route(PREFIX, with_query(module, landing)),
        Route(PREFIX + "/", with_query(module, landing)),
        Route(PREFIX + "/openapi", with_query(module, described)),
        *job_routes(module, PREFIX),
        Route(PREFIX + "/outputs/{name}", output_endpoint(output_dir(runtime))),
        Mount(PREFIX, app=module.APP),
    ]

    manager: Any = getattr(module.api_, "manager", None)
    if manager is not None and hasattr(manager, "start_cleanup"):
        manager.start_cleanup()
    gauges = None
    if manager is not None and hasattr(manager, "job_states"):
        gauges = functools.partial(job_metrics, manager.job_states)
        runtime.gauges.append(gauges)  # /metrics reads the jobs by state when scraped

    def close() -> None:
        if gauges is not None:
            runtime.gauges.remove(gauges)
        if manager is not None and hasattr(manager, "close"):
            manager.close()
        registry.unregister(runtime_key)
        shutil.rmtree(folder, ignore_errors=True)

    front = [CORS]
    if not runtime.settings.public_url:  # links follow each request's address
        front.append(
            Middleware(FollowRequest, root=configured_root(runtime.settings), prefix=PREFIX)
        )
    middleware = [Middleware(UnderPrefix, prefix=PREFIX, middleware=front)]
    # The process's Dask clients outlive a door built again (its jobs may run on them).
    return Door(routes=routes, middleware=middleware, close=close, stop=close_clients)
