"""Counters of requests and processing units per caller: in Redis, or in the process.

``admit`` is asked before a request runs: it counts the request in its minute unless a limit
is spent (the minute's requests, the day's or the month's units), and says what is left.
``charge`` adds a request's units to its day and month once it has answered (2xx only, as
Sentinel Hub counts). A request is admitted while any unit is left, so the last one of a
window may overshoot its budget by its own cost: a request's cost is known when it has run.

Redis (``RedisLimiter``): every worker and replica shares the counters; each step is one Lua
script, so checking and counting are atomic however many processes ask at once. Fixed
windows (a minute, a UTC day, a UTC month) keep a caller's counters to three keys, each
expiring after its window. Redis down: requests are admitted (failing open) and logged; the
limiter asks Redis again ``retry_after_s`` later. Without Redis (``MemoryLimiter``) every
process counts for itself: a caller may spend its budget once per process.

The ``limits`` library was considered: its costs are integers per hit, its windows start at
a caller's first hit (not at calendar days and months), and it cannot check three limits and
count one of them atomically, which a ten-line script does.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio
from redis.exceptions import RedisError

from gateway.core.units import MICRO, micro
from gateway.quotas import windows
from gateway.quotas.budgets import Budget

log = logging.getLogger(__name__)

KEY_PREFIX = "cdsegw:quota"
EXPIRY_MARGIN_S = 60  # counters outlive their window a little (clocks of replicas differ)
NO_LIMIT = -1

# KEYS: the minute's requests, the day's and the month's micro-units. ARGV: their limits
# (-1: none), the minute counter's expiry (ms since the epoch). Returns admitted (1/0) and
# the three counts (the minute's including this request when admitted).
ADMIT = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local day = tonumber(redis.call('GET', KEYS[2]) or '0')
local month = tonumber(redis.call('GET', KEYS[3]) or '0')
local rl, dl, ml = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if (rl >= 0 and used >= rl) or (dl >= 0 and day >= dl) or (ml >= 0 and month >= ml) then
  return {0, used, day, month}
end
used = redis.call('INCR', KEYS[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
return {1, used, day, month}
"""
# KEYS: the day's and the month's micro-units. ARGV: micro-units, each key's expiry (ms).
CHARGE = """
redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
redis.call('INCRBY', KEYS[2], ARGV[1])
redis.call('PEXPIREAT', KEYS[2], ARGV[3])
return 1
"""


@dataclass(frozen=True)
class Count:
    """One limit as it stands: ``name`` ("requests", "units-day", "units-month"), its
    ``limit`` and what is ``used`` of it (processing units for the units' limits), its
    window's length and the seconds until it resets."""

    name: str
    limit: float
    used: float
    window_s: int
    reset_s: int

    @property
    def remaining(self) -> float:
        return max(0.0, self.limit - self.used)

    @property
    def spent(self) -> bool:
        return self.used >= self.limit


@dataclass(frozen=True)
class Standing:
    """Whether a request was admitted, and its caller's limits (none: nothing counted)."""

    admitted: bool
    counts: tuple[Count, ...] = ()

    @property
    def retry_after_s(self) -> int:
        """Seconds until every spent limit has reset."""
        return max((c.reset_s for c in self.counts if c.spent), default=1)


@dataclass(frozen=True)
class _Keys:
    """A caller's three counters now: their keys and windows."""

    requests: str
    day: str
    month: str
    windows: tuple[windows.Window, windows.Window, windows.Window]

    def expiry_ms(self, index: int) -> int:
        """When counter ``index`` (0, 1, 2) may go, in ms since the epoch."""
        return int((self.windows[index].end + EXPIRY_MARGIN_S) * 1000)


def _keys(caller: str, now: float) -> _Keys:
    # The caller in braces: one Redis Cluster hash slot for its three keys.
    base = f"{KEY_PREFIX}:{{{caller}}}"
    m, d, mo = windows.minute(now), windows.day(now), windows.month(now)
    return _Keys(f"{base}:{m.id}", f"{base}:{d.id}", f"{base}:{mo.id}", (m, d, mo))


def _limits(budget: Budget) -> tuple[int, int, int]:
    """The budget's limits as counted: requests, micro-units (NO_LIMIT: none)."""
    requests, day, month = budget.requests_per_minute, budget.units_per_day, budget.units_per_month
    return (
        NO_LIMIT if requests is None else requests,
        NO_LIMIT if day is None else micro(day),
        NO_LIMIT if month is None else micro(month),
    )


def _spent(limits: tuple[int, int, int], counts: tuple[int, int, int]) -> bool:
    return any(limit >= 0 and value >= limit for limit, value in zip(limits, counts, strict=True))


def _standing(
    admitted: bool, budget: Budget, keys: _Keys, now: float, counts: tuple[int, int, int]
) -> Standing:
    found = []
    limits = (budget.requests_per_minute, budget.units_per_day, budget.units_per_month)
    for name, limit, value, window, scale in zip(
        ("requests", "units-day", "units-month"),
        limits,
        counts,
        keys.windows,
        (1, MICRO, MICRO),
        strict=True,
    ):
        if limit is not None:
            found.append(Count(name, limit, value / scale, window.length_s, window.reset_s(now)))
    return Standing(admitted, tuple(found))


class Limiter(Protocol):
    async def admit(self, caller: str, budget: Budget, now: float | None = None) -> Standing: ...
    async def charge(self, caller: str, units: float, now: float | None = None) -> None: ...
    async def close(self) -> None: ...


class MemoryLimiter:
    """The counters in this process (thread-safe); expired windows are dropped as it goes."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, float]] = {}  # key -> (count, expires at)
        self._lock = threading.Lock()

    def _get(self, key: str, now: float) -> int:
        found = self._counts.get(key)
        return found[0] if found is not None and found[1] > now else 0

    def _add(self, key: str, amount: int, expires: float, now: float) -> int:
        value = self._get(key, now) + amount
        self._counts[key] = (value, expires)
        return value

    def _sweep(self, now: float) -> None:
        if len(self._counts) > 4096:
            self._counts = {k: v for k, v in self._counts.items() if v[1] > now}

    async def admit(self, caller: str, budget: Budget, now: float | None = None) -> Standing:
        now = time.time() if now is None else now
        keys = _keys(caller, now)
        with self._lock:
            self._sweep(now)
            counts = (
                self._get(keys.requests, now),
                self._get(keys.day, now),
                self._get(keys.month, now),
            )
            if _spent(_limits(budget), counts):
                return _standing(False, budget, keys, now, counts)
            used = self._add(keys.requests, 1, keys.expiry_ms(0) / 1000, now)
        return _standing(True, budget, keys, now, (used, counts[1], counts[2]))

    async def charge(self, caller: str, units: float, now: float | None = None) -> None:
        now = time.time() if now is None else now
        keys, amount = _keys(caller, now), micro(units)
        with self._lock:
            self._add(keys.day, amount, keys.expiry_ms(1) / 1000, now)
            self._add(keys.month, amount, keys.expiry_ms(2) / 1000, now)

    async def close(self) -> None:
        return None


class RedisLimiter:
    """The counters in Redis, shared by every process using ``url`` (see the module docs)."""

    def __init__(self, url: str, retry_after_s: float = 5.0) -> None:
        self._redis = redis.asyncio.Redis.from_url(
            url, socket_timeout=0.25, socket_connect_timeout=0.25
        )
        self._admit = self._redis.register_script(ADMIT)
        self._charge = self._redis.register_script(CHARGE)
        self._retry_after_s = retry_after_s
        self._down_until = 0.0

    def _failed(self, error: Exception) -> None:
        if time.monotonic() >= self._down_until:
            log.warning("quotas not counted: Redis failed (%s); admitting requests", error)
        self._down_until = time.monotonic() + self._retry_after_s

    async def admit(self, caller: str, budget: Budget, now: float | None = None) -> Standing:
        now = time.time() if now is None else now
        if time.monotonic() < self._down_until:
            return Standing(True)
        keys = _keys(caller, now)
        try:
            ok, used, day, month = await self._admit(
                keys=[keys.requests, keys.day, keys.month],
                args=[*_limits(budget), keys.expiry_ms(0)],
            )
        except (RedisError, OSError) as error:
            self._failed(error)
            return Standing(True)
        return _standing(bool(ok), budget, keys, now, (int(used), int(day), int(month)))

    async def charge(self, caller: str, units: float, now: float | None = None) -> None:
        now = time.time() if now is None else now
        amount = micro(units)
        if amount <= 0 or time.monotonic() < self._down_until:
            return
        keys = _keys(caller, now)
        try:
            await self._charge(
                keys=[keys.day, keys.month], args=[amount, keys.expiry_ms(1), keys.expiry_ms(2)]
            )
        except (RedisError, OSError) as error:
            self._failed(error)

    async def close(self) -> None:
        await self._redis.aclose()
