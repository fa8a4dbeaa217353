"""What the tile service remembers to answer a cache hit without leaving the event loop: the
keys tile requests resolved to (``KnownKeys``) and the cache read on an asyncio connection
(``HitReader``)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
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
# The asyncio connections' name in Redis's CLIENT LIST: this, the process id and the reader's
# number in the process.
CLIENT_NAME = "cdse-gateway-hits"
_readers = itertools.count(1)
OPEN_TIMEOUT_S = 2.0

log = logging.getLogger(__name__)


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

    Its pool opens a connection per concurrent read when none is idle: ``open`` opens them
    beforehand (the first wave of hits after a start then waits for none: bench_first_hits).
    """

    def __init__(self, cache: Cache, redis_url: str | None, retry_after_s: float = 1.0) -> None:
        self._cache = cache
        self._redis: redis.asyncio.Redis | None = None
        self.client_name = f"{CLIENT_NAME}-{os.getpid()}-{next(_readers)}"
        if isinstance(cache, RedisCache) and redis_url:
            self._redis = redis.asyncio.Redis.from_url(
                redis_url,
                socket_timeout=1.0,
                socket_connect_timeout=1.0,
                retry=Retry(NoBackoff(), 0),  # redis-py's default retried for seconds
                client_name=self.client_name,
            )
        self._retry_after_s = retry_after_s
        self._down_until = 0.0
        self._stamps: dict[str, tuple[Stamp, float]] = {}  # key -> (stamp, known until)

    async def open(self, connections: int) -> int:
        """Open up to ``connections`` idle connections in the pool within ``OPEN_TIMEOUT_S``;
        how many are open. A failure is logged once and left to the reads (which fall back to
        a thread while the connection rests)."""
        if self._redis is None or connections <= 0:
            return 0
        pool = self._redis.connection_pool
        opening = [asyncio.ensure_future(pool.get_connection()) for _ in range(connections)]
        done, pending = await asyncio.wait(opening, timeout=OPEN_TIMEOUT_S)
        for future in pending:
            future.cancel()
        opened = [f.result() for f in done if not f.cancelled() and f.exception() is None]
        for connection in opened:
            await pool.release(connection)
        if len(opened) < connections:
            failed = next((f.exception() for f in done if f.exception() is not None), None)
            log.warning(
                "tile cache: %d of %d connections opened at start (%s)",
                len(opened),
                connections,
                failed or f"not within {OPEN_TIMEOUT_S:g} s",
            )
        return len(opened)

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
