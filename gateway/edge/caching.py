"""HTTP caching of tiles: ``Cache-Control``, a strong ``ETag``, ``Last-Modified``, ``304``.

A tile's validators come from its stamp (``gateway.core.stamps``: a digest of its bytes and
when it was stored), written next to it in the tile cache when it is rendered, so a cache hit
names its version without hashing the bytes. A request whose ``If-None-Match`` names that
version gets ``304 Not Modified`` without a body.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable

from starlette.requests import Request
from starlette.responses import Response

from gateway.core.stamps import Stamp

Endpoint = Callable[[Request], Awaitable[Response]]
FIRST_SEEN = 4096  # OGC API tile versions whose first answer time is remembered


def etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    """Whether an ``If-None-Match`` value names ``etag`` (weak comparison, RFC 9110 13.1.2)."""
    if if_none_match.strip() == b"*":
        return True
    for candidate in if_none_match.split(b","):
        candidate = candidate.strip()
        if candidate.startswith(b"W/"):
            candidate = candidate[2:]
        if candidate == etag:
            return True
    return False


class TileCaching:
    """The caching headers of tile answers, for tiles browsers and CDNs may keep
    ``max_age_s`` seconds."""

    def __init__(self, max_age_s: int) -> None:
        self.cache_control = b"public, max-age=%d" % max_age_s
        self._first_seen: OrderedDict[bytes, Stamp] = OrderedDict()

    def headers(self, stamp: Stamp) -> list[tuple[bytes, bytes]]:
        return [
            (b"cache-control", self.cache_control),
            (b"etag", b'"' + stamp.digest + b'"'),
            (b"last-modified", stamp.stored),
        ]

    def not_modified(self, request_headers: Iterable[tuple[bytes, bytes]], stamp: Stamp) -> bool:
        """Whether the request's ``If-None-Match`` names this tile's version."""
        for name, value in request_headers:
            if name == b"if-none-match":
                return etag_matches(value, b'"' + stamp.digest + b'"')
        return False

    def answered(self, endpoint: Endpoint) -> Endpoint:
        """``endpoint`` (OGC API tiles, answered through pygeoapi) with the tile caching
        headers and 304s. Its bytes are hashed per answer (pygeoapi's own path costs far
        more); ``Last-Modified`` is when this process first served those bytes."""

        async def wrapped(request: Request) -> Response:
            response = await endpoint(request)
            media_type = response.headers.get("content-type", "")
            if response.status_code != 200 or not media_type.startswith("image/"):
                return response
            stamp = self._stamp(bytes(response.body))
            if self.not_modified(request.scope["headers"], stamp):
                answer = Response(status_code=304)
                answer.raw_headers += self.headers(stamp)
                return answer
            response.raw_headers += self.headers(stamp)
            return response

        return wrapped

    def _stamp(self, content: bytes) -> Stamp:
        """The stamp of ``content`` as this process first served it."""
        stamp = Stamp.of(content)
        first = self._first_seen.setdefault(stamp.digest, stamp)
        while len(self._first_seen) > FIRST_SEEN:
            self._first_seen.popitem(last=False)
        return first
