"""The base of the KVP service doors (WCS, WFS): what every request goes through first.

``REQUEST`` is looked up in the operation table of the version answered: for GetCapabilities
the one negotiated (``VERSION``, else the first of ``ACCEPTVERSIONS`` spoken, else the
newest), for every other operation the mandatory ``VERSION``. ``SERVICE``, when given, must
be the service's. Any error is rendered once, at the edge, in the exception dialect of the
version answered (the newest's until one is known).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import ClassVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Scope

from gateway.doors import Door
from gateway.errors import GatewayError, InvalidParameterValue
from gateway.ows.exceptions import OWS_CODES, Dialect, error_response
from gateway.ows.kvp import Kvp, Received, negotiate_version, parse_kvp

type Operation[E] = Callable[[Kvp, E], Response]


class OwsService[E]:
    """One OGC service answering KVP requests (synchronously: its door runs it in a thread).

    A subclass names ``SERVICE``, its ``VERSIONS`` (newest first), the exception dialect and
    code vocabulary of each (``DIALECTS``) and gives each version's operation table
    (``operations``). ``E`` is what every operation is told about where it answers.
    """

    SERVICE: ClassVar[str]
    VERSIONS: ClassVar[tuple[str, ...]]
    DIALECTS: ClassVar[Mapping[str, tuple[Dialect, Mapping[str, str]]]]
    # VERSION values of an operation request answered as another version (a corrigendum).
    ALIASES: ClassVar[Mapping[str, str]] = {}

    def __init__(self) -> None:
        self._tables = {
            version: {name.lower(): handler for name, handler in self.operations(version).items()}
            for version in self.VERSIONS
        }

    def operations(self, version: str) -> Mapping[str, Operation[E]]:
        """Operation name -> handler, for requests of ``version``."""
        raise NotImplementedError

    def read(self, received: Received) -> Kvp:
        """The KVP of a request (a door that also takes XML requests reads them here)."""
        return parse_kvp(received)

    def answer(self, received: Received, where: E) -> Response:
        """The answer to a request as received (parsed here, in the worker thread)."""
        try:
            kvp = self.read(received)
        except Exception as error:  # rendered once, here
            return self.error(error, self.VERSIONS[0])
        return self.handle(kvp, where)

    def handle(self, kvp: Kvp, where: E) -> Response:
        version = self.VERSIONS[0]
        try:
            operation = kvp.require("REQUEST")
            if operation.lower() == "getcapabilities":
                version = negotiate_version(kvp, self.VERSIONS, self.VERSIONS[0])
            else:
                version = self._operation_version(kvp)
            service = kvp.text("SERVICE")
            if service is not None and service.upper() != self.SERVICE:
                raise InvalidParameterValue(f"SERVICE must be {self.SERVICE}", locator="service")
            handler = self._tables[version].get(operation.lower())
            if handler is None:
                raise GatewayError(
                    f"unknown operation {operation[:40]!r}",
                    locator="request",
                    code="OperationNotSupported",
                )
            return handler(kvp, where)
        except Exception as error:  # rendered once, here
            return self.error(error, version)

    def _operation_version(self, kvp: Kvp) -> str:
        asked = kvp.require("VERSION")
        version = self.ALIASES.get(asked, asked)
        if version not in self.VERSIONS:
            raise InvalidParameterValue(
                f"unsupported version; use one of {', '.join(self.VERSIONS)}", locator="version"
            )
        return version

    def error(self, error: BaseException, version: str) -> Response:
        """Any error as the exception report of ``version``."""
        dialect, codes = self.DIALECTS.get(version, (Dialect.OWS11, OWS_CODES))
        return error_response(error, dialect, version=version, codes=codes)

    def reject(self, error: GatewayError, scope: Scope) -> Response:
        """An error of the HTTP edge, in the dialect of the request's VERSION if spoken (else
        the newest version's)."""
        asked = Kvp.of_scope(scope).text("VERSION") or ""
        version = self.ALIASES.get(asked, asked)
        return self.error(error, version if version in self.VERSIONS else self.VERSIONS[0])

    def door(self, path: str, where: Callable[[Request], E]) -> Door:
        """The door answering GET and POST on ``path`` and ``SERVICE=...`` on ``/ows``."""

        async def endpoint(request: Request) -> Response:
            received = await Received.read(request)
            return await run_in_threadpool(self.answer, received, where(request))

        route = Route(path, endpoint, methods=["GET", "POST"])
        return Door(
            routes=[route],
            ows_services={self.SERVICE: route},
            ows_path={self.SERVICE: path},
            reject=self.reject,
        )


def service_url(request: Request, path: str) -> str:
    """The URL of the door at ``path`` the request came through (``/ows`` or the door's own)."""
    root = request.scope.get("root_path", "").removesuffix("/ows")
    return f"{request.url.scheme}://{request.url.netloc}{root}{path}"
