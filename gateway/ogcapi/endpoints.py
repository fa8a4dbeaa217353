"""pygeoapi's request handlers as the door's Starlette endpoints, behind the checks pygeoapi
lacks (a malformed ``bbox`` or CRS, a body that is not a JSON object).

pygeoapi passes providers and its job manager a fixed set of arguments. The door answers the
coverage, map, tile and job paths itself: it runs pygeoapi's own handler in a thread inside the
request's context (``gateway.context``: its query parameters and caller), so providers read the
parameters pygeoapi does not hand them (scaling, ``datetime`` of tiles...) and the job manager
the caller.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping
from http import HTTPStatus
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from gateway.context import answering
from gateway.ogcapi._compat import body_problem, to_response
from gateway.ogcapi.crs import pygeoapi_crs

CRS_PARAMS = ("crs", "bbox-crs")
FARTHEST = 1e9  # no CRS of the Earth has coordinates beyond (1.3e8 in feet)


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
    return to_response(starlette_app, headers, status, content)


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
            malformed = body_problem(await request.body())
        if malformed:  # pygeoapi answers these malformed inputs with a 500
            bad = HTTPStatus.BAD_REQUEST
            return await problem(starlette_app, request, bad, "InvalidParameterValue", malformed)
        api_request = await APIRequest.from_starlette(request, api.locales)
        ids = list(request.path_params.values())
        function = (by_method or {}).get(request.method, handler)
        with answering(request.query_params):  # the caller: the access middleware's
            headers, status, content = await asyncio.to_thread(function, api, api_request, *ids)
        headers.setdefault("Content-Type", "application/json")  # pygeoapi omits it on DELETE
        return to_response(starlette_app, headers, status, content)

    return endpoint
