"""``Edge``: the one ASGI middleware in front of every door (see ``gateway.edge``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.context import (
    REQUEST_ID_HEADER,
    request_id_for,
    requesting,
)
from gateway.core.admission import RequestTicket, ServiceBusy
from gateway.core.phases import Phases, timing
from gateway.edge.bodies import BodyLimits, CountedBody
from gateway.edge.cors import APP_CORS_HEADERS, CorsPolicy
from gateway.edge.rejections import Rejections
from gateway.errors import GatewayError
from gateway.logs import redact

log = logging.getLogger(__name__)

# Response headers that never leave the gateway: versions, and CORS other than the edge's.
# (ASGI header names are lower case.)
DROPPED = frozenset({b"server", b"x-powered-by"}) | APP_CORS_HEADERS
NO_BODY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class _Answer:
    """The response side of one request: a start message gets the edge's headers; once the
    body overflowed, what the app sends is dropped (the edge answers instead)."""

    __slots__ = ("_extra", "_on_start", "_retry_after", "_send", "body", "edge_own", "started")

    def __init__(
        self,
        send: Send,
        extra: list[tuple[bytes, bytes]],
        retry_after: bytes,
        on_start: Callable[[int], None] | None = None,
    ) -> None:
        self._on_start = on_start
        self._send = send
        self._extra = extra
        self._retry_after = retry_after
        self.body: CountedBody | None = None
        self.started = False
        self.edge_own = False  # the edge's own answer: never dropped

    async def send(self, message: Message) -> None:
        if self.body is not None and self.body.overflowed and not self.edge_own:
            return
        if message["type"] == "http.response.start":
            self.started = True
            if self._on_start is not None:
                self._on_start(message["status"])
            message = self._edged(message)
        await self._send(message)

    def _edged(self, start: Message) -> Message:
        """The start message with the edge's headers (itself when there is nothing to do)."""
        headers = start.get("headers", ())
        dropping = False
        for name, _ in headers:
            if name in DROPPED:
                dropping = True
                break
        busy = start["status"] == 503
        if not (dropping or busy or self._extra):
            return start
        kept = [h for h in headers if h[0] not in DROPPED] + self._extra
        if busy and not any(name == b"retry-after" for name, _ in kept):
            kept.append((b"retry-after", self._retry_after))
        return {**start, "headers": kept}


def _log_slow(scope: Scope, took: float, phases: Phases) -> None:
    """A warning naming the request (credentials redacted) and where its time went."""
    query = scope.get("query_string", b"").decode("latin-1")
    target = redact(scope["path"] + (f"?{query}" if query else ""))
    log.warning(
        "slow request: %s %s took %.2f s (%s)",
        scope["method"],
        target[:500],
        took,
        phases.summary(),
    )


class Edge:
    """A request id, CORS, body caps, no version headers, ``Retry-After`` on 503, an
    admission ticket."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        cors: CorsPolicy,
        bodies: BodyLimits,
        rejections: Rejections,
        retry_after_s: int,
        observe: Callable[[Scope, int, float], None] | None = None,
        slow_request_s: float = 0.0,
    ) -> None:
        self.app = app
        self.cors = cors
        self.bodies = bodies
        self.rejections = rejections
        self.retry_after = str(retry_after_s).encode()
        self.observe = observe  # (scope, status, perf_counter at arrival): the metrics
        self.slow_request_s = slow_request_s  # a request this long is logged (0: never)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])  # one pass in C; names are lower case
        request_id = request_id_for(headers.get(REQUEST_ID_HEADER))
        with requesting(request_id), timing() as phases:
            started = time.perf_counter()
            await self._answer(scope, receive, send, headers, request_id)
            took = time.perf_counter() - started
            if self.slow_request_s and took >= self.slow_request_s:
                _log_slow(scope, took, phases)

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[bytes, bytes],
        request_id: str,
    ) -> None:
        origin = headers.get(b"origin")
        method = scope["method"]
        if method == "OPTIONS" and origin is not None:
            asked = headers.get(b"access-control-request-method")
            if asked is not None:
                wanted = headers.get(b"access-control-request-headers")
                await self.cors.preflight(origin, asked, wanted)(scope, receive, send)
                return
        extra = self.cors.response_headers(origin) if origin is not None else []
        extra = [*extra, (REQUEST_ID_HEADER, request_id.encode())]
        on_start = None
        if self.observe is not None:
            observe, started = self.observe, time.perf_counter()

            def on_start(status: int) -> None:
                observe(scope, status, started)

        answer = _Answer(send, extra, self.retry_after, on_start)
        length = headers.get(b"content-length")
        chunked = b"transfer-encoding" in headers
        if method not in NO_BODY_METHODS and (length is not None or chunked):
            limit = self.bodies.limit_for(headers.get(b"content-type"))
            if not chunked and length is not None and int(length) > limit:  # digits: uvicorn
                await self._reject(self.bodies.refusal(limit), scope, receive, answer)
                return
            if chunked:
                answer.body = CountedBody(receive, self.bodies, limit)
        with RequestTicket():
            try:
                if answer.body is None:
                    await self.app(scope, receive, answer.send)
                else:
                    await self._counted(scope, receive, answer, limit)
            except asyncio.CancelledError:
                await self._cut_short(scope, receive, answer)

    async def _cut_short(self, scope: Scope, receive: Receive, answer: _Answer) -> None:
        """A request the server cancelled (uvicorn, once its graceful shutdown time-out is
        spent): one log line, and a 503 in the door's dialect when nothing was sent yet,
        instead of the server's traceback and bare 500."""
        log.warning(
            "%s %s ended unanswered: the server cancelled it (shutting down)",
            scope["method"],
            scope["path"],
        )
        if not answer.started:
            busy = ServiceBusy("the gateway is shutting down: try again")
            await self._reject(busy, scope, receive, answer)

    async def _counted(self, scope: Scope, receive: Receive, answer: _Answer, limit: int) -> None:
        """The app reading a chunked body through ``answer.body``: once it overflows, the
        edge answers 413 in the door's dialect, whatever the app made of it."""
        body = answer.body
        assert body is not None
        try:
            await self.app(scope, body.receive, answer.send)
        except Exception:
            if not body.overflowed:
                raise
        if body.overflowed and not answer.started:
            await self._reject(self.bodies.refusal(limit), scope, receive, answer)

    async def _reject(
        self, error: GatewayError, scope: Scope, receive: Receive, answer: _Answer
    ) -> None:
        answer.edge_own = True
        await self.rejections.response(error, scope)(scope, receive, answer.send)
