"""Routes of the viewer: the page at ``/``, its favicon, what it needs to know about the layers
(``/viewer/layers.json``) and its static files under ``/viewer/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.access.visible import may_use, may_use_door
from gateway.config import GatewayConfig

STATIC = Path(__file__).parent / "static"
# Drawn under the chosen layer where that layer has no data, when the configuration has it.
BACKDROP_LAYER = "MOSAIC_TRUE_COLOR"


async def index(request: Request) -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")


async def favicon(request: Request) -> FileResponse:
    return FileResponse(STATIC / "favicon.ico", media_type="image/x-icon")


def layer_catalog(config: GatewayConfig) -> dict[str, Any]:
    """Per layer the caller may use (``gateway.access``), the catalog collection its dates
    come from and whether that collection has a cloud mask (so the viewer can mark cloudy
    dates); the backdrop layer's name (None: none, or not the caller's). None without the
    WMTS door: the viewer draws its layers from it."""
    if not may_use_door("wmts"):
        return {"layers": {}, "backdrop": None}
    layers = {}
    for layer in config.layers:
        if not may_use(config, layer.name):
            continue
        collection = config.collection(layer.collection)
        layers[layer.name] = {
            "collection": layer.collection,
            "cloudMask": bool(collection and collection.cloud_mask),
        }
    backdrop = config.layer(BACKDROP_LAYER) and may_use(config, BACKDROP_LAYER)
    return {"layers": layers, "backdrop": BACKDROP_LAYER if backdrop else None}


async def layers(request: Request) -> JSONResponse:
    return JSONResponse(layer_catalog(request.app.state.runtime.config))


def viewer_routes() -> list[BaseRoute]:
    return [
        Route("/", index),
        Route("/favicon.ico", favicon),
        Route("/viewer/layers.json", layers),
        Mount("/viewer", app=StaticFiles(directory=STATIC), name="viewer"),
    ]
