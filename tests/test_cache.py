"""gateway.core.cache: one suite for every backend, then Redis failure and key tests."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from gateway.core.cache import (
    Cache,
    MemoryCache,
    RedisCache,
    create_cache,
    get_or_create,
    make_key,
    redact_url,
)
from tests.support.redis_server import RedisServer

KEY = make_key("test", {"layer": "NDVI", "z": 3, "x": 1, "y": 2})


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's Redis, running and empty."""
    redis_server.start()  # a failed test may have left it stopped
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    return redis_server.url


@pytest.fixture
def redis_cache(redis_url: str) -> Iterator[RedisCache]:
    cache = RedisCache(redis_url, retry_after_s=0.2)
    yield cache
    cache.close()


@pytest.fixture(params=["memory", "redis"])
def cache(request: pytest.FixtureRequest) -> Iterator[Cache]:
    if request.param == "memory":
        backend: Cache = MemoryCache(max_bytes=2**20)
        yield backend
        backend.close()
    else:
        yield request.getfixturevalue("redis_cache")


def in_thread(function: Callable[[], object]) -> object:
    """Run ``function`` in another thread (another lock owner) and return its result."""
    result: list[object] = []
    worker = threading.Thread(target=lambda: result.append(function()))
    worker.start()
    worker.join(10)
    return result[0]


# The shared suite --------------------------------------------------------------------


def test_set_then_get(cache: Cache) -> None:
    cache.set(KEY, b"tile", ttl_ms=60_000)
    assert cache.get(KEY) == b"tile"
    assert cache.stats.snapshot() == {"hits": 1, "misses": 0, "sets": 1, "errors": 0}


def test_set_many_stores_each_value_with_its_ttl(cache: Cache) -> None:
    values = {KEY: b"a", KEY + "-2": b"bb", KEY + "-3": b""}
    cache.set_many(values, ttl_ms=50)
    cache.set_many({}, ttl_ms=50)
    assert {key: cache.get(key) for key in values} == values
    assert cache.stats.sets == 3
    time.sleep(0.15)
    assert all(cache.get(key) is None for key in values)


def test_missing_key_is_a_miss(cache: Cache) -> None:
    assert cache.get(make_key("test", {"absent": True})) is None
    assert cache.stats.misses == 1 and cache.stats.hits == 0


def test_values_expire_after_their_ttl(cache: Cache) -> None:
    cache.set(KEY, b"short", ttl_ms=50)
    cache.set(KEY + "-long", b"long", ttl_ms=60_000)
    time.sleep(0.15)
    assert cache.get(KEY) is None
    assert cache.get(KEY + "-long") == b"long"


def test_set_overwrites(cache: Cache) -> None:
    cache.set(KEY, b"first", ttl_ms=60_000)
    cache.set(KEY, b"second value", ttl_ms=60_000)
    assert cache.get(KEY) == b"second value"


@pytest.mark.parametrize(
    "value",
    [bytes(range(256)) * 64, b"\x89PNG\r\n\x1a\n\x00\x00", b""],
    ids=["bytes", "png", "empty"],
)
def test_binary_values_round_trip(cache: Cache, value: bytes) -> None:
    cache.set(KEY, value, ttl_ms=60_000)
    assert cache.get(KEY) == value


def test_ttl_must_be_positive(cache: Cache) -> None:
    with pytest.raises(ValueError):
        cache.set(KEY, b"x", ttl_ms=0)


def test_lock_is_exclusive_until_released(cache: Cache) -> None:
    assert cache.acquire_lock(KEY, ttl_ms=10_000)
    assert in_thread(lambda: cache.acquire_lock(KEY, ttl_ms=10_000)) is False
    assert cache.acquire_lock(KEY + "-other", ttl_ms=10_000)  # locks are per key
    cache.release_lock(KEY)
    assert in_thread(lambda: cache.acquire_lock(KEY, ttl_ms=10_000)) is True


def test_lock_expires_by_ttl(cache: Cache) -> None:
    assert cache.acquire_lock(KEY, ttl_ms=100)
    assert in_thread(lambda: cache.acquire_lock(KEY, ttl_ms=10_000)) is False
    time.sleep(0.2)
    assert in_thread(lambda: cache.acquire_lock(KEY, ttl_ms=10_000)) is True


def test_release_only_frees_our_own_lock(cache: Cache) -> None:
    assert cache.acquire_lock(KEY, ttl_ms=10_000)
    in_thread(lambda: cache.release_lock(KEY))  # not the holder: no effect
    assert in_thread(lambda: cache.acquire_lock(KEY, ttl_ms=10_000)) is False
    cache.release_lock(KEY)

    # Our lock expires and another caller takes it: our late release must not free theirs.
    assert cache.acquire_lock(KEY, ttl_ms=100)
    time.sleep(0.2)
    assert in_thread(lambda: cache.acquire_lock(KEY, ttl_ms=10_000)) is True
    cache.release_lock(KEY)
    assert in_thread(lambda: cache.acquire_lock(KEY, ttl_ms=10_000)) is False


def test_get_or_create_produces_once_for_concurrent_callers(cache: Cache) -> None:
    calls = 0
    calls_lock = threading.Lock()
    start = threading.Barrier(8)
    results: list[tuple[bytes, bool]] = []

    def produce() -> bytes:
        nonlocal calls
        with calls_lock:
            calls += 1
        time.sleep(0.2)
        return b"rendered"

    def caller() -> None:
        start.wait()
        results.append(get_or_create(cache, KEY, produce, ttl_ms=60_000))

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert calls == 1
    assert sorted(results) == [(b"rendered", False)] + [(b"rendered", True)] * 7
    assert cache.stats.lock_waits == 7  # each waited once for the producer's lock
    assert get_or_create(cache, KEY, produce, ttl_ms=60_000) == (b"rendered", True)


def test_get_or_create_releases_the_lock_when_produce_fails(cache: Cache) -> None:
    def broken() -> bytes:
        raise RuntimeError("render failed")

    with pytest.raises(RuntimeError):
        get_or_create(cache, KEY, broken, ttl_ms=60_000)
    started = time.monotonic()
    assert get_or_create(cache, KEY, lambda: b"ok", ttl_ms=60_000) == (b"ok", False)
    assert time.monotonic() - started < 1


def test_get_or_create_gives_up_waiting_after_wait_ms(cache: Cache) -> None:
    assert in_thread(lambda: cache.acquire_lock(KEY, ttl_ms=10_000))  # a stuck producer
    started = time.monotonic()
    value = get_or_create(cache, KEY, lambda: b"mine", ttl_ms=60_000, wait_ms=200)
    assert value == (b"mine", False)
    assert 0.2 <= time.monotonic() - started < 1.5


# Keys --------------------------------------------------------------------------------

PARTS = {
    "layer": "NDVI",
    "bbox": [0.1, 45.25, 1.5, 46.0],
    "crs": "EPSG:4326",
    "time": "2024-06-01/2024-06-30",
    "size": (256, 256),
    "format": "png",
    "options": {"maxcc": 20, "priority": "mostRecent"},
}


def test_key_shape() -> None:
    key = make_key("wms", PARTS, version=3)
    assert re.fullmatch(r"cdsegw:v3:wms:[0-9a-f]{32}", key)


def test_key_is_stable_across_dict_order() -> None:
    shuffled = dict(reversed(list(PARTS.items())))
    shuffled["options"] = {"priority": "mostRecent", "maxcc": 20}
    assert make_key("wms", shuffled) == make_key("wms", PARTS)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("layer", "NDWI"),
        ("bbox", [0.1, 45.25, 1.5, 46.000001]),
        ("crs", "EPSG:3857"),
        ("time", "2024-06-01/2024-07-01"),
        ("size", (512, 256)),
        ("format", "jpeg"),
        ("options", {"maxcc": 30, "priority": "mostRecent"}),
    ],
)
def test_key_changes_with_every_part(name: str, value: object) -> None:
    assert make_key("wms", {**PARTS, name: value}) != make_key("wms", PARTS)


def test_key_changes_with_namespace_version_and_new_parts() -> None:
    base = make_key("wms", PARTS)
    assert make_key("wmts", PARTS) != base
    assert make_key("wms", PARTS, version=2) != base
    assert make_key("wms", {**PARTS, "extra": None}) != base


def test_key_normalises_floats() -> None:
    assert make_key("k", {"v": 0.1}) == make_key("k", {"v": 0.10000000000000001})
    assert make_key("k", {"v": 0.1 + 0.2}) == make_key("k", {"v": 0.3})
    assert make_key("k", {"v": 2.0}) == make_key("k", {"v": 2})
    assert make_key("k", {"v": -0.0}) == make_key("k", {"v": 0})
    assert make_key("k", {"v": 0.1}) != make_key("k", {"v": 0.1001})


def test_key_accepts_numpy_scalars() -> None:
    import numpy

    assert make_key("k", {"v": numpy.float64(0.5), "n": numpy.int32(3)}) == make_key(
        "k", {"v": 0.5, "n": 3}
    )


def test_key_rejects_unknown_types() -> None:
    with pytest.raises(TypeError):
        make_key("k", {"v": object()})


# The memory backend ------------------------------------------------------------------


def test_memory_cache_evicts_least_recently_used_by_bytes() -> None:
    cache = MemoryCache(max_bytes=1000)
    keys = [f"k{i}" for i in range(4)]  # 2-byte keys, 298-byte values: 300 bytes each
    for key in keys[:3]:
        cache.set(key, b"x" * 298, ttl_ms=60_000)
    assert cache.size == 900
    assert cache.get("k0") is not None  # k0 is now the most recent, k1 the least
    cache.set(keys[3], b"y" * 298, ttl_ms=60_000)
    assert cache.get("k1") is None
    assert all(cache.get(key) is not None for key in ("k0", "k2", "k3"))
    assert cache.size == 900
    cache.set("big", b"z" * 2000, ttl_ms=60_000)  # larger than the whole cache: not kept
    assert cache.get("big") is None and cache.size == 900


def test_create_cache_picks_the_backend() -> None:
    assert isinstance(create_cache(None), MemoryCache)
    assert create_cache(None, memory_max_bytes=123).max_bytes == 123  # type: ignore[attr-defined]
    remote = create_cache("redis://127.0.0.1:1/0")  # no connection is made here
    assert isinstance(remote, RedisCache)
    remote.close()


# The Redis backend -------------------------------------------------------------------


def test_redis_values_carry_a_px_ttl(redis_cache: RedisCache, redis_url: str) -> None:
    redis_cache.set(KEY, b"tile", ttl_ms=60_000)
    assert redis_cache.acquire_lock(KEY, ttl_ms=30_000)
    with redis.Redis.from_url(redis_url) as client:
        assert client.get(KEY) == b"tile"
        assert 59_000 < client.pttl(KEY) <= 60_000
        lock_keys = [key.decode() for key in client.keys("cdsegw:lock:*")]
        assert lock_keys == [KEY.replace("cdsegw:", "cdsegw:lock:", 1)]
        assert 29_000 < client.pttl(lock_keys[0]) <= 30_000


def test_redis_prefixes_foreign_keys(redis_cache: RedisCache, redis_url: str) -> None:
    redis_cache.set("plain", b"v", ttl_ms=60_000)
    with redis.Redis.from_url(redis_url) as client:
        assert client.get("cdsegw:plain") == b"v"


def test_redis_down_degrades_and_recovers(
    redis_server: RedisServer, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    password_url = redis_url.replace("redis://", "redis://gateway:s3cret@")
    cache = RedisCache(password_url, retry_after_s=0.2)
    redis_server.stop()
    try:
        with caplog.at_level(logging.WARNING, logger="gateway.core.cache"):
            started = time.monotonic()
            assert cache.get(KEY) is None
            cache.set(KEY, b"tile", ttl_ms=60_000)  # does not raise
            cache.set_many({KEY: b"tile"}, ttl_ms=60_000)
            assert cache.acquire_lock(KEY, ttl_ms=1000)  # render anyway
            cache.release_lock(KEY)
            value = get_or_create(cache, KEY, lambda: b"fresh", ttl_ms=60_000)
            assert value == (b"fresh", False)
            assert time.monotonic() - started < 1
        assert cache.stats.errors >= 1 and cache.stats.misses >= 2
        assert cache.stats.hits == 0 and cache.stats.sets == 0
        assert caplog.records and all(r.levelno == logging.WARNING for r in caplog.records)
        assert "s3cret" not in caplog.text and "gateway:***@127.0.0.1" in caplog.text
    finally:
        redis_server.start()
    with redis.Redis.from_url(redis_url) as client:
        client.execute_command("ACL", "SETUSER", "gateway", "on", ">s3cret", "~*", "+@all")
    try:
        time.sleep(0.25)  # past the back-off
        cache.set(KEY, b"tile", ttl_ms=60_000)
        assert cache.get(KEY) == b"tile"
        assert cache.stats.hits == 1 and cache.stats.sets == 1
    finally:
        cache.close()
        with redis.Redis.from_url(redis_url) as client:
            client.execute_command("ACL", "DELUSER", "gateway")


def test_redis_backs_off_after_a_failure(redis_server: RedisServer, redis_url: str) -> None:
    cache = RedisCache(redis_url, retry_after_s=0.3)
    redis_server.stop()
    try:
        assert cache.get(KEY) is None
        errors = cache.stats.errors
        assert cache.get(KEY) is None and cache.acquire_lock(KEY, ttl_ms=1000)
        assert cache.stats.errors == errors  # Redis was not tried again within the back-off
    finally:
        redis_server.start()
    assert cache.get(KEY) is None  # still backing off
    time.sleep(0.35)
    cache.set(KEY, b"back", ttl_ms=60_000)
    assert cache.get(KEY) == b"back"
    cache.close()


def test_redis_timeout_is_bounded(redis_server: RedisServer, redis_url: str) -> None:
    cache = RedisCache(redis_url, socket_timeout=0.2, retry_after_s=0.2)
    cache.set(KEY, b"tile", ttl_ms=60_000)
    redis_server.pause()
    try:
        started = time.monotonic()
        assert cache.get(KEY) is None
        assert time.monotonic() - started < 0.6
        assert cache.stats.errors == 1
    finally:
        redis_server.resume()
    time.sleep(0.25)
    assert cache.get(KEY) == b"tile"
    cache.close()


def test_redact_url() -> None:
    assert redact_url("redis://:pw@host:6379/0") == "redis://:***@host:6379/0"
    assert redact_url("rediss://user:pw@[::1]:6380") == "rediss://user:***@[::1]:6380"
    assert redact_url("redis://host:6379/0") == "redis://host:6379/0"
    assert redact_url("redis://host/0?password=pw&db=1") == "redis://host/0?password=***&db=1"


def test_a_lock_lasts_as_long_as_its_holder_produces(cache: Cache) -> None:
    """A production that outlasts the lock's TTL keeps its lock (extended while it runs): a
    waiter gets its value instead of taking the lock over and producing it again (under load,
    renders outlasted the lock and blocks were rendered twice, bench/bench_load.py)."""
    calls = 0
    first: list[tuple[bytes, bool]] = []

    def produce() -> bytes:
        nonlocal calls
        calls += 1
        time.sleep(1.0)
        return b"slow"

    holder = threading.Thread(
        target=lambda: first.append(
            get_or_create(cache, KEY, produce, ttl_ms=60_000, lock_ttl_ms=300)
        )
    )
    holder.start()
    time.sleep(0.1)
    second = get_or_create(cache, KEY, produce, ttl_ms=60_000, lock_ttl_ms=300)
    holder.join(10)
    assert calls == 1
    assert first == [(b"slow", False)]
    assert second == (b"slow", True)
    # Released once produced: the next holder takes it at once.
    assert cache.acquire_lock(KEY, ttl_ms=10_000)
    cache.release_lock(KEY)


def test_a_lock_of_a_holder_that_stopped_producing_expires(cache: Cache) -> None:
    """Only the holder's production extends its lock: a lock taken and then abandoned
    (its process died) frees after its TTL."""
    assert cache.acquire_lock(KEY, ttl_ms=200)
    extend = cache.lock_extender(KEY, 200)
    assert extend() is True
    assert in_thread(lambda: cache.lock_extender(KEY, 10_000)()) is False  # not the holder's
    time.sleep(0.3)
    assert extend() is False  # expired: no longer ours to extend
    assert in_thread(lambda: cache.acquire_lock(KEY, ttl_ms=10_000)) is True
