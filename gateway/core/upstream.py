"""The upstream services' quotas: one shared by every process and replica that uses one key
of a remote service (not the callers' quotas the gateway grants: ``gateway.quotas``).

CDSE's ``eodata`` S3 allows per key a number of connections at once, requests per minute and
bytes per 30 days; its STAC API limits requests per minute. ``Quota`` keeps the sum of all
gateway processes under such limits: a remote read takes a ``Lease`` (one connection slot and
its estimated requests in the last minute's window) before GDAL opens or reads, waits in line
up to ``wait_s`` in all per request (its reads' waits add up) when the quota is used up,
and then gives up with ``QuotaExhausted`` (503,
which the HTTP edge sends with ``Retry-After``, each door in its own exception format).

The counters live in Redis when a client is given (``RedisCounters``: two Lua scripts, so
checking and charging are one atomic step for every replica), else in the process
(``LocalCounters``: the limits then hold per process). A connection slot expires after
``slot_ttl_s``, so a process that dies holding one frees it. Requests are counted over a
sliding minute (the rule a server applies), bytes per calendar month (UTC). A charge that
turned out wrong is corrected with ``Quota.adjust``: requests given back are this process's
newest in the minute, so another process's are never taken back.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from gateway.core.admission import current_ticket
from gateway.errors import GatewayError

log = logging.getLogger(__name__)

WINDOW_S = 60.0


class QuotaExhausted(GatewayError):
    """The remote service's quota for this key is used up for now: try again later."""

    code = "NoApplicableCode"
    status = 503


@dataclass(frozen=True)
class QuotaLimits:
    """Limits of one key (None: unlimited); ``wait_s``: the longest a request waits in line."""

    connections: int | None = None
    requests_per_minute: int | None = None
    bytes_per_month: int | None = None
    wait_s: float = 20.0
    slot_ttl_s: float = 300.0

    @property
    def active(self) -> bool:
        return any(
            v is not None
            for v in (self.connections, self.requests_per_minute, self.bytes_per_month)
        )


class Counters(Protocol):
    """Where the quota's figures are kept; every method is one atomic step."""

    def enter(self, token: str, requests: int, limits: QuotaLimits) -> float:
        """Take a slot (if ``token`` holds none) and charge ``requests``; 0.0 when done, else
        the seconds worth waiting before trying again (nothing taken)."""
        ...

    def leave(self, token: str) -> None: ...

    def refund(self, requests: int) -> None:
        """Take back ``requests`` of this process's charged in the last minute, the newest
        first (those older than the minute are gone already)."""
        ...

    def add_bytes(self, count: int) -> int:
        """Charge ``count`` bytes to this month (negative: give back); the month's total."""
        ...

    def figures(self) -> dict[str, int]:
        """``connections`` in use, ``requests_last_minute``, ``bytes_this_month``."""
        ...


def _month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


class LocalCounters:
    """The figures of this process only."""

    def __init__(self) -> None:
        self._slots: dict[str, float] = {}  # token -> expiry (monotonic)
        self._requests: deque[float] = deque()
        self._bytes: dict[str, int] = {}
        self._lock = threading.Lock()

    def _purge(self, now: float) -> None:
        for token in [t for t, expiry in self._slots.items() if expiry <= now]:
            del self._slots[token]
        while self._requests and self._requests[0] <= now - WINDOW_S:
            self._requests.popleft()

    def enter(self, token: str, requests: int, limits: QuotaLimits) -> float:
        now = time.monotonic()
        with self._lock:
            self._purge(now)
            need_slot = limits.connections is not None and token not in self._slots
            if need_slot and len(self._slots) >= (limits.connections or 0):
                return 0.05
            rpm = limits.requests_per_minute
            if rpm is not None and len(self._requests) + requests > rpm:
                if len(self._requests) < requests:  # more than a minute's worth in one go
                    return -1.0
                oldest = self._requests[len(self._requests) + requests - rpm - 1]
                return max(0.01, oldest + WINDOW_S - now)
            if need_slot:
                self._slots[token] = now + limits.slot_ttl_s
            self._requests.extend([now] * requests)
            return 0.0

    def leave(self, token: str) -> None:
        with self._lock:
            self._slots.pop(token, None)

    def refund(self, requests: int) -> None:
        with self._lock:
            self._purge(time.monotonic())
            for _ in range(min(requests, len(self._requests))):
                self._requests.pop()

    def add_bytes(self, count: int) -> int:
        month = _month()
        with self._lock:
            self._bytes[month] = self._bytes.get(month, 0) + count
            return self._bytes[month]

    def figures(self) -> dict[str, int]:
        with self._lock:
            self._purge(time.monotonic())
            return {
                "connections": len(self._slots),
                "requests_last_minute": len(self._requests),
                "bytes_this_month": self._bytes.get(_month(), 0),
            }


# KEYS: slots (zset token -> expiry), requests (zset member -> time); ARGV: token, requests,
# connections (-1: none), rpm (-1: none), slot ttl (s), window (s), a unique prefix.
# Returns "0" when taken, else the seconds to wait (as a string: Lua numbers lose decimals).
_ENTER = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local token, n = ARGV[1], tonumber(ARGV[2])
local conns, rpm = tonumber(ARGV[3]), tonumber(ARGV[4])
local ttl, window = tonumber(ARGV[5]), tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
local need_slot = conns >= 0 and not redis.call('ZSCORE', KEYS[1], token)
if need_slot and redis.call('ZCARD', KEYS[1]) >= conns then
  return '0.05'
end
if rpm >= 0 then
  local used = redis.call('ZCARD', KEYS[2])
  if used + n > rpm then
    if used < n then return '-1' end
    local at = used + n - rpm - 1
    local oldest = redis.call('ZRANGE', KEYS[2], at, at, 'WITHSCORES')
    return tostring(math.max(0.01, tonumber(oldest[2]) + window - now))
  end
end
if need_slot then
  redis.call('ZADD', KEYS[1], now + ttl, token)
  redis.call('EXPIRE', KEYS[1], math.ceil(ttl) + 1)
end
for i = 1, n do
  redis.call('ZADD', KEYS[2], now, ARGV[7] .. i)
end
redis.call('EXPIRE', KEYS[2], math.ceil(window) + 1)
return '0'
"""

# KEYS: slots, requests; returns their live counts.
_FIGURES = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[1]))
return {redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2])}
"""


class RedisCounters:
    """The figures of every process sharing ``prefix`` on one Redis (Redis's clock)."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._client = client
        self._slots = f"{prefix}:slots"
        self._requests = f"{prefix}:requests"
        self._bytes = f"{prefix}:bytes"
        self._enter = client.register_script(_ENTER)
        self._figures = client.register_script(_FIGURES)
        self._mine: deque[tuple[str, int, float]] = deque()  # (members' prefix, count, when)
        self._lock = threading.Lock()

    def enter(self, token: str, requests: int, limits: QuotaLimits) -> float:
        prefix = f"{token}:{secrets.token_hex(4)}:"
        answer = self._enter(
            keys=[self._slots, self._requests],
            args=[
                token,
                requests,
                -1 if limits.connections is None else limits.connections,
                -1 if limits.requests_per_minute is None else limits.requests_per_minute,
                limits.slot_ttl_s,
                WINDOW_S,
                prefix,
            ],
        )
        wait = float(answer)
        if wait == 0.0 and requests > 0:
            with self._lock:
                self._mine.append((prefix, requests, time.monotonic()))
        return wait

    def leave(self, token: str) -> None:
        self._client.zrem(self._slots, token)

    def refund(self, requests: int) -> None:
        names: list[str] = []
        with self._lock:
            while self._mine and self._mine[0][2] <= time.monotonic() - WINDOW_S:
                self._mine.popleft()
            while requests > 0 and self._mine:
                prefix, count, when = self._mine.pop()
                taken = min(count, requests)
                names += [f"{prefix}{i}" for i in range(count - taken + 1, count + 1)]
                requests -= taken
                if taken < count:
                    self._mine.append((prefix, count - taken, when))
        if names:
            self._client.zrem(self._requests, *names)

    def add_bytes(self, count: int) -> int:
        key = f"{self._bytes}:{_month()}"
        with self._client.pipeline() as pipe:
            pipe.incrby(key, count)
            pipe.expire(key, 40 * 86400)
            total, _ = pipe.execute()
        return int(total)

    def figures(self) -> dict[str, int]:
        slots, requests = self._figures(keys=[self._slots, self._requests], args=[WINDOW_S])
        used = self._client.get(f"{self._bytes}:{_month()}")
        return {
            "connections": int(slots),
            "requests_last_minute": int(requests),
            "bytes_this_month": int(used or 0),
        }


class Fallback:
    """Redis counters that fall back to this process's own while Redis fails: after a failure
    Redis is left alone for ``retry_after_s`` (said in the log once a minute at most)."""

    def __init__(self, shared: RedisCounters, retry_after_s: float = 5.0) -> None:
        self._shared = shared
        self._local = LocalCounters()
        self._retry_after_s = retry_after_s
        self._down_until = 0.0
        self._warned = -WINDOW_S

    def _counters(self) -> Counters:
        return self._local if time.monotonic() < self._down_until else self._shared

    def _failed(self, exc: redis.RedisError) -> LocalCounters:
        now = time.monotonic()
        self._down_until = now + self._retry_after_s
        if now - self._warned >= WINDOW_S:
            self._warned = now
            log.warning("quota counters in Redis unavailable, counting per process: %s", exc)
        return self._local

    def enter(self, token: str, requests: int, limits: QuotaLimits) -> float:
        try:
            return self._counters().enter(token, requests, limits)
        except redis.RedisError as exc:
            return self._failed(exc).enter(token, requests, limits)

    def leave(self, token: str) -> None:
        self._local.leave(token)
        try:
            self._counters().leave(token)
        except redis.RedisError as exc:
            self._failed(exc)

    def refund(self, requests: int) -> None:
        try:
            self._counters().refund(requests)
        except redis.RedisError as exc:
            self._failed(exc).refund(requests)

    def add_bytes(self, count: int) -> int:
        try:
            return self._counters().add_bytes(count)
        except redis.RedisError as exc:
            return self._failed(exc).add_bytes(count)

    def figures(self) -> dict[str, int]:
        try:
            return self._counters().figures()
        except redis.RedisError as exc:
            return self._failed(exc).figures()


class Quota:
    """Limits of one service key, enforced over ``counters`` (shared through Redis or not)."""

    def __init__(self, name: str, limits: QuotaLimits, counters: Counters) -> None:
        self.name = name
        self.limits = limits
        self._counters = counters
        self._waiting = 0
        self._refused = 0
        self._lock = threading.Lock()

    def lease(self, *, yielding: bool = False) -> Lease:
        """A lease to hold while talking to the service (``with quota.lease() as lease:``).
        A ``yielding`` one (work nobody waits for) gives way: it waits while a request of
        this process waits in line, and is not counted among the waiting or refused."""
        return Lease(self, yielding=yielding)

    def take(self, requests: int = 1) -> None:
        """Charge ``requests`` without holding a connection slot (waiting in line)."""
        self._enter(secrets.token_hex(8), requests, slot=False)

    def _enter(self, token: str, requests: int, *, slot: bool, yielding: bool = False) -> None:
        limits = self.limits
        if not slot:
            limits = QuotaLimits(None, limits.requests_per_minute, None, limits.wait_s)
        ticket = None if yielding else current_ticket()  # a request's reads share one budget
        started = time.monotonic()
        spent = ticket.quota_waited_s if ticket is not None else 0.0
        deadline = started + max(0.0, self.limits.wait_s - spent)
        counted = False
        try:
            while True:
                if yielding and self._waiting:  # a request waits: it goes first
                    wait = 0.05
                else:
                    wait = self._counters.enter(token, requests, limits)
                if wait == 0.0:
                    return
                left = deadline - time.monotonic()
                if wait < 0 or left <= 0 or (wait > left and wait > 1.0):
                    if yielding:
                        raise QuotaExhausted(f"the {self.name} quota is used up for now")
                    self._refuse()
                if yielding:
                    time.sleep(min(left, wait, 1.0) * random.uniform(0.8, 1.2))
                    continue
                if not counted:
                    counted = True
                    with self._lock:
                        self._waiting += 1
                # a little jitter: the processes waiting do not all ask at the same moment
                time.sleep(min(left, wait, 1.0) * random.uniform(0.8, 1.2))
        finally:
            if counted:
                with self._lock:
                    self._waiting -= 1
                if ticket is not None:
                    ticket.quota_waited_s += time.monotonic() - started

    def _refuse(self) -> None:
        """Refuse the read: a request is counted refused once, however many of its reads
        (side by side) are."""
        ticket = current_ticket()
        with self._lock:
            if ticket is None or not ticket.quota_refused:
                self._refused += 1
            if ticket is not None:
                ticket.quota_refused = True
        raise QuotaExhausted(f"the {self.name} quota is used up for now; try again later")

    def check_month(self, *, yielding: bool = False) -> None:
        """QuotaExhausted when this month's bytes are used up (no wait helps)."""
        most = self.limits.bytes_per_month
        if most is not None and self._counters.add_bytes(0) >= most:
            if yielding:
                raise QuotaExhausted(f"the {self.name} quota is used up this month")
            self._refuse()

    def add_bytes(self, count: int) -> None:
        if self.limits.bytes_per_month is not None and count > 0:
            self._counters.add_bytes(count)

    def adjust(self, requests: int, nbytes: int) -> None:
        """Correct what was charged by ``requests`` and ``nbytes`` (negative: give back,
        positive: charge more at once, without waiting in line: they were spent already)."""
        if requests > 0:
            self._counters.enter(secrets.token_hex(8), requests, QuotaLimits())
        elif requests < 0:
            self._counters.refund(-requests)
        if self.limits.bytes_per_month is not None and nbytes:
            self._counters.add_bytes(nbytes)

    def state(self) -> dict[str, int | None]:
        """The limits, the figures now and this process's waiting and refused counts."""
        figures = self._counters.figures()
        with self._lock:
            mine = {"waiting": self._waiting, "refused": self._refused}
        return {
            "max_connections": self.limits.connections,
            "max_requests_per_minute": self.limits.requests_per_minute,
            "max_bytes_per_month": self.limits.bytes_per_month,
            **figures,
            **mine,
        }


class Lease:
    """One connection slot of a ``Quota`` and the requests charged on it."""

    def __init__(self, quota: Quota, *, yielding: bool = False) -> None:
        self._quota = quota
        self._token = secrets.token_hex(8)
        self._held = False
        self._yielding = yielding

    def __enter__(self) -> Lease:
        self._quota.check_month(yielding=self._yielding)
        self.take(0)
        return self

    def take(self, requests: int, nbytes: int = 0) -> None:
        """Charge ``requests`` more (waiting in line) and ``nbytes`` to the month."""
        # A yielding lease gives way until it holds its slot, then charges as any other
        # (holding a slot while waiting for a request that waits for it would stall both).
        yielding = self._yielding and not self._held
        self._quota._enter(self._token, requests, slot=True, yielding=yielding)
        self._held = True
        self._quota.add_bytes(nbytes)

    def __exit__(self, *exc: object) -> None:
        if self._held:
            self._quota._counters.leave(self._token)
            self._held = False


def make_quota(name: str, limits: QuotaLimits, redis_url: str | None, prefix: str) -> Quota | None:
    """A quota over Redis when a URL is given, else over this process; None when unlimited."""
    if not limits.active:
        return None
    counters: Counters = LocalCounters()
    if redis_url:
        client = redis.Redis.from_url(
            redis_url, socket_timeout=2.0, socket_connect_timeout=2.0, retry=Retry(NoBackoff(), 0)
        )
        counters = Fallback(RedisCounters(client, f"{prefix}:quota:{name}"))
    return Quota(name, limits, counters)
