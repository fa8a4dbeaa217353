"""The core's tile service, shared by WMTS, WMS, OGC API Tiles and seeding: its tile matrix
sets are those MapProxy lists in the capabilities, and OGC API tiles are the WMTS tiles (same
bytes, same cache entry, rendered with their metatile block once, waiting for it in-process).
A live gateway with both doors, backed by a real redis-server, asked over HTTP.
"""

from __future__ import annotations

import asyncio
import threading
import time
from copy import deepcopy
from dataclasses import replace

import httpx
import pytest
import redis
from mapproxy.config.config import local_base_config
from mapproxy.config.configuration.proxy import ProxyConfiguration

from gateway.core.tiles.grids import SETS, TileAddress, TileGrids
from gateway.core.tiles.hits import HitReader
from gateway.core.tiles.service import TileParams, tile_key
from gateway.ows.mapproxy.config import GRIDS
from gateway.runtime import build_runtime
from tests.support.mapproxy_live import CountingCompute, LiveServer
from tests.support.ports import free_port

DOORS = ("gateway.ows.mapproxy.door:build_door", "gateway.ogcapi.door:build_door")
# A 2x2 metatile block of zoom 12 over the sample area (x even, y even at its top left).
Z, X, Y = 12, 2116, 1340
BLOCK = [(X, Y), (X + 1, Y), (X, Y + 1), (X + 1, Y + 1)]
DAY = "2025-05-29"


def test_the_core_grids_are_the_sets_mapproxy_lists_in_the_capabilities():
    """Same names, levels, matrix sizes, resolutions and tile bounds (to a millionth of a
    pixel) as MapProxy's grids of ``GRIDS``, which describe the sets in the capabilities."""
    proxy = ProxyConfiguration({"grids": deepcopy(GRIDS)}, conf_base_dir=".")
    with local_base_config(proxy.base_config):
        theirs = {name: proxy.grids[name].tile_grid() for name in GRIDS}
    ours = TileGrids()
    assert set(ours) == set(theirs) == set(SETS)
    for name, grid in ours.items():
        other = theirs[name]
        assert (grid.levels, grid.tile_size) == (other.levels, tuple(other.tile_size))
        assert grid.crs == other.srs.srs_code
        for z in range(grid.levels):
            columns, rows = grid.matrix_size(z)
            assert (columns, rows) == tuple(other.grid_sizes[z]), (name, z)
            assert grid.resolution(z) == pytest.approx(other.resolution(z), rel=1e-12)
            for x, y in {(0, 0), (columns - 1, rows - 1), (columns // 3, rows // 2)}:
                ours_bbox, theirs_bbox = grid.tile_bbox(x, y, z), other.tile_bbox((x, y, z))
                assert ours_bbox == pytest.approx(theirs_bbox, abs=1e-6 * grid.resolution(z))


@pytest.fixture(scope="module")
def live(sample_settings, redis_server):
    redis_server.start()
    runtime = build_runtime(sample_settings.model_copy(update={"redis_url": redis_server.url}))
    server = LiveServer(runtime, doors=DOORS).start()
    yield server
    server.stop()
    runtime.close()


def _ogcapi(live, x: int, y: int, maxcc: str) -> httpx.Response:
    url = f"{live.url}/ogcapi/collections/NDVI/tiles/WebMercatorQuad/{Z}/{y}/{x}"
    answer = httpx.get(url, params={"f": "png", "datetime": DAY, "maxcc": maxcc}, timeout=60)
    assert answer.status_code == 200, answer.text[:300]
    return answer


def _wmts(live, x: int, y: int, maxcc: str) -> httpx.Response:
    url = f"{live.url}/wmts/1.0.0/NDVI/WebMercatorQuad/{DAY}/{Z}/{x}/{y}.png"
    answer = httpx.get(url, params={"MAXCC": maxcc}, timeout=60)
    assert answer.status_code == 200, answer.text[:300]
    return answer


class CountingLocks:
    """Counts the cache lock attempts of a runtime (a waiter polling the lock takes many)."""

    def __init__(self, runtime) -> None:
        self.cache = runtime.cache
        self.calls = 0
        self._lock = threading.Lock()

    def __enter__(self) -> CountingLocks:
        original = self.cache.acquire_lock

        def counted(key: str, ttl_ms: int) -> bool:
            with self._lock:
                self.calls += 1
            return original(key, ttl_ms)

        self.cache.acquire_lock = counted
        return self

    def __exit__(self, *exc: object) -> None:
        del self.cache.acquire_lock  # back to the class's method


def _at_once(calls) -> list:
    """Run the calls in threads started together; their results in order."""
    start = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index: int) -> None:
        start.wait()
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_ogcapi_requests_for_tiles_of_one_block_wait_for_its_one_render(live):
    """The block renders once; the other requests wait for it in this process: one cache lock
    taken, none polled."""
    maxcc = "77"  # parameters no other test uses
    with (
        CountingCompute(live.runtime, delay_s=0.5) as computed,
        CountingLocks(live.runtime) as locks,
    ):
        answers = _at_once([lambda x=x, y=y: _ogcapi(live, x, y, maxcc) for x, y in BLOCK])
    assert computed.calls == 1
    assert locks.calls == 1
    for (x, y), answer in zip(BLOCK, answers, strict=True):
        assert _wmts(live, x, y, maxcc).content == answer.content


def test_an_ogcapi_tile_is_the_wmts_tile_under_the_same_key(live, redis_server):
    """Same bytes, one cache entry (the WMTS door answers the OGC API's render as a hit), and
    requests of both doors at once render the block once."""
    maxcc = "78"
    with CountingCompute(live.runtime, delay_s=0.5) as computed:
        ogcapi, wmts = _at_once(
            [lambda: _ogcapi(live, X, Y, maxcc), lambda: _wmts(live, X, Y, maxcc)]
        )
    assert computed.calls == 1
    assert ogcapi.content == wmts.content
    address = TileAddress("NDVI", "WebMercatorQuad", Z, X, Y, "png")
    key = tile_key(live.runtime.tiles.request(address, TileParams(time=DAY, maxcc=maxcc)))
    with redis.Redis.from_url(redis_server.url) as client:
        assert client.get(key) == ogcapi.content
    # The next block's tile, first through OGC API: WMTS then finds it in the cache.
    first = _ogcapi(live, X + 2, Y, maxcc)
    second = _wmts(live, X + 2, Y, maxcc)
    assert second.headers["x-cache"] == "hit"
    assert second.content == first.content


@pytest.fixture
def two_processes(sample_settings, redis_server):
    """Two runtimes on one Redis, as two gateway processes or replicas are."""
    redis_server.start()
    settings = sample_settings.model_copy(update={"redis_url": redis_server.url})
    one, two = build_runtime(settings), build_runtime(settings)
    yield one, two
    one.close()
    two.close()


def _hit_while_the_render_slots_are_busy(runtime, asked: TileAddress, params: TileParams):
    """Ask ``asked`` (cached) of ``runtime``'s tile service from the event loop while both its
    render slots are taken by slow renders of other blocks: the tile and how long it took."""
    slow = [TileAddress("NDVI", "WebMercatorQuad", Z, X + 2 * i, Y + 2, "png") for i in (1, 2)]

    async def ask() -> tuple[object, float]:
        renders = [asyncio.create_task(runtime.tiles.tile(a, params)) for a in slow]
        await asyncio.sleep(0.3)  # both render slots taken
        started = time.monotonic()
        tile = await asyncio.wait_for(runtime.tiles.tile(asked, params), timeout=10)
        waited = time.monotonic() - started
        assert not any(r.done() for r in renders), "the slow renders ended first"
        await asyncio.gather(*renders)
        return tile, waited

    with CountingCompute(runtime, delay_s=3.0) as computed:
        tile, waited = asyncio.run(ask())
    assert computed.calls == len(slow)
    return tile, waited


def test_a_tile_another_process_rendered_is_a_hit_while_the_render_slots_are_busy(
    two_processes,
):
    """A process that has never seen a tile another process rendered into the shared Redis
    answers it from the cache at once, even while its render slots are taken by long renders
    (it used to resolve the tile's key in a render slot: behind them, for as long as they took;
    under load a cached tile waited seconds, bench/bench_load.py)."""
    one, two = two_processes
    params = TileParams(time=DAY, maxcc="79")
    asked = TileAddress("NDVI", "WebMercatorQuad", Z, X, Y, "png")
    rendered = one.tiles.render(asked, params)  # by the other process
    tile, waited = _hit_while_the_render_slots_are_busy(two, asked, params)
    assert tile.cached and tile.content == rendered.content
    assert waited < 1.0, f"a cached tile waited {waited:.2f} s for a render slot"


def test_a_known_tile_is_a_hit_while_the_event_loop_connection_rests(
    sample_settings, redis_server, monkeypatch
):
    """When the event loop's own Redis connection failed (under load its replies timed out)
    and rests, a cached tile is read from a worker thread, not queued behind the renders for
    a render slot."""
    redis_server.start()
    runtime = build_runtime(sample_settings.model_copy(update={"redis_url": redis_server.url}))
    params = TileParams(time=DAY, maxcc="80")
    asked = TileAddress("NDVI", "WebMercatorQuad", Z, X, Y, "png")
    try:
        rendered = runtime.tiles.render(asked, params)  # its key is known in this process
        # Its event loop reads from a Redis that does not answer: it fails, then rests.
        nowhere = HitReader(runtime.cache, f"redis://127.0.0.1:{free_port()}/0")
        monkeypatch.setattr(runtime.tiles, "_hits", nowhere)
        tile, waited = _hit_while_the_render_slots_are_busy(runtime, asked, params)
    finally:
        runtime.close()
    assert tile.cached and tile.content == rendered.content
    assert waited < 1.0, f"a cached tile waited {waited:.2f} s for a render slot"


class Counting:
    """Records the calls of one method of an object (replaced on the instance meanwhile)."""

    def __init__(self, owner: object, name: str) -> None:
        self.owner, self.name = owner, name
        self.calls: list[tuple] = []

    def __enter__(self) -> Counting:
        original = getattr(self.owner, self.name)

        def counted(*args):
            self.calls.append(args)
            return original(*args)

        setattr(self.owner, self.name, counted)
        return self

    def __exit__(self, *exc: object) -> None:
        delattr(self.owner, self.name)  # back to the class's method


def _shared_mappings(redis_server) -> set[bytes]:
    with redis.Redis.from_url(redis_server.url) as client:
        return set(client.scan_iter(match="cdsegw:v1:tilekey:*"))


def test_a_tile_another_process_rendered_is_answered_on_the_event_loop_without_its_request(
    two_processes, redis_server
):
    """The process that renders a block shares what each of its tiles' requests resolved to
    (one mapping a tile, with the tiles): another process answers any of them from the event
    loop as a hit without building a render request; a request of other parameters or of
    another layer at the same address does not read that mapping (it resolves its own key)."""
    one, two = two_processes
    params = TileParams(time=DAY, maxcc="71")
    block = [TileAddress("NDVI", "WebMercatorQuad", Z, x, y + 4, "png") for x, y in BLOCK]
    before = _shared_mappings(redis_server)
    rendered = [one.tiles.render(a, params) for a in block]  # the first renders the block
    assert not rendered[0].cached and all(t.cached for t in rendered[1:])
    assert len(_shared_mappings(redis_server) - before) == len(block)
    loop = asyncio.new_event_loop()  # one loop: the service's Redis connection is its
    with Counting(two.tiles, "request") as built:
        tiles = [loop.run_until_complete(two.tiles.tile(a, params)) for a in block]
    assert not built.calls
    assert [t.content for t in tiles] == [t.content for t in rendered]
    assert all(t.cached for t in tiles)
    # Another spelling of the same tile resolves its key (a hit) and adds no mapping.
    after = _shared_mappings(redis_server)
    spelt = TileParams(time=DAY, maxcc="71.0")
    with Counting(two.tiles, "request") as built:
        other = loop.run_until_complete(two.tiles.tile(block[0], spelt))
    assert len(built.calls) == 1 and other.cached and other.content == rendered[0].content
    assert _shared_mappings(redis_server) == after
    # Other parameters, another layer: their own keys, not the mapping's tile.
    with Counting(two.tiles, "request") as built, CountingCompute(two) as computed:
        drier = TileParams(time=DAY, maxcc="12")
        moister = loop.run_until_complete(two.tiles.tile(block[0], drier))
        water = loop.run_until_complete(two.tiles.tile(block[0]._replace(layer="NDWI"), params))
    loop.close()
    assert len(built.calls) >= 2 and computed.calls == 2
    assert not moister.cached and not water.cached
    assert water.content != rendered[0].content


def test_a_mapping_shared_under_another_catalog_is_not_read(two_processes):
    """A process whose catalog summary differs (TIME means something else to it: here no TIME
    is the period up to another latest acquisition) does not read the mapping another wrote:
    it resolves the request itself, to its own key."""
    one, two = two_processes
    params = TileParams(maxcc="72")  # no TIME: the default period, from the summary
    asked = TileAddress("NDVI", "WebMercatorQuad", Z, X, Y + 8, "png")
    summaries = one.times._summaries
    summary = summaries.get("sentinel-2-l2a")
    assert len(summary.times) > 1
    # The first process listed the catalog before its latest acquisition.
    earlier = replace(summary, times=summary.times[:-1])
    summaries._summaries = {**summaries._summaries, "sentinel-2-l2a": earlier}
    summaries.version += 1
    one.tiles.render(asked, params)
    theirs = one.tiles.request(asked, params)
    two.tiles.times.summary("sentinel-2-l2a")
    with Counting(two.tiles, "request") as built:
        asyncio.run(two.tiles.tile(asked, params))
    assert built.calls
    ours = two.tiles.request(asked, params)
    assert tile_key(ours) != tile_key(theirs)


def test_a_first_burst_works_out_what_time_means_once(two_processes):
    """A fresh process asked many tiles another rendered, all at once, works out what TIME
    means for their layer once (in a lookup thread, the others waiting for it), then reads
    every mapping on the event loop: no render request built."""
    one, two = two_processes
    params = TileParams(time=DAY, maxcc="73")
    block = [TileAddress("NDVI", "WebMercatorQuad", Z, x, y + 12, "png") for x, y in BLOCK]
    rendered = one.tiles.render(block[0], params)

    async def burst() -> list:
        return await asyncio.gather(*(two.tiles.tile(a, params) for a in block * 4))

    with (
        Counting(two.tiles._shared, "prepare") as prepared,
        Counting(two.tiles, "request") as built,
    ):
        tiles = asyncio.run(burst())
    assert prepared.calls == [("NDVI",)] and not built.calls
    assert all(t.cached for t in tiles) and tiles[0].content == rendered.content
