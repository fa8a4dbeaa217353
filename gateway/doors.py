"""How a protocol door plugs into the app: its routes, and the OGC services it answers on /ows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.middleware import Middleware
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Scope

from gateway.errors import GatewayError
from gateway.runtime import Runtime


@dataclass
class Door:
    """What one door adds to the app.

    ``routes`` are mounted as they are. ``ows_services`` maps an upper-case OGC ``SERVICE``
    value (``WMS``, ``WCS``...) to the ASGI app that answers ``/ows?SERVICE=...`` requests;
    the request reaches it with its path set to ``ows_path``. ``middleware`` runs in front of
    the app's routing (fast paths that must not pay for it). ``reject`` renders an error the
    HTTP edge raises before the door runs (a body too large) in the door's dialect (None:
    OGC API problem details). ``close`` is called when the door is done with (the app stops,
    or the doors were built again: ``gateway.reload``), ``stop`` only when the app stops.
    """

    routes: list[BaseRoute] = field(default_factory=list)
    ows_services: dict[str, ASGIApp] = field(default_factory=dict)
    ows_path: dict[str, str] = field(default_factory=dict)
    middleware: list[Middleware] = field(default_factory=list)
    close: Callable[[], None] | None = None
    stop: Callable[[], None] | None = None
    reject: Callable[[GatewayError, Scope], Response] | None = None


DoorFactory = Callable[[Runtime], Door]
