"""ASGI calls of the gateway's proxy-header and link middleware, without a server."""

from __future__ import annotations

import asyncio

from starlette.requests import Request

from gateway.forwarded import STAND_IN, ForwardedHeaders
from gateway.ogcapi.links import FollowRequest

PROXY = ("127.0.0.1", 40000)


def http_scope(headers: dict[str, str], client=PROXY, path="/ogcapi/collections") -> dict:
    """A GET to ``path`` on the server 10.0.0.5:8000 from ``client``."""
    return {
        "type": "http", "method": "GET", "scheme": "http", "http_version": "1.1",
        "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": client, "server": ("10.0.0.5", 8000),
    }  # fmt: skip


def seen(headers: dict[str, str], trusted: str = "127.0.0.1", client=PROXY) -> dict:
    """The scope the app sees behind ForwardedHeaders."""
    captured: dict = {}

    async def app(scope, receive, send) -> None:
        captured.update(scope)

    asyncio.run(ForwardedHeaders(app, trusted)(http_scope(headers, client), None, None))
    return captured


def url(scope: dict) -> str:
    """The request's URL as Starlette (and so every door) reads it."""
    return str(Request(scope).url)


def start(content_type: bytes, length: int, *extra: tuple[bytes, bytes]) -> dict:
    """An ASGI response start message (status 201)."""
    headers = [(b"content-type", content_type), (b"content-length", str(length).encode())]
    return {"type": "http.response.start", "status": 201, "headers": [*headers, *extra]}


def answered(
    messages: list[dict], headers: dict[str, str], method: str = "GET", **scope: object
) -> tuple[dict, bytes]:
    """What FollowRequest (links written at ``forwarded.STAND_IN``) sends for an app that sends
    ``messages`` (to a request with these ``scope`` entries changed): its start message and
    the whole body."""
    sent: list[dict] = []

    async def app(scope, receive, send) -> None:
        for message in messages:
            await send(message)

    async def send(message) -> None:
        sent.append(message)

    request = {**http_scope(headers, path="/ogcapi/jobs"), "method": method, **scope}
    asyncio.run(FollowRequest(app, root=STAND_IN, prefix="/ogcapi")(request, None, send))
    return sent[0], b"".join(m.get("body", b"") for m in sent[1:])
