"""Errors the HTTP edge raises itself (a body too large), answered in the door's dialect.

The door of a request is the one whose routes match its path (``/ows``: the one serving its
``SERVICE``); it renders the error (``Door.reject``: an OGC exception report), or, for doors
without one (OGC API), the edge answers with problem details. The HTTP status is the
error's own whatever the dialect's usual one for its code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from starlette.responses import Response
from starlette.routing import Match
from starlette.types import Scope

from gateway.doors import Door
from gateway.errors import GatewayError
from gateway.problems import problem_details


class Rejections:
    """Finds the door of a request and renders an edge error in its dialect.

    ``service_of`` reads the ``SERVICE`` of an ``/ows`` request (the OWS doors' KVP reader:
    ``gateway.ows.dispatch.requested_service``)."""

    def __init__(self, doors: Sequence[Door], service_of: Callable[[Scope], str]) -> None:
        self._doors = list(doors)
        self._service_of = service_of

    def door_of(self, scope: Scope) -> Door | None:
        if scope["path"].rstrip("/").endswith("/ows"):
            service = self._service_of(scope)
            return next((d for d in self._doors if service in d.ows_services), None)
        for door in self._doors:
            for route in door.routes:
                if route.matches(scope)[0] is not Match.NONE:
                    return door
        return None

    def response(self, error: GatewayError, scope: Scope) -> Response:
        door = self.door_of(scope)
        if door is None or door.reject is None:
            return problem_details(error)
        response = door.reject(error, scope)
        response.status_code = error.status
        return response
