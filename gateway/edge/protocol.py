"""uvicorn's httptools HTTP protocol, writing header names in conventional capitalisation.

uvicorn's httptools protocol (the fast one, with uvloop) lower-cases every response header
name it writes, whatever the app gave, so no ASGI middleware can fix the spelling. This
protocol hands each request's response head through ``conventional_head`` on its way to the
socket. It also writes the ``Date`` header, of the second the head is written: uvicorn's own
(off in ``server.uvicorn_options``) is fixed when a request starts and refreshed once a
second, so a tile rendered during the request would seem modified after its answer's date.
``cdse-gateway serve`` runs uvicorn with it (``server.uvicorn_options``).
"""

from __future__ import annotations

import time
from email.utils import formatdate
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.edge.headers import conventional_head

_CONTINUE = b"HTTP/1.1 100 "


class _Clock:
    """``Date`` header values, formatted once a second."""

    second = 0
    value = b""

    @classmethod
    def date(cls) -> bytes:
        now = int(time.time())
        if now != cls.second:
            cls.second, cls.value = now, formatdate(now, usegmt=True).encode()
        return cls.value


def _dated(head: bytes) -> bytes:
    """``head`` with a ``date`` header of now after its status line (unless it has one)."""
    if b"\r\ndate:" in head:
        return head
    line = head.find(b"\r\n") + 2
    return head[:line] + b"date: " + _Clock.date() + b"\r\n" + head[line:]


class _HeadWriter:
    """A request's transport: its first write that is not ``100 Continue`` is the response
    head (uvicorn writes the head in one call, before any body)."""

    __slots__ = ("_head_written", "_transport")

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self._head_written = False

    def write(self, data: bytes) -> None:
        if not self._head_written and not data.startswith(_CONTINUE):
            self._head_written = True
            data = conventional_head(_dated(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class ConventionalHeadersProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` whose responses carry ``Content-Type``, ``ETag``, ``Date``..."""

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and not isinstance(cycle.transport, _HeadWriter):
            cycle.transport = _HeadWriter(cycle.transport)  # type: ignore[assignment]
