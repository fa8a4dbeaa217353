"""Middleware for every ``/ogcapi`` answer, whichever route gives it (the door's own or
pygeoapi's mounted app), and only for those."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

# What pygeoapi's own ``server.cors`` setting gives its routes, for the door's routes too.
CORS = Middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"], expose_headers=["*"])


def route_path(scope: Scope) -> str:
    """The request's path below the app's root path."""
    path, root = scope["path"], scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


class UnderPrefix:
    """ASGI middleware: requests under ``prefix`` pass through ``middleware`` (outermost
    first) on their way to the app; every other request goes straight to it."""

    def __init__(self, app: ASGIApp, prefix: str, middleware: Sequence[Middleware]) -> None:
        self.app = app
        self.prefix = prefix
        wrapped = app
        for cls, args, kwargs in reversed(middleware):
            wrapped = cls(wrapped, *args, **kwargs)
        self.wrapped = wrapped

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = route_path(scope)
            if path == self.prefix or path.startswith(self.prefix + "/"):
                await self.wrapped(scope, receive, send)
                return
        await self.app(scope, receive, send)
