"""The event loop's Redis connections for cache hits are opened when a worker starts
(``GATEWAY_HIT_CONNECTIONS``, ``HitReader.open``): the first wave of hits after a start or a
deploy waits for no connection to open (bench/bench_first_hits.py)."""

from __future__ import annotations

import asyncio
import logging
import time

import redis

from gateway.core.tiles.hits import CLIENT_NAME, HitReader
from gateway.core.tiles.service import TileAddress, TileParams, tile_key
from gateway.runtime import build_runtime, with_config
from tests.support.gateway_server import GatewayServer
from tests.support.ports import free_port

DAY = "2025-05-29"
WAVE = 12


def _hit_connections(client: redis.Redis, name: str) -> int:
    """Connections to Redis whose CLIENT LIST name starts with ``name``: a reader's own
    (``HitReader.client_name``), or those of a process's readers (``CLIENT_NAME-<pid>-``)."""
    names = [entry.get("name", "") for entry in client.client_list()]
    return sum(1 for n in names if n == name or (name.endswith("-") and n.startswith(name)))


def test_a_served_worker_opens_its_hit_connections_when_it_starts(
    sample_archive, redis_server, tmp_path
):
    redis_server.start()
    env = {
        "GATEWAY_DATA_DIR": str(sample_archive),
        "GATEWAY_REDIS_URL": redis_server.url,
        "GATEWAY_HIT_CONNECTIONS": "6",
    }
    with redis.Redis.from_url(redis_server.url) as client:
        server = GatewayServer(env, tmp_path / "server.log").start()  # one worker: the pid
        assert server.process is not None
        worker = f"{CLIENT_NAME}-{server.process.pid}-"
        try:
            opened = _hit_connections(client, worker)  # no request asked yet
        finally:
            server.stop()
        deadline = time.monotonic() + 10
        while _hit_connections(client, worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = _hit_connections(client, worker)
    assert opened == 6
    assert left == 0  # closed with the worker


def test_a_first_wave_of_hits_opens_no_connection(sample_settings, redis_server):
    """``WAVE`` hits read at once after ``open`` take the idle connections it opened: none
    is opened meanwhile (without it, each read of the wave opened its own)."""
    redis_server.start()
    runtime = build_runtime(sample_settings.model_copy(update={"redis_url": redis_server.url}))
    asked = TileAddress("NDVI", "WebMercatorQuad", 12, 2116, 1340, "png")
    try:
        rendered = runtime.tiles.render(asked, TileParams(time=DAY))
        key = tile_key(runtime.tiles.request(asked, TileParams(time=DAY)))
        reader = HitReader(runtime.cache, redis_server.url)
        with redis.Redis.from_url(redis_server.url) as client:

            async def wave() -> tuple[int, int, list]:
                opened = await reader.open(WAVE)
                ready = _hit_connections(client, reader.client_name)
                hits = await asyncio.gather(*(reader.get(key) for _ in range(WAVE)))
                return opened, ready, hits

            opened, ready, hits = asyncio.run(wave())
            after = _hit_connections(client, reader.client_name)
    finally:
        runtime.close()
    assert opened == ready == WAVE
    assert after == WAVE, f"the wave opened {after - WAVE} connections of its own"
    assert all(hit is not None and hit[0] == rendered.content for hit in hits)


def test_a_redis_that_does_not_answer_is_left_to_the_reads(sample_settings, caplog):
    """No Redis to open connections to: ``open`` gives up within its time, says so in one
    warning line (no traceback) and raises nothing; the reader still works (it rests)."""
    runtime = build_runtime(sample_settings.model_copy(update={"redis_url": None}))
    try:
        from gateway.core.cache import RedisCache

        nowhere = f"redis://127.0.0.1:{free_port()}/0"
        reader = HitReader(RedisCache(nowhere), nowhere)
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="gateway.core.tiles.hits"):
            opened = asyncio.run(reader.open(4))
        took = time.monotonic() - started
    finally:
        runtime.close()
    assert opened == 0 and took < 5
    warnings = [r for r in caplog.records if r.name == "gateway.core.tiles.hits"]
    assert len(warnings) == 1 and warnings[0].exc_info is None
    assert "0 of 4 connections" in warnings[0].getMessage()


def test_the_doors_built_again_keep_the_open_connections(sample_settings, redis_server):
    """Collections ingested while serving rebuild the tile service (``with_config``): it
    reads hits through the same reader, so the connections opened at start stay in use."""
    redis_server.start()
    runtime = build_runtime(sample_settings.model_copy(update={"redis_url": redis_server.url}))
    try:
        again = with_config(runtime, runtime.config)
        assert again.tiles is not runtime.tiles
        assert again.tiles.hits is runtime.tiles.hits
    finally:
        runtime.close()
