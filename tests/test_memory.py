"""A gateway process's memory outside Python stays bounded (gateway.memory)."""

from __future__ import annotations

import subprocess
import sys

from rasterio.env import get_gdal_config, set_gdal_config

from gateway.memory import bound_process_memory

# Arrays of a few MB made and freed by many threads, each leaving a small object behind (as a
# render leaves cache entries and log records): the resident memory after it, in MB.
CHURN = """
import sys, threading
import numpy as np
from gateway.memory import set_mmap_threshold
if sys.argv[1] == "fixed":
    assert set_mmap_threshold(128 * 1024)
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
kept = []
def work(seed):
    rng = np.random.default_rng(seed)
    for _ in range(60):
        array = np.ones(int(rng.integers(256, 2048)) * 1024, dtype=np.float32)
        kept.append(bytearray(int(rng.integers(64, 4096))))
        del array
before = rss()
threads = [threading.Thread(target=work, args=(seed,)) for seed in range(16)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(round(rss() - before))
"""


def _retained_mb(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", CHURN, mode], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip())


def test_a_fixed_mmap_threshold_gives_freed_arrays_back():
    """glibc's dynamic threshold keeps freed arrays in its arenas; fixed, they go back."""
    dynamic, fixed = _retained_mb("dynamic"), _retained_mb("fixed")
    assert fixed < 40, fixed
    assert dynamic > 3 * fixed + 40, (dynamic, fixed)


def test_gdal_block_cache_is_set_unless_the_environment_names_it(monkeypatch):
    before = get_gdal_config("GDAL_CACHEMAX")
    try:
        monkeypatch.delenv("GDAL_CACHEMAX", raising=False)
        bound_process_memory(64, 0)
        assert get_gdal_config("GDAL_CACHEMAX") == 64 * 2**20
        monkeypatch.setenv("GDAL_CACHEMAX", "512")
        bound_process_memory(96, 0)
        assert get_gdal_config("GDAL_CACHEMAX") == 64 * 2**20  # the operator's wins
    finally:
        if before:
            set_gdal_config("GDAL_CACHEMAX", before)
