"""What the tile service remembers to answer a cache hit without leaving the event loop: the
keys tile requests resolved to (``KnownKeys``) and the cache read on an asyncio connection
(``HitReader``)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import NamedTuple, cast

import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from gateway.core.cache import Cache, RedisCache
from gateway.core.stamps import Stamp, stamp_key

KNOWN_KEYS = 65536
# How long a process trusts a tile's stamp without reading it again (a tile's bytes change
# only when it is rendered again; a changed length is noticed at once). Browsers may keep a
# tile for GATEWAY_TILE_MAX_AGE_S anyway.
STAMP_MEMORY_S = 60.0


class Known(NamedTuple):
    """What a tile request resolved to: enough to answer its next hit without parsing it."""

    key: str  # in the cache
    media_type: str
    warning: str | None  # a default or nearest TIME value used
    version: int  # of the catalog summaries that gave TIME its meaning
    units: float  # processing units of rendering it (a hit costs a fraction: quotas)


class KnownKeys:
    """A bounded, thread-safe LRU: a tile request -> what its request resolved to."""

    def __init__(self, size: int = KNOWN_KEYS) -> None:
        self._items: OrderedDict[Hashable, Known] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, signature: Hashable) -> Known | None:
        with self._lock:
            found = self._items.get(signature)
            if found is not None:
                self._items.move_to_end(signature)
            return found

    def put(self, signature: Hashable, value: Known) -> None:
        with self._lock:
            self._items[signature] = value
            self._items.move_to_end(signature)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


def stored_stamp(cache: Cache, key: str, content: bytes) -> Stamp:
    """The stamp stored next to the value under ``key`` (made now if it has none)."""
    return Stamp.checked(cache.get(stamp_key(key)), content)


class HitReader:
    """Reads the tile cache without leaving the event loop.

    Redis: its own asyncio connection to the same server and keys as ``cache``, left alone
    for ``retry_after_s`` after a failure (``available`` is then False), never retried (redis-py
    retries for seconds by default). Its replies are given 1 s, as ``RedisCache``'s: under load
    an event loop busy with other requests took over 0.25 s to read one (bench/bench_load.py).
    In-process cache: a dict lookup.

    A tile comes with its stamp (its HTTP validators), read with it in one ``MGET`` and then
    remembered for ``STAMP_MEMORY_S``, during which a hit is one ``GET`` (``MGET``'s reply
    cost ~10 µs more in redis-py) whose length is checked against the stamp's.
    """

    def __init__(self, cache: Cache, redis_url: str | None, retry_after_s: float = 1.0) -> None:
        self._cache = cache
        self._redis: redis.asyncio.Redis | None = None
        if isinstance(cache, RedisCache) and redis_url:
            self._redis = redis.asyncio.Redis.from_url(
                redis_url,
                socket_timeout=1.0,
                socket_connect_timeout=1.0,
                retry=Retry(NoBackoff(), 0),  # redis-py's default retried for seconds
            )
        self._retry_after_s = retry_after_s
        self._down_until = 0.0
        self._stamps: dict[str, tuple[Stamp, float]] = {}  # key -> (stamp, known until)

    @property
    def available(self) -> bool:
        """False while the asyncio connection rests after a failure (the tile service then
        reads the cache from a thread)."""
        return self._redis is None or time.monotonic() >= self._down_until

    async def value(self, key: str) -> bytes | None:
        """The value under ``key`` (not a tile: no stamp), or None."""
        if self._redis is None:
            return self._cache.get(key)
        if time.monotonic() < self._down_until:
            return None
        try:
            return cast(bytes | None, await self._redis.get(key))
        except (RedisError, OSError):
            self._down_until = time.monotonic() + self._retry_after_s
            return None

    async def get(self, key: str) -> tuple[bytes, Stamp] | None:
        if self._redis is None:
            value = self._cache.get(key)
            return None if value is None else (value, stored_stamp(self._cache, key, value))
        now = time.monotonic()
        if now < self._down_until:
            return None
        known = self._stamps.get(key)
        try:
            if known is not None and now < known[1]:
                value = cast(bytes | None, await self._redis.get(key))
                if value is None:
                    return None
                if len(value) == known[0].length:
                    self._cache.stats.add("hits")
                    return value, known[0]
                # Rendered again since: its new stamp.
                raw_stamp = cast(bytes | None, await self._redis.get(stamp_key(key)))
            else:
                value, raw_stamp = cast(
                    list[bytes | None], await self._redis.mget(key, stamp_key(key))
                )
        except (RedisError, OSError):
            self._down_until = time.monotonic() + self._retry_after_s
            return None
        if value is None:
            return None
        self._cache.stats.add("hits")
        stamp = Stamp.checked(raw_stamp, value)
        if len(self._stamps) >= KNOWN_KEYS:
            self._stamps.clear()
        self._stamps[key] = (stamp, now + STAMP_MEMORY_S)
        return value, stamp
