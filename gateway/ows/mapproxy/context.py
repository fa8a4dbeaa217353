"""The current request's parameters, for MapProxy sources that are not handed them.

MapProxy passes a source only bbox/size/srs (and declared dimensions); the WSGI wrapper
``with_request_params`` stores the request's own parameters for the duration of the call in
a thread-local, and the sources read TIME, MAXCC, PRIORITY, EXPRESSION and STYLES from it.
Each request has its own value (MapProxy renders a request's layers in the request thread).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gateway.ows.wms_params import upper_params

_local = threading.local()
# MapProxy refuses every STYLES but the default one; the door checks STYLES itself and hands
# the request's value on under this name (MapProxy ignores it), restored here for the sources.
STYLES_KEY = "GATEWAY_STYLES"


def current_params() -> Mapping[str, str]:
    """Upper-case parameters of the request this thread is answering (empty outside one)."""
    return getattr(_local, "params", {})


def with_request_params(app: Callable[..., Iterable[bytes]]) -> Callable[..., list[bytes]]:
    """Wrap a WSGI app so that ``current_params()`` holds each request's query parameters."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        params = upper_params(environ.get("QUERY_STRING", ""))
        if STYLES_KEY in params:
            params["STYLES"] = params.pop(STYLES_KEY)
        _local.params = params
        try:
            result = app(environ, start_response)
            try:
                return list(result)  # MapProxy renders while building the body: keep it inside
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        finally:
            _local.params = {}

    return wrapped
