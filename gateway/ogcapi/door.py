"""The OGC API door: generate pygeoapi's files, import its Starlette app, mount it at /ogcapi."""

from __future__ import annotations

import atexit
import importlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import yaml
from starlette.routing import BaseRoute, Mount, Route

from gateway.doors import Door
from gateway.ogcapi.config import build_config
from gateway.ogcapi.context import with_query
from gateway.ogcapi.outputs import output_dir, output_endpoint
from gateway.ogcapi.registry import set_runtime
from gateway.runtime import Runtime

PREFIX = "/ogcapi"
FOLDER_PREFIX = "cdse-gateway-ogcapi-"


def public_base_url(runtime: Runtime) -> str:
    """``server.url`` of pygeoapi: the gateway's public URL plus the mount prefix."""
    base = runtime.settings.public_url or "http://127.0.0.1:8000"
    return base.rstrip("/") + PREFIX


def write_files(runtime: Runtime, folder: Path) -> tuple[Path, Path]:
    """Write the generated configuration and OpenAPI document; return their paths."""
    from pygeoapi.config import validate_config
    from pygeoapi.openapi import get_oas

    jobs = folder / "jobs"
    jobs.mkdir(parents=True, exist_ok=True)
    config = build_config(runtime, base_url=public_base_url(runtime), output_dir=str(jobs))
    validate_config(config)
    config_path = folder / "pygeoapi-config.yml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    openapi_path = folder / "pygeoapi-openapi.json"
    openapi_path.write_text(json.dumps(get_oas(config)), encoding="utf-8")
    return config_path, openapi_path


def load_pygeoapi_app():
    """Import (or re-import, when the files changed) pygeoapi's Starlette module."""
    module = sys.modules.get("pygeoapi.starlette_app")
    module = (
        importlib.reload(module) if module else importlib.import_module("pygeoapi.starlette_app")
    )
    module.APP.debug = False  # pygeoapi builds it with debug=True: no tracebacks to clients
    return module


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
    """Generate pygeoapi's configuration from the runtime, and mount its app at /ogcapi."""
    set_runtime(runtime)
    folder = runtime_folder()
    config_path, openapi_path = write_files(runtime, folder)
    os.environ["PYGEOAPI_CONFIG"] = str(config_path)
    os.environ["PYGEOAPI_OPENAPI"] = str(openapi_path)
    module = load_pygeoapi_app()

    from pygeoapi.api import coverages, maps, processes, tiles

    collection = PREFIX + "/collections/{collection_id}"
    tile = collection + "/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}"
    routes: list[BaseRoute] = [
        Route(collection + "/coverage", with_query(coverages.get_collection_coverage)),
        Route(collection + "/map", with_query(maps.get_collection_map)),
        Route(tile, with_query(tiles.get_collection_tiles_data)),
        Route(
            PREFIX + "/processes/{process_id}/execution",
            with_query(processes.execute_process),
            methods=["POST"],
        ),
        Route(
            PREFIX + "/jobs/{job_id}",
            with_query(processes.get_jobs, {"DELETE": processes.delete_job}),
            methods=["GET", "DELETE"],
        ),
        Route(PREFIX + "/outputs/{name}", output_endpoint(output_dir(runtime))),
        Mount(PREFIX, app=module.APP),
    ]

    def close() -> None:
        manager = getattr(module.api_, "manager", None)
        if hasattr(manager, "close"):
            manager.close()
        set_runtime(None)
        shutil.rmtree(folder, ignore_errors=True)

    return Door(routes=routes, close=close)
