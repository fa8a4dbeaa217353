"""Request parameters pygeoapi does not hand to providers (scaling, datetime of tiles...).

pygeoapi passes providers a fixed set of arguments. The door answers the coverage, map and
tile paths itself: it keeps the query string in a context variable and runs pygeoapi's own
handler in a thread that inherits it, so providers can read the extra parameters.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from http import HTTPStatus
from types import MappingProxyType, ModuleType
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from gateway.ogcapi.crs import pygeoapi_crs

CRS_PARAMS = ("crs", "bbox-crs")
FARTHEST = 1e9  # no CRS of the Earth has coordinates beyond (1.3e8 in feet)
QUERY: ContextVar[Mapping[str, str]] = ContextVar("ogcapi_query", default=MappingProxyType({}))


def query_param(name: str) -> str | None:
    """A query parameter of the request being answered, case-insensitively."""
    wanted = name.lower()
    return next((v for k, v in QUERY.get().items() if k.lower() == wanted), None)


def _check_bbox(text: str | None) -> str | None:
    """Why ``bbox`` is malformed, or None."""
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        return "bbox must be numbers"
    if len(values) not in (4, 6) or not all(math.isfinite(v) for v in values):
        return "bbox must be minx,miny,maxx,maxy"
    if any(abs(v) > FARTHEST for v in values):  # GDAL's transform_bounds never returns on 1e16
        return f"bbox values beyond ±{FARTHEST:g} are on no map of the Earth"
    half = len(values) // 2
    if any(values[i] > values[i + half] for i in range(half)):
        return "bbox minimum exceeds its maximum"
    return None


def _check_body(body: bytes) -> str | None:
    """Why a POSTed body is not a JSON object, or None (pygeoapi fails on ``null``)."""
    try:
        document = json.loads(body or b"{}")
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        return "the request body must be JSON"
    return None if isinstance(document, dict) else "the request body must be a JSON object"


def _with_pygeoapi_crs(request: Request) -> Request:
    """The request with its ``crs``/``bbox-crs`` parameters as pygeoapi reads them
    (``crs.pygeoapi_crs``; ValueError when one names no CRS)."""
    items = request.query_params.multi_items()
    fixed = [(k, pygeoapi_crs(v) if k in CRS_PARAMS else v) for k, v in items]
    if fixed == items:
        return request
    return Request({**request.scope, "query_string": urlencode(fixed).encode()}, request.receive)


async def problem(
    starlette_app: ModuleType, request: Request, status: HTTPStatus, code: str, description: str
) -> Response:
    """An OGC API problem details answer of the door's pygeoapi module (JSON, or HTML when
    the request asks for it)."""
    from pygeoapi.api import APIRequest

    api = starlette_app.api_
    api_request = await APIRequest.from_starlette(request, api.locales)
    headers = api_request.get_response_headers(**api.api_headers)
    headers, status, content = api.get_exception(
        status, headers, api_request.format, code, description
    )
    return starlette_app._to_response(headers, status, content)


def with_query(
    starlette_app: ModuleType,
    handler: Callable[..., Any],
    by_method: Mapping[str, Callable[..., Any]] | None = None,
) -> Callable[[Request], Any]:
    """Wrap a pygeoapi ``api`` function (api, request, *path ids) as a Starlette endpoint of
    the door's pygeoapi module; ``by_method`` picks another function for some HTTP methods."""

    async def endpoint(request: Request) -> Response:
        from pygeoapi.api import APIRequest

        api = starlette_app.api_
        try:  # in a worker thread: a CRS is looked up in PROJ's database (ms for a new one)
            request = await asyncio.to_thread(_with_pygeoapi_crs, request)
            malformed = _check_bbox(request.query_params.get("bbox"))
        except ValueError as error:
            malformed = str(error)
        if not malformed and request.method == "POST":
            malformed = _check_body(await request.body())
        if malformed:  # pygeoapi answers these malformed inputs with a 500
            bad = HTTPStatus.BAD_REQUEST
            return await problem(starlette_app, request, bad, "InvalidParameterValue", malformed)
        api_request = await APIRequest.from_starlette(request, api.locales)
        ids = list(request.path_params.values())
        QUERY.set(dict(request.query_params))
        function = (by_method or {}).get(request.method, handler)
        headers, status, content = await asyncio.to_thread(function, api, api_request, *ids)
        headers.setdefault("Content-Type", "application/json")  # pygeoapi omits it on DELETE
        return starlette_app._to_response(headers, status, content)

    return endpoint
