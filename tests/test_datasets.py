"""The process-wide pool of open datasets behind the reader, lent one reader at a time."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import rasterio
from rasterio.transform import from_origin

from gateway.core.datasets import OpenDatasets


def _write(path, value):
    profile = {"driver": "GTiff", "width": 4, "height": 4, "count": 1, "dtype": "uint8",
               "crs": "EPSG:32631", "transform": from_origin(0, 40, 10, 10)}  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
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
    with pool.lease(path) as mine, pool.lease(path) as other:
        assert other is not mine
        assert pool.counts() == (0, 2)
    assert pool.counts() == (2, 0)


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
