"""GDAL's own count of the HTTP requests it made and the bytes it downloaded.

GDAL keeps network statistics (``VSINetworkStatsGetAsSerializedJSON``) when
``CPL_VSIL_NETWORK_STATS_ENABLED`` is on; rasterio does not expose them, so they are read
through ``ctypes`` from the libgdal rasterio loaded. GDAL reads the option once and again
after each ``VSINetworkStatsReset``, so ``GdalRequestMeter`` sets it for the process and
resets. Its figures are the whole process's (GDAL counts every file and thread together);
each reading resets them, so what GDAL keeps stays small however many files are read (a
request logged between the reading and the reset, microseconds apart, is missed).
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import threading
from pathlib import Path

log = logging.getLogger(__name__)


def _loaded_libgdal() -> str | None:
    """The path of the libgdal this process loaded (rasterio's), from ``/proc/self/maps``."""
    import rasterio._base  # noqa: F401  (loads libgdal)

    try:
        lines = Path("/proc/self/maps").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        path = line.rsplit(" ", 1)[-1]
        if os.path.basename(path).startswith("libgdal") and ".so" in path:
            return path
    return None


class GdalRequestMeter:
    """The process's GDAL requests and downloaded bytes since the meter started."""

    def __init__(self, library: ctypes.CDLL) -> None:
        self._get_json = library.VSINetworkStatsGetAsSerializedJSON
        self._get_json.argtypes = [ctypes.c_void_p]
        self._get_json.restype = ctypes.c_void_p
        self._reset = library.VSINetworkStatsReset
        self._reset.argtypes = []
        self._reset.restype = None
        self._free = library.VSIFree
        self._free.argtypes = [ctypes.c_void_p]
        self._free.restype = None
        set_option = library.CPLSetConfigOption
        set_option.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        set_option.restype = None
        set_option(b"CPL_VSIL_NETWORK_STATS_ENABLED", b"YES")
        self._lock = threading.Lock()
        self._requests = 0
        self._bytes = 0
        self._reset()  # GDAL reads the option again after a reset

    def totals(self) -> tuple[int, int]:
        """Requests (every method) and bytes downloaded since the meter started."""
        with self._lock:
            pointer = self._get_json(None)
            self._reset()
            try:
                text = ctypes.string_at(pointer).decode() if pointer else "{}"
            finally:
                self._free(pointer)
            methods = json.loads(text).get("methods", {})
            self._requests += sum(int(m.get("count", 0)) for m in methods.values())
            self._bytes += sum(int(m.get("downloaded_bytes", 0)) for m in methods.values())
            return self._requests, self._bytes


_meter: GdalRequestMeter | None = None
_tried = False
_lock = threading.Lock()


def gdal_request_meter() -> GdalRequestMeter | None:
    """The process's meter (one: GDAL's statistics are the process's), started on first use;
    None where the loaded libgdal cannot be found or lacks the statistics (said once)."""
    global _meter, _tried
    with _lock:
        if not _tried:
            _tried = True
            path = _loaded_libgdal()
            try:
                _meter = GdalRequestMeter(ctypes.CDLL(path)) if path else None
            except (OSError, AttributeError) as exc:
                log.warning("GDAL's network statistics are not available: %s", exc)
            if _meter is None:
                log.warning("remote reads stay charged at their estimate: no GDAL request count")
        return _meter
