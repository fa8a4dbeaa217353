"""The floor of a Python cached-tile path: a bare ASGI app answering one Redis GET.

``FLOOR_REDIS_URL`` and ``FLOOR_KEY`` name the Redis and the key (the gateway's own key of the
benchmarked tile), so it returns the very bytes the gateway serves. Run by bench_tiles.py as
``uvicorn bench.floor_app:create_app --factory --workers N``.
"""

from __future__ import annotations

import os

import redis.asyncio as redis
from starlette.types import Receive, Scope, Send


def create_app():
    client = redis.Redis.from_url(os.environ["FLOOR_REDIS_URL"])
    key = os.environ["FLOOR_KEY"]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await client.get(key) or b""
        await send(
            {
                "type": "http.response.start",
                "status": 200 if body else 404,
                "headers": [
                    (b"content-type", b"image/png"),
                    (b"content-length", b"%d" % len(body)),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app
