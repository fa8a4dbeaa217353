"""The per-thread pool of open datasets behind the reader."""

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


def test_reuses_open_datasets_and_closes_the_least_recent(tmp_path):
    paths = [_write(tmp_path / f"{i}.tif", i) for i in range(3)]
    pool = OpenDatasets(size=2)
    first = pool.get(paths[0])
    assert pool.get(paths[0]) is first  # kept open, not reopened
    second = pool.get(paths[1])
    pool.get(paths[0])  # paths[0] is now the most recent
    pool.get(paths[2])  # evicts paths[1]
    assert second.closed and not first.closed
    assert pool.get(paths[2]).read(1)[0, 0] == 2


def test_each_thread_has_its_own_datasets(tmp_path):
    path = _write(tmp_path / "a.tif", 7)
    pool = OpenDatasets()
    mine = pool.get(path)
    theirs = []
    worker = threading.Thread(target=lambda: theirs.append(pool.get(path)))
    worker.start()
    worker.join()
    assert theirs[0] is not mine and not mine.closed


def test_discard_closes(tmp_path):
    path = _write(tmp_path / "a.tif", 1)
    pool = OpenDatasets()
    dataset = pool.get(path)
    pool.discard(path)
    assert dataset.closed
    assert pool.get(path) is not dataset


EXIT_SCRIPT = """
import sys, threading
from gateway.core.datasets import OpenDatasets
pool = OpenDatasets()
pool.get(sys.argv[1])
worker = threading.Thread(target=pool.get, args=(sys.argv[1],))
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
