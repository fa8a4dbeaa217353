"""Tile-part indexes made ahead of users (``cdse-gateway index``, ``gateway.core.indexing``):
the files of new products on the S3 stand-in, found through the STAC API stand-in, indexed
before their first view, which then walks nothing; and the files no process indexed, opened
as they are by the view that meets them and indexed in the background for the next.

The sample's 10 m bands are 1,200 px (4 tiles of 1024 px), its 20 m and 60 m ones smaller than
a tile: the readers here index files of one tile and more (``min_tiles=1``: the 10 m bands);
the product's own default is 16.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.core.cache import MemoryCache, create_cache
from gateway.core.catalog import PageQuery, Scene, ScenePage, StaticCatalog, TimeRange
from gateway.core.cogcache import CogCache
from gateway.core.dates import parse_time
from gateway.core.engine import Engine
from gateway.core.indexing import acquired, bands_to_index, index_scenes, scene_query
from gateway.core.reader import SceneReader
from gateway.core.spliced import TilePartIndexes
from gateway.core.storage import Storage
from gateway.core.upstream import LocalCounters, Quota, QuotaLimits
from gateway.errors import InvalidParameterValue
from gateway.metrics import Metrics
from gateway.runtime import build_runtime
from tests.support.metric_samples import samples
from tests.support.remote_fixtures import remote_settings
from tests.support.request_counts import clear_gdal_http_cache, tile_bounds, tile_request

L2A = "sentinel-2-l2a"
DAY = "2025-06-13"
NDVI = "(B08-B04)/(B08+B04)"
ONE_DAY = timedelta(days=1)
# Every band the configured L2A layers read (config/gateway.yaml): true and false colour, the
# indices, and the scene classification (the layers' cloud mask, and a layer of its own).
L2A_LAYER_BANDS = {"B02", "B03", "B04", "B08", "B11", "B12", "SCL"}
NO_COPIES = Path("/nonexistent/cog-cache")  # a COG cache's folder that holds none


def _reader(remote, cache, **extra) -> SceneReader:
    """A reader of the stand-ins keeping its indexes in ``cache``; it makes no COG copy and
    finds none (the session's other tests make some of the same files)."""
    storage = remote.engine.reader.storage
    never = CogCache(NO_COPIES, min_coverage=float("inf"))
    indexes = TilePartIndexes(cache, min_tiles=1)
    return SceneReader(storage, never, indexes=indexes, **extra)


def _day_files(sample_archive, bands: set[str]) -> set[str]:
    """The S3 paths of the sample's 10 m JPEG 2000 files of ``bands`` on DAY (its items')."""
    static = StaticCatalog(sample_archive / "stac")
    query = scene_query(L2A, None, parse_time(DAY))
    on_s3 = Storage(mode="s3")
    return {
        on_s3.gdal_path(asset.href)
        for scene in static.scan(query)
        for asset in scene.assets
        if asset.band in bands and asset.href.endswith("_10m.jp2")
    }


def _walked(s3) -> set[str]:
    """The files whose tile-part headers (12-byte reads) were read at the S3 stand-in."""
    return {hit.path for hit in s3.proxy.hits() if hit.body_bytes == 12}


def test_the_bands_are_those_asked_or_what_the_collections_layers_read(remote):
    assert set(bands_to_index(remote.config, L2A, ())) == L2A_LAYER_BANDS
    l1c = set(bands_to_index(remote.config, "sentinel-2-l1c", ()))
    assert {"B04", "B08", "MSK_CLASSI"} <= l1c and "B01" not in l1c
    assert bands_to_index(remote.config, L2A, ("B8A", "B01")) == ("B8A", "B01")
    with pytest.raises(InvalidParameterValue, match="unknown collection"):
        bands_to_index(remote.config, "no-such-collection", ())
    with pytest.raises(InvalidParameterValue, match="has no band 'B13'") as refused:
        bands_to_index(remote.config, L2A, ("B04", "B13"))
    assert refused.value.locator == "bands"


def test_the_scenes_time_is_a_time_or_the_last_days():
    now = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
    assert acquired(None, 3, now) == TimeRange(datetime(2026, 12, 4, 6, 0, tzinfo=UTC), None)
    assert acquired(DAY, None, now) == parse_time(DAY)
    for both_or_neither in ((DAY, 3), (None, None)):
        with pytest.raises(InvalidParameterValue, match="either a time or a number of days"):
            acquired(*both_or_neither, now)


def test_indexes_made_ahead_are_found_by_the_first_view_which_walks_nothing(
    runtime, remote, s3, sample_archive
):
    shared = MemoryCache()  # the cache the servers share (Redis), here one process's
    query = scene_query(L2A, None, parse_time(DAY))
    files = _day_files(sample_archive, L2A_LAYER_BANDS)
    s3.proxy.reset()
    result = index_scenes(
        remote.engine.catalog,
        _reader(remote, shared),
        query,
        tuple(L2A_LAYER_BANDS),
        max_scenes=100,
    )
    assert result.scenes == 2 and result.files == len(files) == 8, result  # B02-B04, B08
    assert result.indexed == result.files and result.failed == 0, result
    assert len(_walked(s3)) == result.indexed
    assert not result.more and result.stopped is None

    # The first view, by a cold process sharing the cache: the files opened with the indexes
    # found there, none made again, the same pixels as the local files.
    clear_gdal_http_cache()
    s3.proxy.reset()
    cold = _reader(remote, shared)
    engine = Engine(remote.config, remote.engine.catalog, cold)
    params = dict(collection=L2A, expression=NDVI, time=DAY, style="ndvi")
    for bounds in (tile_bounds(5.96, 52.62, 13), tile_bounds(6.15, 52.66, 12)):
        raster = engine.compute(tile_request(remote.config, bounds, **params))
        local = runtime.engine.compute(tile_request(runtime.config, bounds, **params))
        np.testing.assert_array_equal(raster.data, local.data)
        assert raster.valid.any()
    assert _walked(s3) == set()
    assert "indexing" not in cold.tally.snapshot() and "indexes" not in cold.tally.snapshot()
    spliced = {path: cold.indexes.opened(path) for path in files}
    assert all(opened.startswith("/vsisparse/") for opened in spliced.values()), spliced

    # Run again: every file is known, nothing is read.
    s3.proxy.reset()
    again = index_scenes(
        remote.engine.catalog, _reader(remote, shared), query, tuple(L2A_LAYER_BANDS),
        max_scenes=100,
    )  # fmt: skip
    assert (again.files, again.known, again.indexed) == (result.files, result.files, 0), again
    assert _walked(s3) == set()


def test_a_file_no_process_indexed_is_read_as_it_is_and_indexed_in_the_background(
    runtime, remote, s3, sample_archive, monkeypatch
):
    """The view that meets files without an index does not walk them: it reads them as they
    are, the same pixels, and queues their indexes; the background makes them, each read a
    request of the quota on a slot of its own, and the next views open the files with them."""
    shared = MemoryCache()  # the cache the servers share (Redis), here one process's
    quota = Quota("s3", QuotaLimits(connections=4, requests_per_minute=100_000), LocalCounters())
    reader = _reader(remote, shared, quota=quota, index_later=True)
    assert reader.index_queue is not None
    engine = Engine(remote.config, remote.engine.catalog, reader)
    files = _day_files(sample_archive, {"B04", "B08"})
    params = dict(collection=L2A, expression=NDVI, time=DAY, style="ndvi")
    views = (tile_bounds(5.96, 52.62, 13), tile_bounds(6.15, 52.66, 12))

    def look(engine: Engine) -> None:
        for bounds in views:
            raster = engine.compute(tile_request(remote.config, bounds, **params))
            local = runtime.engine.compute(tile_request(runtime.config, bounds, **params))
            np.testing.assert_array_equal(raster.data, local.data)
            assert raster.valid.any()

    queued: list[str] = []
    submit = reader.index_queue.submit

    def spy_submit(key, job):
        queued.append(key)
        return submit(key, job)

    monkeypatch.setattr(reader.index_queue, "submit", spy_submit)
    held = threading.Event()  # the background is busy until the views are done
    submit("held", lambda: held.wait(60))
    clear_gdal_http_cache()
    s3.proxy.reset()
    try:
        look(engine)
        figures = reader.tally.snapshot()
        assert _walked(s3) == set()
        assert "indexing" not in figures and "indexes" not in figures, figures
        # Both scenes' 10 m files that the views read, each queued once though asked again
        asked = set(queued)
        assert asked <= files and len(asked) >= 3 and len(queued) > len(asked), queued
        assert figures["indexes_queued"] == len(asked), figures
        # OpenJPEG walked them (each opened once): charged a request a tile, at most
        assert figures["walks"] == len(asked), figures
        assert figures["requests"] >= len(s3.proxy.hits()), figures
        assert all(reader.indexes.opened(path) is None for path in files)
        assert reader.index_queue.pending() == 1 + len(asked)
        used = quota.state()["requests_last_minute"]
    finally:
        held.set()
    reader.index_queue.close()  # waits for the indexes

    figures = reader.tally.snapshot()
    walked = [hit for hit in s3.proxy.hits() if hit.body_bytes == 12]
    assert figures["indexes"] == len(asked) == len({hit.path for hit in walked})
    assert figures["indexing"] == len(walked) + len(asked)  # the headers and each file's head
    assert quota.state()["requests_last_minute"] == used + figures["indexing"]
    assert quota.state()["connections"] == 0
    opened = [reader.indexes.opened(path) for path in asked]
    assert all(path is not None and path.startswith("/vsisparse/") for path in opened), opened

    # The next views, in this process and in a cold one sharing the cache: through the
    # indexes, nothing walked or queued again, the same pixels.
    s3.proxy.reset()
    cold = _reader(remote, shared, index_later=True)
    look(engine)
    look(Engine(remote.config, remote.engine.catalog, cold))
    assert _walked(s3) == set()
    again = reader.tally.snapshot()
    assert again["indexes_queued"] == len(asked) and again["walks"] == len(asked), again
    assert "indexes_queued" not in cold.tally.snapshot() and "walks" not in cold.tally.snapshot()
    cold.close()


def test_a_background_index_waits_for_the_requests_reads(remote, s3, sample_archive):
    """While a request reads remote files the background makes no GET (for a second at most
    each); once the reads end it makes the index."""
    reader = _reader(remote, MemoryCache(), index_later=True)
    path = min(_day_files(sample_archive, {"B08"}))
    s3.proxy.reset()
    with reader.remote_reads.busy():  # a request reading
        reader.queue_index(path)
        time.sleep(0.6)
        assert s3.proxy.hits() == []
        assert reader.indexes.opened(path) is None
    assert reader.index_queue is not None
    reader.index_queue.close()
    opened = reader.indexes.opened(path)
    assert opened is not None and opened.startswith("/vsisparse/")
    assert reader.tally.snapshot()["indexes"] == 1


@pytest.mark.parametrize("workers", [1, 2])
def test_the_background_indexes_as_many_files_at_once_as_it_has_workers(
    remote, s3, sample_archive, workers
):
    """``index_workers`` files are indexed side by side, each read on a quota slot of its own;
    with one worker, one after the other."""
    quota = Quota("s3", QuotaLimits(connections=4, requests_per_minute=100_000), LocalCounters())
    reader = _reader(remote, MemoryCache(), quota=quota, index_later=True, index_workers=workers)
    indexes = reader.indexes
    assert indexes is not None
    make = indexes.make
    guard, at_once, most, calls = threading.Lock(), [0], [0], [0]
    together = threading.Barrier(workers, timeout=10)  # broken: the index is not made

    def counting_make(path, read):
        with guard:
            at_once[0] += 1
            most[0] = max(most[0], at_once[0])
            calls[0] += 1
            first = calls[0] <= workers
        try:
            if first:  # the first files wait for each other: every worker at once
                together.wait()
            return make(path, read)
        finally:
            with guard:
                at_once[0] -= 1

    indexes.make = counting_make  # type: ignore[method-assign]
    paths = sorted(_day_files(sample_archive, {"B04", "B08"}))[:4]
    for path in paths:
        reader.queue_index(path)
    assert reader.index_queue is not None
    reader.index_queue.close()
    assert most[0] == workers
    assert reader.tally.snapshot()["indexes"] == len(paths)
    opened = [indexes.opened(path) for path in paths]
    assert all(path is not None and path.startswith("/vsisparse/") for path in opened), opened
    assert quota.state()["connections"] == 0


@pytest.mark.parametrize(("later", "indexed"), [(True, True), (False, True), (True, False)])
def test_a_server_indexes_in_the_background_unless_told_to_index_first(
    s3, stac, tmp_path, later, indexed
):
    """As shipped, a server's first view queues the indexes and says so in its metrics;
    with ``GATEWAY_S3_JP2_INDEX_LATER=false`` it makes them before it reads; with the indexes
    turned off (``GATEWAY_S3_JP2_TILE_INDEX=false``) there is nothing to queue."""
    settings = remote_settings(
        s3, stac, tmp_path,
        s3_jp2_index_min_tiles=1, s3_jp2_index_later=later, s3_jp2_tile_index=indexed,
        s3_jp2_index_workers=3,
    )  # fmt: skip
    server = build_runtime(settings)
    try:
        request = tile_request(server.config, tile_bounds(5.96, 52.62, 13), layer="NDVI", time=DAY)
        assert server.engine.render(request).cached is False
        figures = server.remote_tallies["s3"].snapshot()
        found = samples(Metrics(lambda: server).exposition().decode())
    finally:
        server.close()
    if not indexed:
        assert "indexes" not in figures and "indexes_queued" not in figures, figures
        assert server.engine.reader.index_queue is None
        assert not any(name.startswith("gateway_jp2_indexes") for name, _ in found)
    elif later:
        assert figures["indexes_queued"] >= 2, figures  # made meanwhile: the test above
        assert found[("gateway_jp2_indexes_queued_total", ())] == figures["indexes_queued"]
        assert found[("gateway_jp2_indexes_pending", ())] in range(figures["indexes_queued"] + 1)
        assert found[("gateway_jp2_indexes_dropped_total", ())] == 0
        assert server.engine.reader.index_queue.pending() == 0  # closed: dropped
        assert server.engine.reader.index_queue.workers == 3
    else:
        assert figures["indexes"] >= 2 and "indexes_queued" not in figures, figures
        assert server.engine.reader.index_queue is None
        assert not any(name.startswith("gateway_jp2_indexes") for name, _ in found)


def test_only_the_bands_asked_for_and_at_most_max_scenes(remote, s3, sample_archive):
    reader = _reader(remote, MemoryCache())
    query = scene_query(L2A, None, parse_time(DAY))
    result = index_scenes(remote.engine.catalog, reader, query, ("B08",), max_scenes=1)
    assert result.scenes == 1 and result.more, result
    newest = next(remote.engine.catalog.scan(query))
    b08 = {p for p in _day_files(sample_archive, {"B08"}) if newest.id.split("_")[5] in p}
    assert result.files == len(b08) == 1, (result, b08)
    opened = {path for path in b08 if reader.indexes.opened(path) is not None}
    assert opened == b08


def test_an_area_limits_the_scenes(remote):
    reader = _reader(remote, MemoryCache())
    east_of_both = scene_query(L2A, (20.0, 40.0, 21.0, 41.0), parse_time(DAY))
    result = index_scenes(remote.engine.catalog, reader, east_of_both, ("B04",), max_scenes=10)
    assert (result.scenes, result.files) == (0, 0), result
    west = scene_query(L2A, (5.93, 52.60, 5.98, 52.64), parse_time(DAY))  # T31UFU only
    assert index_scenes(remote.engine.catalog, reader, west, ("B04",), max_scenes=10).scenes == 1


def test_the_quota_used_up_stops_the_run_with_what_it_made_kept(remote):
    shared = MemoryCache()
    limits = QuotaLimits(requests_per_minute=10, wait_s=0.0)
    reader = _reader(remote, shared, quota=Quota("s3", limits, LocalCounters()))
    query = scene_query(L2A, None, parse_time(DAY))
    bands = ("B04", "B08")
    stopped = index_scenes(remote.engine.catalog, reader, query, bands, max_scenes=10)
    assert stopped.stopped is not None and "quota" in stopped.stopped, stopped
    assert 1 <= stopped.scenes <= 2 and stopped.failed == 0, stopped
    rest = index_scenes(remote.engine.catalog, _reader(remote, shared), query, bands, max_scenes=10)
    assert rest.stopped is None and rest.scenes == 2 and rest.failed == 0, rest
    assert rest.known >= stopped.indexed + stopped.as_is and rest.indexed >= 1, (stopped, rest)
    assert rest.known + rest.indexed + rest.as_is == rest.files, rest


class _OneFileMissing:
    """The stand-in's catalog with the first scene's B04 files named as files S3 lacks."""

    def __init__(self, catalog) -> None:
        self._catalog = catalog

    def search_page(self, query: PageQuery) -> ScenePage:
        return self._catalog.search_page(query)

    def scan(self, query: PageQuery) -> Iterator[Scene]:
        for number, scene in enumerate(self._catalog.scan(query)):
            if number == 0:
                assets = tuple(
                    replace(a, href=a.href.replace(".jp2", "_gone.jp2")) if a.band == "B04" else a
                    for a in scene.assets
                )
                scene = replace(scene, assets=assets)
            yield scene


def test_a_file_that_cannot_be_read_is_counted_and_tried_again_next_run(remote, caplog):
    shared = MemoryCache()
    catalog = _OneFileMissing(remote.engine.catalog)
    query = scene_query(L2A, None, parse_time(DAY))
    result = index_scenes(catalog, _reader(remote, shared), query, ("B04",), max_scenes=10)
    assert result.failed == 1 and all("_gone.jp2" in p for p in result.failures), result
    assert result.indexed == result.files - 1 == 1, result  # the other scene's
    again = index_scenes(catalog, _reader(remote, shared), query, ("B04",), max_scenes=10)
    assert again.failed == 1 and again.known == 1, again
    assert "cannot index" in caplog.text and "Traceback" not in caplog.text


def _env(s3, stac, redis_url: str, data_dir) -> dict[str, str]:
    return {
        "GATEWAY_DATA_DIR": str(data_dir),
        "GATEWAY_SAMPLE_DATA": "false",
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_STAC_URL": stac.url,
        "GATEWAY_STORAGE": "s3",
        "GATEWAY_S3_ENDPOINT": s3.endpoint,
        "GATEWAY_S3_HTTPS": "false",
        "GATEWAY_S3_VIRTUAL_HOSTING": "false",
        "GATEWAY_S3_ACCESS_KEY_ID": "test",
        "GATEWAY_S3_SECRET_ACCESS_KEY": "test",
        "GATEWAY_S3_REGION": "us-east-1",
        "GATEWAY_S3_JP2_INDEX_MIN_TILES": "1",
    }


def test_the_index_command_keeps_the_indexes_in_redis_for_the_servers(
    s3, stac, redis_server, redis_client, sample_archive, tmp_path
):
    redis_client.flushdb()
    env = _env(s3, stac, redis_server.url, tmp_path)
    args = ["index", "--collection", L2A, "--time", DAY, "--bands", "B04,B08"]
    done = CliRunner().invoke(app, args, env=env)
    assert done.exit_code == 0, done.output
    files = _day_files(sample_archive, {"B04", "B08"})
    assert f"2 scenes, {len(files)} files of B04,B08: " in done.output, done.output
    servers = TilePartIndexes(create_cache(redis_server.url), min_tiles=1)
    assert all(servers.opened(path) is not None for path in files)
    again = CliRunner().invoke(app, args, env=env)
    assert f"0 indexed, {len(files)} indexed before" in again.output, again.output
    # The last days back to a moment of DAY before its scenes (10:56): DAY's and 2025-06-23's.
    days = math.ceil((datetime.now(UTC) - datetime(2025, 6, 13, 10, tzinfo=UTC)) / ONE_DAY)
    recent = ["index", "--collection", L2A, "--days", str(days), "--bands", "B04,B08"]
    newer = CliRunner().invoke(app, recent, env=env)
    assert newer.exit_code == 0, newer.output
    assert "4 scenes, 8 files of B04,B08: 4 indexed, 4 indexed before" in newer.output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--collection", "nope", "--time", DAY], "unknown collection"),
        (["--collection", L2A, "--time", "2025-13-45"], "invalid date"),
        (["--collection", L2A, "--time", DAY, "--bbox", "1,2,3"], "four numbers"),
        (["--collection", L2A, "--time", DAY, "--bbox", "5,52,4,53"], "bbox"),
        (["--collection", L2A, "--time", DAY, "--bands", "B04,B99"], "has no band 'B99'"),
        (["--collection", L2A], "either a time or a number of days"),
        (["--collection", L2A, "--time", DAY, "--days", "2"], "either a time or a number"),
    ],
)
def test_the_index_command_says_what_is_wrong_without_a_traceback(
    s3, stac, redis_server, tmp_path, args, says
):
    done = CliRunner().invoke(app, ["index", *args], env=_env(s3, stac, redis_server.url, tmp_path))
    assert done.exit_code == 2, done.output
    assert says in done.output and "Traceback" not in done.output, done.output


def test_indexing_turned_off_is_said(s3, stac, redis_server, tmp_path):
    env = {**_env(s3, stac, redis_server.url, tmp_path), "GATEWAY_S3_JP2_TILE_INDEX": "false"}
    done = CliRunner().invoke(app, ["index", "--collection", L2A, "--time", DAY], env=env)
    assert done.exit_code == 2 and "turned off" in done.output, done.output


def test_a_catalog_that_cannot_be_searched_is_said(s3, stac, redis_server, tmp_path):
    env = {**_env(s3, stac, redis_server.url, tmp_path), "GATEWAY_STAC_URL": stac.url + "/gone"}
    done = CliRunner().invoke(app, ["index", "--collection", L2A, "--time", DAY], env=env)
    assert done.exit_code == 2 and "Traceback" not in done.output, done.output
    assert "error: the catalog service did not answer" in done.output, done.output
