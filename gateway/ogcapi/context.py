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

from starlette.requests import Request
from starlette.responses import Response

from gateway.core.crs import parse_crs
from gateway.errors import InvalidParameterValue

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
    half = len(values) // 2
    if any(values[i] > values[i + half] for i in range(half)):
        return "bbox minimum exceeds its maximum"
    return None


def _check_crs(text: str | None) -> str | None:
    """Why a ``crs``/``bbox-crs`` value is not a CRS name the gateway reads, or None."""
    if text is None:
        return None
    try:
        parse_crs(text)
    except InvalidParameterValue:
        return "unknown CRS: give an OGC CRS URI or a CURIE such as [EPSG:3857]"
    return None


def _check_body(body: bytes) -> str | None:
    """Why a POSTed body is not a JSON object, or None (pygeoapi fails on ``null``)."""
    try:
        document = json.loads(body or b"{}")
    except ValueError:
        return "the request body must be JSON"
    return None if isinstance(document, dict) else "the request body must be a JSON object"


def _check_params(params: Mapping[str, str]) -> str | None:
    """The first problem with parameters pygeoapi itself would fail on, or None."""
    return (
        _check_bbox(params.get("bbox"))
        or _check_crs(params.get("crs"))
        or _check_crs(params.get("bbox-crs"))
    )


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
        api_request = await APIRequest.from_starlette(request, api.locales)
        # In a worker thread: a CRS name is looked up in PROJ's database (ms for an unknown one).
        problem = await asyncio.to_thread(_check_params, request.query_params)
        if not problem and request.method == "POST":
            problem = _check_body(await request.body())
        if problem:  # pygeoapi answers these malformed inputs with a 500
            headers = api_request.get_response_headers(**api.api_headers)
            headers, status, content = api.get_exception(
                HTTPStatus.BAD_REQUEST,
                headers,
                api_request.format,
                "InvalidParameterValue",
                problem,
            )
            return starlette_app._to_response(headers, status, content)
        ids = list(request.path_params.values())
        QUERY.set(dict(request.query_params))
        function = (by_method or {}).get(request.method, handler)
        headers, status, content = await asyncio.to_thread(function, api, api_request, *ids)
        headers.setdefault("Content-Type", "application/json")  # pygeoapi omits it on DELETE
        return starlette_app._to_response(headers, status, content)

    return endpoint
