"""What a quota was charged for GDAL's reads, trued up to the requests GDAL really made.

A remote read is charged its estimate (``RemoteCharge``) before GDAL opens or reads, so the
quota can refuse it before anything is spent. GDAL's caches make the true figures differ:
measured through a counting proxy, a zoomed-out view was charged 5 to 11 times its GETs, and
the gateway held back later views for a quota it had not used. So as each read ends,
``TrueUp`` compares the estimates of the reads that ended with GDAL's own count of the
requests and bytes of the process (``GdalRequestMeter``) and gives back the difference, or
charges what the estimates missed. What the quota holds is then the requests really made plus
the estimates of the reads still running (whose requests so far are counted in both: on the
safe side until they end). GDAL's count is the process's: a second reader in the process
would be charged the first one's requests too (on the safe side); the server has one.
"""

from __future__ import annotations

import threading

from gateway.core.gdal_requests import GdalRequestMeter
from gateway.core.upstream import Quota


class TrueUp:
    """Trues up ``quota``'s charges for this process's GDAL reads as they end."""

    def __init__(self, quota: Quota, meter: GdalRequestMeter) -> None:
        self._quota = quota
        self._meter = meter
        self._lock = threading.Lock()
        self._start = meter.totals()
        self._ended = (0, 0)  # estimated requests and bytes of the reads that ended
        self._given_back = (0, 0)  # net requests and bytes given back so far

    def ended(self, requests: int, nbytes: int) -> None:
        """A read charged ``requests`` and ``nbytes`` has ended: true up the quota."""
        with self._lock:
            real = self._meter.totals()
            ended = (self._ended[0] + requests, self._ended[1] + nbytes)
            owed = tuple(e - (r - s) for e, r, s in zip(ended, real, self._start, strict=True))
            change = (owed[0] - self._given_back[0], owed[1] - self._given_back[1])
            self._ended, self._given_back = ended, (owed[0], owed[1])
        if change != (0, 0):
            self._quota.adjust(-change[0], -change[1])
