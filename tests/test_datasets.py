"""The process-wide pool of open datasets behind the reader, lent one reader at a time."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import morecantile
import numpy as np
import pytest
import rasterio
from rasterio.io import DatasetReader
from rasterio.transform import from_origin

from gateway.core import datasets
from gateway.core.cogcache import CogCache
from gateway.core.datasets import OpenDatasets
from gateway.core.engine import Engine
from gateway.core.reader import SceneReader
from gateway.runtime import make_storage
from tests.support.request_counts import tile_request


def _profile() -> dict:
    return {"driver": "GTiff", "width": 4, "height": 4, "count": 1, "dtype": "uint8",
            "crs": "EPSG:32631", "transform": from_origin(0, 40, 10, 10)}  # fmt: skip


def _write(path, value):
    with rasterio.open(path, "w", **_profile()) as dst:
        dst.write(np.full((1, 4, 4), value, dtype="uint8"))
    return str(path)


def test_reuses_idle_datasets_and_closes_the_least_recent(tmp_path):
    paths = [_write(tmp_path / f"{i}.tif", i) for i in range(3)]
    pool = OpenDatasets(size=2)
    with pool.lease(paths[0]) as first:
        pass
    with pool.lease(paths[0]) as again:
        assert again is first  # kept open, not reopened
    with pool.lease(paths[1]) as second:
        pass
    with pool.lease(paths[0]):
        pass  # paths[0] is now the most recent
    with pool.lease(paths[2]) as third:
        assert third.read(1)[0, 0] == 2
    assert second.closed and not first.closed  # paths[1] evicted
    assert pool.counts() == (2, 0)


def test_a_lent_dataset_is_never_lent_twice_at_once(tmp_path):
    path = _write(tmp_path / "a.tif", 7)
    pool = OpenDatasets()
    started = time.monotonic()
    with pool.lease(path) as mine, pool.lease(path) as other:
        assert other is not mine
        assert pool.counts() == (0, 2)
    assert pool.counts() == (2, 0)
    assert time.monotonic() - started < 0.5  # a thread never waits for a dataset it holds
    assert not pool._held.keys  # nor keeps a record of what it gave back


def _hold(pool: OpenDatasets, path: str, held: threading.Event, release: threading.Event):
    """A thread that leases ``path``, says so, and gives it back once released."""
    taken: list = []

    def run() -> None:
        with pool.lease(path) as dataset:
            taken.append(dataset)
            held.set()
            release.wait(30)

    thread = threading.Thread(target=run)
    thread.start()
    assert held.wait(30)
    return thread, taken


@contextlib.contextmanager
def _held_elsewhere(pool: OpenDatasets, path: str) -> Iterator[DatasetReader]:
    """``path`` leased by another thread while the block runs; its dataset."""
    held, release = threading.Event(), threading.Event()
    thread, taken = _hold(pool, path, held, release)
    try:
        yield taken[0]
    finally:
        release.set()
        thread.join()


def test_a_reader_of_a_file_being_read_waits_for_that_dataset(tmp_path):
    """Side by side requests of one file share its dataset (and the blocks it decoded)
    instead of each opening and decoding their own."""
    path = _write(tmp_path / "a.tif", 3)
    pool = OpenDatasets(wait_s=30)
    held, release = threading.Event(), threading.Event()
    thread, taken = _hold(pool, path, held, release)
    threading.Timer(0.2, release.set).start()
    started = time.monotonic()
    with pool.lease(path) as dataset:
        waited = time.monotonic() - started
        assert dataset is taken[0] and not dataset.closed
        assert dataset.read(1)[0, 0] == 3
    thread.join()
    assert 0.15 < waited < 10
    assert pool.counts() == (1, 0)


def test_the_wait_is_bounded_then_the_reader_opens_its_own(tmp_path):
    """A slow (or hung) read of a file delays another reader of it ``wait_s`` at most."""
    path = _write(tmp_path / "a.tif", 4)
    pool = OpenDatasets(wait_s=0.3)
    with _held_elsewhere(pool, path) as theirs:
        started = time.monotonic()
        with pool.lease(path) as dataset:
            waited = time.monotonic() - started
            assert dataset is not theirs and dataset.read(1)[0, 0] == 4
    assert 0.25 < waited < 5
    assert pool.counts() == (2, 0)


def test_a_remote_file_is_never_waited_for_while_leasing(tmp_path):
    """A remote read holds one of the CDSE key's connection slots while it leases: it opens
    its own dataset rather than idle the slot (it waited before taking it: below)."""
    with rasterio.MemoryFile() as memory:
        with memory.open(**_profile()) as dst:
            dst.write(np.full((1, 4, 4), 5, dtype="uint8"))
        path = memory.name
        assert path.startswith("/vsi")
        pool = OpenDatasets(wait_s=30)
        with _held_elsewhere(pool, path) as theirs:
            started = time.monotonic()
            with pool.lease(path) as dataset:
                assert dataset is not theirs and dataset.read(1)[0, 0] == 5
        assert time.monotonic() - started < 5
        pool.close_all()


def test_readers_claiming_a_file_read_it_one_after_another():
    """``claim``: a thread claiming a file another thread claims waits until it is given
    back (``wait_s`` at most), and of several waiting, one goes on at a time. A thread's
    claims of a file it holds already go on at once. Claiming leases nothing."""
    pool = OpenDatasets(wait_s=30)
    path = "/vsis3/eodata/a.jp2"
    inside: list[int] = []
    most = [0]
    lock = threading.Lock()

    def read(_: int) -> None:
        with pool.claim(path):
            with lock:
                inside.append(1)
                most[0] = max(most[0], len(inside))
            time.sleep(0.05)
            with lock:
                inside.pop()

    started = time.monotonic()
    with ThreadPoolExecutor(6) as workers:
        list(workers.map(read, range(6)))
    assert most[0] == 1 and time.monotonic() - started >= 0.25
    with pool.claim(path), pool.claim(path):  # nested in one thread: at once
        pass
    assert pool.counts() == (0, 0)
    bounded = OpenDatasets(wait_s=0.3)
    claimed, release = threading.Event(), threading.Event()

    def hold() -> None:
        with bounded.claim(path):
            claimed.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    claimed.wait(5)
    started = time.monotonic()
    with bounded.claim(path):  # past wait_s: goes on without it
        assert 0.25 < time.monotonic() - started < 5
    release.set()
    holder.join()
    with bounded.claim(path):  # given back by both
        pass


def test_a_file_that_cannot_be_opened_leaves_no_one_waiting(tmp_path):
    pool = OpenDatasets(wait_s=5)
    missing = str(tmp_path / "missing.tif")
    for _ in range(2):
        started = time.monotonic()
        with pytest.raises(rasterio.errors.RasterioIOError), pool.lease(missing):
            pass
        assert time.monotonic() - started < 2
    assert pool.counts() == (0, 0)


def test_neighbouring_tiles_rendered_side_by_side_open_each_file_once(
    sample_settings, runtime, monkeypatch, tmp_path
):
    """A browser asks for a view's tiles six at a time: each file level is opened (and each
    JPEG 2000 tile decoded) once for all of them, and the pixels are those of the tiles
    rendered one by one."""
    opened: list[tuple[str, int | None]] = []
    real_open = datasets.rasterio.open

    def counting_open(path, *args, overview_level=None, **kwargs):
        if args or kwargs:  # the warp's in-memory datasets
            return real_open(path, *args, **kwargs)
        opened.append((Path(path).name, overview_level))
        if overview_level is None:
            return real_open(path)
        return real_open(path, overview_level=overview_level)

    never = CogCache(tmp_path / "no-copies", min_coverage=float("inf"))
    reader = SceneReader(make_storage(sample_settings), never)
    engine = Engine(runtime.config, runtime.engine.catalog, reader)
    tms = morecantile.tms.get("WebMercatorQuad")
    centre = tms.tile(6.0, 52.63, 13)  # T31UFU and T32ULD overlap there
    tiles = [
        morecantile.Tile(centre.x + dx, centre.y + dy, 13) for dx in (0, 1, 2) for dy in (0, 1)
    ]

    def render(tile):
        request = tile_request(
            runtime.config, tuple(tms.xy_bounds(tile)), layer="NDVI", time="2025-06-13"
        )
        return engine.compute(request)

    alone = [render(tile) for tile in tiles]
    assert all(raster.valid.any() for raster in alone)
    OpenDatasets.close_all_pools()
    monkeypatch.setattr(datasets.rasterio, "open", counting_open)
    start = threading.Barrier(len(tiles))
    together: dict[int, object] = {}

    def run(index: int) -> None:
        start.wait()
        together[index] = render(tiles[index])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(tiles))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert opened and len(opened) == len(set(opened)), sorted(opened)
    for index, raster in enumerate(alone):
        np.testing.assert_array_equal(together[index].data, raster.data)  # type: ignore[attr-defined]
        np.testing.assert_array_equal(together[index].valid, raster.valid)  # type: ignore[attr-defined]


def test_threads_share_the_idle_datasets_and_never_keep_more_than_the_size(tmp_path):
    """However many threads read, the process keeps at most ``size`` idle datasets (plus
    those being read): a dataset one thread gave back is the next thread's."""
    paths = [_write(tmp_path / f"{i}.tif", i) for i in range(12)]
    pool = OpenDatasets(size=4)
    seen: list[int] = []
    start = threading.Barrier(16)

    def read_all() -> None:
        start.wait()
        for path in paths * 3:
            with pool.lease(path) as dataset:
                seen.append(int(dataset.read(1)[0, 0]))
                idle, lent = pool.counts()
                assert idle <= 4 and 1 <= lent <= 16

    workers = [threading.Thread(target=read_all) for _ in range(16)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(set(seen)) == list(range(12)) and len(seen) == 16 * 36
    assert pool.counts() == (4, 0)
    with pool.lease(paths[-1]) as dataset:
        reused = dataset
    borrowed: list[bool] = []

    def borrow() -> None:
        with pool.lease(paths[-1]) as dataset:
            borrowed.append(dataset is reused)

    worker = threading.Thread(target=borrow)
    worker.start()
    worker.join()
    assert borrowed == [True]  # another thread borrows the same open dataset


def test_a_failed_read_closes_its_dataset_and_discard_closes_the_idle(tmp_path):
    path = _write(tmp_path / "a.tif", 1)
    pool = OpenDatasets()
    try:
        with pool.lease(path) as failed:
            raise RuntimeError("read failed")
    except RuntimeError:
        pass
    assert failed.closed and pool.counts() == (0, 0)
    with pool.lease(path) as dataset:
        pass
    pool.discard(path)
    assert dataset.closed and pool.counts() == (0, 0)


EXIT_SCRIPT = """
import sys, threading
from gateway.core.datasets import OpenDatasets
pool = OpenDatasets()
def borrow():
    with pool.lease(sys.argv[1]):
        pass
with pool.lease(sys.argv[1]):
    worker = threading.Thread(target=borrow)
    worker.start()
    worker.join()
sys.keep_until_the_interpreter_ends = pool  # as a test session's runtime is
"""


def test_datasets_open_at_exit_are_closed_before_the_interpreter_tears_down(tmp_path):
    path = _write(tmp_path / "a.tif", 1)
    done = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT, path], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert "Exception ignored" not in done.stderr and "excepthook" not in done.stderr, done.stderr


def test_local_jpeg2000_windows_decode_on_every_core_to_the_same_pixels(
    sample_archive, sample_settings
):
    """A local window decodes the code-stream tiles it touches side by side (the first tile
    of a zoomed view waits for one tile's decoding, not four in turn); remote reads stay on
    one thread (GDAL's threads fetched byte ranges twice: docs/design-decisions.md)."""
    from gateway.core.storage import Storage

    local = make_storage(sample_settings)
    assert local.gdal_options()["GDAL_NUM_THREADS"] == "ALL_CPUS"
    remote = Storage(mode="s3", s3_endpoint="eodata.example:9000")
    assert remote.gdal_options()["GDAL_NUM_THREADS"] == 1
    path = next(sample_archive.glob("eodata/Sentinel-2/MSI/L2A/**/R10m/*B04_10m.jp2"))
    window = rasterio.windows.Window(900, 900, 300, 300)  # across 4 of its 1024 px tiles
    reads = []
    for options in ({**local.gdal_options(), "GDAL_NUM_THREADS": 1}, local.gdal_options()):
        with rasterio.Env(**options), rasterio.open(path) as src:
            assert src.block_shapes[0] == (1024, 1024)
            reads.append(src.read(1, window=window))
    np.testing.assert_array_equal(reads[0], reads[1])
