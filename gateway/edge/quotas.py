"""``Quotas``: each caller's requests per minute and processing units per day and month.

Inside the ``Edge`` (and behind authentication, which names the caller in
``scope["gateway.caller"]``), before a door sees the request: a caller with a spent limit is
answered ``429`` with ``Retry-After``, in the door's dialect (``Rejections``); otherwise the
request runs with a meter (``gateway.context.metering``) that the engine charges for each
render and each answer from its cache, and a 2xx answer's units are added to the caller's
day and month once it is sent. Every answer says what is left:

- ``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset``: the requests of the
  current minute (draft-ietf-httpapi-ratelimit-headers-07), when they are limited;
- ``X-Processing-Units``: what this answer cost; ``X-Processing-Units-Remaining-Day`` and
  ``-Month``: what is left of the limited ones after it (the day and the month are UTC's).
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.context import Meter, metering
from gateway.edge.rejections import Rejections
from gateway.errors import GatewayError
from gateway.quotas.budgets import Budgets
from gateway.quotas.limiter import Limiter, Standing

UNCOUNTED = frozenset({"/healthz", "/readyz", "/metrics"})
SPENT = {
    "requests": "the requests allowed per minute are spent",
    "units-day": "the processing units allowed per day are spent",
    "units-month": "the processing units allowed per month are spent",
}


class QuotaExceeded(GatewayError):
    """A caller's quota is spent (429, with Retry-After)."""

    code = "NoApplicableCode"
    status = 429


def _units(value: float) -> bytes:
    """Units as a header value: three decimals, rounded down (from micro-units, so that
    float noise never takes a thousandth off), never negative."""
    return f"{max(0, int(round(value * 1000, 3))) / 1000:.3f}".encode()


def quota_headers(standing: Standing, spent: float = 0.0) -> list[tuple[bytes, bytes]]:
    """The RateLimit and processing-unit headers of ``standing`` after spending ``spent``."""
    headers = [(b"x-processing-units", _units(spent))]
    for count in standing.counts:
        if count.name == "requests":
            headers += [
                (b"ratelimit-limit", str(int(count.limit)).encode()),
                (b"ratelimit-remaining", str(int(count.remaining)).encode()),
                (b"ratelimit-reset", str(count.reset_s).encode()),
            ]
        else:
            period = b"day" if count.name == "units-day" else b"month"
            left = count.remaining - spent
            headers.append((b"x-processing-units-remaining-" + period, _units(left)))
    return headers


class Quotas:
    """Admits each request within its caller's budget, and charges what it spent."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        budgets: Budgets,
        limiter: Limiter,
        rejections: Rejections,
        cached_fraction: float,
        on_reject: Callable[[str], None] | None = None,
    ) -> None:
        self.app = app
        self.budgets = budgets
        self.limiter = limiter
        self.rejections = rejections
        self.cached_fraction = cached_fraction
        self.on_reject = on_reject  # (path): the metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") in UNCOUNTED:
            await self.app(scope, receive, send)
            return
        caller = self.budgets.of(scope)
        standing = await self.limiter.admit(caller.key, caller.budget)
        if not standing.admitted:
            await self._refuse(standing, scope, receive, send)
            return
        meter = Meter(self.cached_fraction)
        status = 0
        charged = 0.0

        async def metered_send(message: Message) -> None:
            nonlocal status, charged
            if message["type"] == "http.response.start":
                status, spent = message["status"], meter.spent
                headers = [*message.get("headers", ()), *quota_headers(standing, spent)]
                message = {**message, "headers": headers}
                if 200 <= status < 300 and spent > 0:
                    # Before the client has the answer: its next request, to this process or
                    # another, finds these units spent.
                    await self.limiter.charge(caller.key, spent)
                    charged = spent
            await send(message)

        with metering(meter):
            await self.app(scope, receive, metered_send)
        if 200 <= status < 300 and (late := meter.spent - charged) > 1e-9:
            await self.limiter.charge(caller.key, late)  # spent while the body streamed

    async def _refuse(self, standing: Standing, scope: Scope, receive: Receive, send: Send) -> None:
        spent = [count for count in standing.counts if count.spent]
        reason = SPENT[spent[0].name] if spent else "the quota is spent"
        retry = standing.retry_after_s
        error = QuotaExceeded(f"{reason}: retry in {retry} s", locator="quota")
        response = self.rejections.response(error, scope)
        response.headers["Retry-After"] = str(retry)
        for name, value in quota_headers(standing):
            response.headers[name.decode()] = value.decode()
        if self.on_reject is not None:
            self.on_reject(scope["path"])
        await response(scope, receive, send)
