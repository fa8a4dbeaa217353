"""Bounds on what a gateway process keeps in memory outside Python: GDAL's block cache and
the C heap.

- GDAL caches decoded blocks per process up to ``GDAL_CACHEMAX``, 5 % of the machine's memory
  when unset: on a 64 GB node every worker could hold 3.2 GB of blocks. The gateway sets it
  (``GATEWAY_GDAL_CACHE_MB``) unless the environment names it.
- glibc raises its mmap threshold each time a large block is freed, up to 32 MB: after the
  first render freed its arrays, every later array of a few MB came from the heap's arenas
  (one per thread, up to 8 a core), which fragment and are seldom given back. Under a map
  service's load a worker's resident memory grew by ~200 MB a minute. A fixed threshold
  (``GATEWAY_MALLOC_MMAP_THRESHOLD_KB``, glibc's own starting value by default) maps every
  large array on its own and returns it on free: measured flat (docs/performance.md), at no
  measurable CPU cost against the reads and warps around it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

from rasterio.env import set_gdal_config

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)


def bound_process_memory(gdal_cache_mb: int, mmap_threshold_kb: int) -> None:
    """Set GDAL's block cache to ``gdal_cache_mb`` (unless ``GDAL_CACHEMAX`` is in the
    environment) and glibc's mmap threshold to ``mmap_threshold_kb`` (0: glibc's dynamic
    threshold; nothing happens on a C library other than glibc)."""
    if "GDAL_CACHEMAX" not in os.environ:
        set_gdal_config("GDAL_CACHEMAX", gdal_cache_mb * 2**20)
    if mmap_threshold_kb:
        set_mmap_threshold(mmap_threshold_kb * 1024)


def set_mmap_threshold(nbytes: int) -> bool:
    """Fix glibc's mmap threshold at ``nbytes``; False where there is no glibc ``mallopt``."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        log.info("no glibc mallopt: the C heap keeps its own policy")
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, nbytes))
