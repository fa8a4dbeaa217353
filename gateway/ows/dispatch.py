"""``/ows``: one endpoint for every classic service, chosen by the ``SERVICE`` parameter."""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.doors import Door
from gateway.ows.exceptions import Dialect, Report, render_report
from gateway.ows.kvp import Kvp


class OwsDispatcher:
    """Forwards ``/ows?SERVICE=X`` to the app of service X; answers 400 when X is unknown."""

    def __init__(self, doors: list[Door]) -> None:
        self._services: dict[str, tuple[ASGIApp, str]] = {}
        for door in doors:
            for name, app in door.ows_services.items():
                self._services[name.upper()] = (app, door.ows_path.get(name, "/"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        service = requested_service(scope)
        target = self._services.get(service)
        if target is None:
            await _missing_service(service, sorted(self._services))(scope, receive, send)
            return
        app, path = target
        await app({**scope, "path": path, "raw_path": path.encode()}, receive, send)


def requested_service(scope: Scope) -> str:
    """The upper-case ``SERVICE`` of a request ('' when absent)."""
    return Kvp.of_scope(scope).get("SERVICE", "").strip().upper()


def _missing_service(service: str, known: list[str]) -> Response:
    code = "InvalidParameterValue" if service else "MissingParameterValue"
    report = Report(code, f"SERVICE must be one of {', '.join(known)}", "service", 400)
    return render_report(report, Dialect.OWS11, version="2.0.0")
