"""The cache of rendered maps and tiles: in-process LRU or Redis (catalog answers have their
own, ``core/catalog/cached.py``).

Both backends implement ``Cache``. Keys come from ``make_key`` (versioned, hashed). Locks let
one caller (thread, process or replica) produce a missing value while the others wait for it
(``get_or_create``). The Redis backend degrades to "no cache" when Redis is down and comes
back by itself; it never raises on a Redis failure.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Protocol, cast
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

KEY_PREFIX = "cdsegw"


@dataclass
class CacheStats:
    """Thread-safe counters of cache operations (each ``get`` is one hit or one miss), and of
    ``get_or_create`` calls that waited for another caller's lock."""

    hits: int = 0
    misses: int = 0
    sets: int = 0
    errors: int = 0
    lock_waits: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str, count: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + count)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {
                "hits": self.hits,
                "misses": self.misses,
                "sets": self.sets,
                "errors": self.errors,
            }


class Cache(Protocol):
    """Bytes by key, with a time to live, and advisory locks to produce a value only once."""

    stats: CacheStats

    def get(self, key: str) -> bytes | None: ...
    def set(self, key: str, value: bytes, ttl_ms: int) -> None: ...
    def set_many(self, values: Mapping[str, bytes], ttl_ms: int) -> None: ...
    def acquire_lock(self, key: str, ttl_ms: int) -> bool: ...
    def lock_extender(self, key: str, ttl_ms: int) -> Callable[[], bool]: ...
    def release_lock(self, key: str) -> None: ...
    def close(self) -> None: ...


def _check_ttl(ttl_ms: int) -> None:
    if ttl_ms <= 0:
        raise ValueError(f"ttl_ms must be positive, not {ttl_ms}")


class _Tokens(threading.local):
    """Lock tokens held by the current thread, by key: a lock is released by its holder only."""

    def __init__(self) -> None:
        self.by_key: dict[str, str] = {}


# Canonical keys ----------------------------------------------------------------------


def _canonical(value: object) -> object:
    """A JSON-ready form in which equal requests are equal (floats to 12 significant digits)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, Enum):
        return _canonical(value.value)
    if isinstance(value, int):
        return value
    if hasattr(value, "tolist") and hasattr(value, "ndim"):  # numpy scalars and arrays
        return _canonical(value.tolist())
    if isinstance(value, float):
        if not math.isfinite(value):
            return repr(value)
        normal = float(f"{value:.12g}")
        return int(normal) if normal.is_integer() and abs(normal) < 2**53 else normal
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_canonical(v) for v in value), key=json.dumps)
    if hasattr(value, "model_dump"):  # pydantic models
        return _canonical(value.model_dump(mode="json"))
    raise TypeError(f"cannot make a cache key from {type(value).__name__}")


def make_key(namespace: str, parts: Mapping[str, object], *, version: int = 1) -> str:
    """``cdsegw:v{version}:{namespace}:{sha256[:32]}`` of the canonical JSON of ``parts``.

    Dict order does not matter; floats are compared to 12 significant digits (so 0.1,
    0.10000000000000001 and 0.1 + 1e-15 are one key) and 2.0 equals 2. Bump ``version``
    when the rendering of a namespace changes.
    """
    text = json.dumps(_canonical(parts), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
    return f"{KEY_PREFIX}:v{version}:{namespace}:{digest}"


# In-process backend ------------------------------------------------------------------


class MemoryCache:
    """An in-process LRU bounded by the total size of keys and values; thread-safe."""

    def __init__(self, max_bytes: int = 256 * 2**20) -> None:
        self.max_bytes = max_bytes
        self.stats = CacheStats()
        self._items: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._size = 0
        self._locks: dict[str, tuple[str, float]] = {}
        self._tokens = _Tokens()
        self._mutex = threading.Lock()

    @property
    def size(self) -> int:
        """Bytes held (keys and values)."""
        return self._size

    def get(self, key: str) -> bytes | None:
        now = time.monotonic()
        with self._mutex:
            item = self._items.get(key)
            if item is not None and item[1] <= now:
                self._drop(key)
                item = None
            if item is not None:
                self._items.move_to_end(key)
        self.stats.add("misses" if item is None else "hits")
        return None if item is None else item[0]

    def set(self, key: str, value: bytes, ttl_ms: int) -> None:
        _check_ttl(ttl_ms)
        value = bytes(value)
        cost = len(key) + len(value)
        with self._mutex:
            if key in self._items:
                self._drop(key)
            if cost > self.max_bytes:
                return
            while self._size + cost > self.max_bytes:
                self._drop(next(iter(self._items)))
            self._items[key] = (value, time.monotonic() + ttl_ms / 1000)
            self._size += cost
        self.stats.add("sets")

    def set_many(self, values: Mapping[str, bytes], ttl_ms: int) -> None:
        for key, value in values.items():
            self.set(key, value, ttl_ms)

    def _drop(self, key: str) -> None:
        value, _ = self._items.pop(key)
        self._size -= len(key) + len(value)

    def acquire_lock(self, key: str, ttl_ms: int) -> bool:
        _check_ttl(ttl_ms)
        now = time.monotonic()
        token = secrets.token_hex(16)
        with self._mutex:
            held = self._locks.get(key)
            if held is not None and held[1] > now:
                return False
            self._locks[key] = (token, now + ttl_ms / 1000)
        self._tokens.by_key[key] = token
        return True

    def lock_extender(self, key: str, ttl_ms: int) -> Callable[[], bool]:
        """A function that, from any thread, gives the calling thread's lock on ``key``
        ``ttl_ms`` more while it is still that lock (True), else does nothing (False)."""
        token = self._tokens.by_key.get(key)

        def extend() -> bool:
            now = time.monotonic()
            with self._mutex:
                held = self._locks.get(key)
                if token is None or held is None or held[0] != token or held[1] <= now:
                    return False
                self._locks[key] = (token, now + ttl_ms / 1000)
                return True

        return extend

    def release_lock(self, key: str) -> None:
        token = self._tokens.by_key.pop(key, None)
        with self._mutex:
            held = self._locks.get(key)
            if token is not None and held is not None and held[0] == token:
                del self._locks[key]

    def close(self) -> None:
        with self._mutex:
            self._items.clear()
            self._locks.clear()
            self._size = 0


# Redis backend -----------------------------------------------------------------------

# Deletes the lock only when it still holds our token (it may have expired and been retaken).
_RELEASE_SCRIPT = """
if redis.call("GET", KEYS[1]) == ARGV[1] then
    return redis.call("DEL", KEYS[1])
end
return 0
"""
# Gives the lock more time only while it still holds our token.
_EXTEND_SCRIPT = """
if redis.call("GET", KEYS[1]) == ARGV[1] then
    return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0
"""


def redact_url(url: str) -> str:
    """``url`` with its password (in the authority or a ``password=`` query) as ``***``."""
    parts = urlsplit(url)
    if parts.password is not None:
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        port = f":{parts.port}" if parts.port else ""
        parts = parts._replace(netloc=f"{parts.username or ''}:***@{host}{port}")
    if "password=" in parts.query:
        query = [
            f"{name}=***" if name == "password" else f"{name}={value}"
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        ]
        parts = parts._replace(query="&".join(query))
    return urlunsplit(parts)


class RedisCache:
    """Redis through a redis-py connection pool, shared by every process and replica.

    Keys are stored under ``prefix`` (keys from ``make_key`` already start with it); locks are
    ``{prefix}:lock:...`` keys set with ``SET NX PX``. On a connection error or timeout a call
    degrades (``get`` -> None, ``set`` -> no-op, ``acquire_lock`` -> True: render anyway) and
    Redis is left alone for ``retry_after_s`` so a dead Redis does not add a timeout to every
    tile; the next call after that tries again. The socket timeout is 1 s: under load a worker
    busy rendering took over 0.25 s to read a reply (bench/bench_tiles.py), and a spurious
    timeout turns metatile locking off for a second.
    """

    def __init__(
        self,
        url: str,
        *,
        socket_timeout: float = 1.0,
        prefix: str = KEY_PREFIX,
        retry_after_s: float = 1.0,
        max_connections: int = 64,
    ) -> None:
        self.prefix = prefix
        self.retry_after_s = retry_after_s
        self.stats = CacheStats()
        self._where = redact_url(url)
        self._pool = redis.ConnectionPool.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            retry=Retry(NoBackoff(), 0),
            max_connections=max_connections,
        )
        self._redis = redis.Redis(connection_pool=self._pool)
        self._release = self._redis.register_script(_RELEASE_SCRIPT)
        self._extend = self._redis.register_script(_EXTEND_SCRIPT)
        self._down_until = 0.0
        self._healthy = True
        self._quiet_until = 0.0  # other failures (OOM, READONLY...) are logged once a minute
        self._tokens = _Tokens()

    def _key(self, key: str) -> str:
        return key if key.startswith(f"{self.prefix}:") else f"{self.prefix}:{key}"

    def _lock_key(self, key: str) -> str:
        return f"{self.prefix}:lock:{self._key(key)[len(self.prefix) + 1 :]}"

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _succeeded(self) -> None:
        if not self._healthy:
            self._healthy = True
            log.info("redis cache at %s is available again", self._where)

    def _failed(self, action: str, exc: redis.RedisError) -> None:
        self.stats.add("errors")
        if not isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
            if time.monotonic() >= self._quiet_until:
                self._quiet_until = time.monotonic() + 60
                log.warning("redis cache at %s: %s failed: %s", self._where, action, exc)
            return
        self._down_until = time.monotonic() + self.retry_after_s
        if self._healthy:
            self._healthy = False
            log.warning(
                "redis cache at %s unavailable (%s on %s); rendering without it, retrying "
                "every %.1f s",
                self._where,
                type(exc).__name__,
                action,
                self.retry_after_s,
            )

    def get(self, key: str) -> bytes | None:
        value = None
        if self._available():
            try:
                value = cast(bytes | None, self._redis.get(self._key(key)))  # bytes client
            except redis.RedisError as exc:
                self._failed("get", exc)
            else:
                self._succeeded()
        self.stats.add("misses" if value is None else "hits")
        return value

    def set(self, key: str, value: bytes, ttl_ms: int) -> None:
        _check_ttl(ttl_ms)
        if not self._available():
            return
        try:
            self._redis.set(self._key(key), value, px=ttl_ms)
        except redis.RedisError as exc:
            self._failed("set", exc)
        else:
            self._succeeded()
            self.stats.add("sets")

    def set_many(self, values: Mapping[str, bytes], ttl_ms: int) -> None:
        """Store several values in one round trip (the tiles of a metatile)."""
        _check_ttl(ttl_ms)
        if not values or not self._available():
            return
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                for key, value in values.items():
                    pipe.set(self._key(key), value, px=ttl_ms)
                pipe.execute()
        except redis.RedisError as exc:
            self._failed("set", exc)
        else:
            self._succeeded()
            self.stats.add("sets", len(values))

    def acquire_lock(self, key: str, ttl_ms: int) -> bool:
        _check_ttl(ttl_ms)
        if not self._available():
            return True
        token = secrets.token_hex(16)
        try:
            acquired = bool(self._redis.set(self._lock_key(key), token, nx=True, px=ttl_ms))
        except redis.RedisError as exc:
            self._failed("lock", exc)
            return True
        self._succeeded()
        if acquired:
            self._tokens.by_key[key] = token
        return acquired

    def lock_extender(self, key: str, ttl_ms: int) -> Callable[[], bool]:
        """A function that, from any thread, gives the calling thread's lock on ``key``
        ``ttl_ms`` more while it is still that lock (True), else does nothing (False)."""
        token = self._tokens.by_key.get(key)

        def extend() -> bool:
            if token is None or not self._available():
                return False
            try:
                return bool(self._extend(keys=[self._lock_key(key)], args=[token, ttl_ms]))
            except redis.RedisError as exc:
                self._failed("extend lock", exc)
                return False

        return extend

    def release_lock(self, key: str) -> None:
        token = self._tokens.by_key.pop(key, None)
        if token is None or not self._available():
            return
        try:
            self._release(keys=[self._lock_key(key)], args=[token])
        except redis.RedisError as exc:
            self._failed("unlock", exc)

    def close(self) -> None:
        self._pool.disconnect()


# Using a cache -----------------------------------------------------------------------


class LockKeeper:
    """Extends a held lock every third of its TTL, from a thread of its own, until the
    ``with`` block ends (or the lock is no longer ours)."""

    def __init__(self, extend: Callable[[], bool], ttl_ms: int) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(extend, ttl_ms / 3000), name="cache-lock-keeper", daemon=True
        )

    def __enter__(self) -> LockKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # a late extension finds the lock released: it does nothing

    def _run(self, extend: Callable[[], bool], every_s: float) -> None:
        while not self._stop.wait(every_s):
            if not extend():
                return


def get_or_create(
    cache: Cache,
    key: str,
    produce: Callable[[], bytes],
    *,
    ttl_ms: int,
    lock_ttl_ms: int = 30000,
    wait_ms: int = 120000,
) -> tuple[bytes, bool]:
    """The cached value of ``key`` -> ``(value, True)``, else ``(produce(), False)``, cached.

    Of concurrent callers for one missing key, the one that gets the lock produces, its lock
    extended while it does (``LockKeeper``: it lasts as long as the production, however slow,
    and ``lock_ttl_ms`` past a holder that died); the others poll the cache until the value is
    there, the lock is free again (they take it over) or ``wait_ms`` has passed, then produce
    themselves. Under load a render took longer than the lock's TTL and the old 10 s wait, and
    a waiter rendered it again (bench/bench_load.py). Errors from ``produce`` propagate.
    """
    value = cache.get(key)
    if value is not None:
        return value, True
    deadline = time.monotonic() + wait_ms / 1000
    delay = 0.005
    waited = False
    while True:
        if cache.acquire_lock(key, lock_ttl_ms):
            try:
                # Another caller may have stored it between our get and our lock.
                value = cache.get(key)
                if value is not None:
                    return value, True
                with LockKeeper(cache.lock_extender(key, lock_ttl_ms), lock_ttl_ms):
                    value = produce()
                cache.set(key, value, ttl_ms)
                return value, False
            finally:
                cache.release_lock(key)
        if time.monotonic() >= deadline:
            break
        if not waited:
            waited = True
            cache.stats.add("lock_waits")
        time.sleep(delay)
        delay = min(delay * 2, 0.025)
        value = cache.get(key)
        if value is not None:
            return value, True
    value = produce()
    cache.set(key, value, ttl_ms)
    return value, False


def create_cache(redis_url: str | None, *, memory_max_bytes: int = 256 * 2**20) -> Cache:
    """A RedisCache when ``redis_url`` is given (no connection yet), else a MemoryCache."""
    if redis_url:
        return RedisCache(redis_url)
    return MemoryCache(memory_max_bytes)
