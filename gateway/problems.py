"""The OGC API exception dialect: problem details (RFC 7807, with pygeoapi's fields).

pygeoapi renders the answers of its own routes (``ogcapi``, ``processes``) from its error
classes: ``carried`` makes one of those from a GatewayError (status, code, safe message).
The edge renders the errors it raises itself before a door runs with ``problem_details``.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING

from starlette.responses import JSONResponse, Response

from gateway.errors import GatewayError

if TYPE_CHECKING:
    from pygeoapi.error import GenericError


def problem_details(error: GatewayError) -> Response:
    """An OGC API exception answered by the gateway itself."""
    return JSONResponse(
        {
            "type": error.code,
            "code": error.code,
            "title": HTTPStatus(error.status).phrase,
            "status": error.status,
            "description": error.message,
            "detail": error.message,
        },
        status_code=error.status,
        media_type="application/problem+json",
    )


def carried[E: GenericError](error: GatewayError, kind: type[E]) -> E:
    """A pygeoapi error of ``kind`` that pygeoapi answers as ``error``'s problem details."""
    wrapped = kind(error.message, user_msg=error.message)
    wrapped.http_status_code = HTTPStatus(error.status)
    wrapped.ogc_exception_code = error.code
    return wrapped
