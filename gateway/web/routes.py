"""Routes of the viewer: the page at ``/`` and its static files under ``/viewer/``."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


async def index(request: Request) -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")


def viewer_routes() -> list[BaseRoute]:
    return [Route("/", index), Mount("/viewer", app=StaticFiles(directory=STATIC), name="viewer")]
