"""Files the export process writes, served back under /ogcapi/outputs/<name>."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from gateway.processes.storage import output_folder, s3_location
from gateway.runtime import Runtime

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


def output_dir(runtime: Runtime) -> Path:
    """Where local exports go: ``settings.output_dir`` or ``<data_dir>/outputs``.

    An ``output_s3_url`` is checked here, when the app is built (exports then go to S3).
    """
    if runtime.settings.output_s3_url:
        s3_location(runtime.settings.output_s3_url)
    return output_folder(runtime.settings)


def output_endpoint(folder: Path) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        name = request.path_params["name"]
        path = folder / name
        if not SAFE_NAME.match(name) or not path.is_file():
            return JSONResponse(
                {"type": "NotFound", "code": "NotFound", "description": "no such output"},
                status_code=404,
                media_type="application/problem+json",
            )
        return FileResponse(path, media_type="image/tiff; application=geotiff")

    return endpoint
