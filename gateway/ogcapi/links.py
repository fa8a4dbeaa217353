"""OGC API answers link to the address their request used.

pygeoapi writes every link (landing page, collections, items and their paging, the OpenAPI
document's ``servers``, job ``Location`` headers and results) from ``server.url``, fixed when
the app is built. With ``GATEWAY_PUBLIC_URL`` set that is the public URL, and answers go out as
they are. Without it the configuration holds ``forwarded.STAND_IN``, and ``FollowRequest`` (in
the door's front, ``front.py``) replaces it in every ``/ogcapi`` answer's headers and textual
body (JSON, HTML, XML, text) with the root URL of that answer's own request: its scheme, host
and root path, as ``gateway.forwarded`` left them. Pictures, GeoTIFFs and other binary answers
pass untouched. Each request carries its own URL, so clients using different addresses at once
each get theirs.
"""

from __future__ import annotations

import re
from functools import lru_cache

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_TEXTUAL = re.compile(rb"\s*(text/|application/([\w.-]+\+)?(json|xml)\b)", re.IGNORECASE)


def request_root(scope: Scope) -> str:
    """The root URL of the app as this request addressed it (no trailing slash)."""
    host = next((v for k, v in scope["headers"] if k == b"host"), b"")
    server = scope.get("server")  # a list from some servers (Starlette's TestClient)
    return _root(scope["scheme"], host, scope.get("root_path", ""), server and tuple(server))


@lru_cache(maxsize=256)
def _root(scheme: str, host: bytes, root_path: str, server: tuple[str, int] | None) -> str:
    """Starlette's reading of these (a malformed Host: the server's address), remembered."""
    scope = {"type": "http", "scheme": scheme, "server": server, "root_path": root_path,
             "path": root_path, "headers": [(b"host", host)] if host else []}  # fmt: skip
    return str(Request(scope).base_url).rstrip("/")


class FollowRequest:
    """ASGI middleware: links to ``root`` + ``prefix`` in answers point at the request's own
    root URL + ``prefix`` instead (HEAD answers are left alone: their length must not change)."""

    def __init__(self, app: ASGIApp, root: str, prefix: str) -> None:
        self.app = app
        self.prefix = prefix.encode()
        self.written = root.encode() + self.prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] != "HEAD":
            actual = request_root(scope).encode() + self.prefix
            if actual != self.written:
                send = _Replacing(send, self.written, actual)
        await self.app(scope, receive, send)


class _Replacing:
    """An ASGI ``send`` that replaces ``old`` with ``new`` in the headers and, when the
    answer is textual and not compressed, in the body (held until complete)."""

    def __init__(self, send: Send, old: bytes, new: bytes) -> None:
        self._send, self._old, self._new = send, old, new
        self._start: Message | None = None
        self._body = bytearray()

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v.replace(self._old, self._new)) for k, v in message["headers"]]
            message = {**message, "headers": headers}
            if _textual(headers):
                self._start = message
                return
        elif message["type"] == "http.response.body" and self._start is not None:
            self._body += message.get("body", b"")
            if message.get("more_body"):
                return
            body = bytes(self._body).replace(self._old, self._new)
            headers = [(k, v) for k, v in self._start["headers"] if k != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await self._send({**self._start, "headers": headers})
            message = {"type": "http.response.body", "body": body}
        await self._send(message)


def _textual(headers: list[tuple[bytes, bytes]]) -> bool:
    names = {k.lower(): v for k, v in headers}
    kind = names.get(b"content-type", b"")
    return b"content-encoding" not in names and _TEXTUAL.match(kind) is not None
