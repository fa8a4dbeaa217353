"""Request body caps: at most so many bytes of a body are ever read.

A declared ``Content-Length`` over the cap is refused before the body is read; a body sent
in chunks is counted as it streams and refused as soon as it passes the cap, so memory never
grows with the size a client attempts. JSON bodies (CQL2-JSON, process inputs) have their
own, larger cap.
"""

from __future__ import annotations

from starlette.types import Message, Receive

from gateway.errors import GatewayError


class BodyTooLarge(GatewayError):
    """The request body is larger than the gateway reads (answered 413)."""

    code = "NoApplicableCode"
    status = 413


class BodyLimits:
    """The cap of a body by its media type: ``max_json_bytes`` for JSON, else ``max_bytes``."""

    def __init__(self, max_bytes: int, max_json_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.max_json_bytes = max_json_bytes

    def limit_for(self, content_type: bytes | None) -> int:
        media_type = (content_type or b"").split(b";")[0].strip().lower()
        return self.max_json_bytes if media_type.endswith(b"json") else self.max_bytes

    def refusal(self, limit: int) -> BodyTooLarge:
        return BodyTooLarge(f"the request body is larger than {limit:,} bytes")


class CountedBody:
    """A ``receive`` that raises BodyTooLarge once more than ``limit`` body bytes came."""

    def __init__(self, receive: Receive, limits: BodyLimits, limit: int) -> None:
        self._receive = receive
        self._limits = limits
        self._limit = limit
        self._count = 0
        self.overflowed = False

    async def receive(self) -> Message:
        if self.overflowed:
            raise self._limits.refusal(self._limit)
        message = await self._receive()
        if message["type"] == "http.request":
            self._count += len(message.get("body", b""))
            if self._count > self._limit:
                self.overflowed = True
                raise self._limits.refusal(self._limit)
        return message
