"""GDAL's own count of the HTTP requests it made and the bytes it downloaded.

GDAL keeps network statistics (``VSINetworkStatsGetAsSerializedJSON``) when
``CPL_VSIL_NETWORK_STATS_ENABLED`` is on; rasterio does not expose them, so they are read
through ``ctypes`` (``libgdal``). GDAL reads the option once and again after each
``VSINetworkStatsReset``, so ``GdalRequestMeter`` sets it for the process and resets. Its
figures are the whole process's (GDAL counts every file and thread together); each reading
resets them, so what GDAL keeps stays small however many files are read (a request logged
between the reading and the reset, microseconds apart, is missed).
"""

from __future__ import annotations

import ctypes
import json
import logging
import threading

from rasterio.env import set_gdal_config

from gateway.core.libgdal import libgdal

log = logging.getLogger(__name__)


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
        set_gdal_config("CPL_VSIL_NETWORK_STATS_ENABLED", "YES")
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
    None where the loaded libgdal lacks the statistics (said once)."""
    global _meter, _tried
    with _lock:
        if not _tried:
            _tried = True
            try:
                _meter = GdalRequestMeter(libgdal())
            except (OSError, AttributeError) as exc:
                log.warning("remote reads stay charged at their estimate: %s", exc)
        return _meter
