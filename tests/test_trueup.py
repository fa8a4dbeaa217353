"""Quota charges trued up to GDAL's own count of its requests (``gateway.core.trueup``);
against the S3 stand-in in ``test_remote``."""

from __future__ import annotations

from gateway.core.trueup import TrueUp
from gateway.core.upstream import LocalCounters, Quota, QuotaLimits


class Meter:
    """GDAL's count, set by the test."""

    def __init__(self) -> None:
        self.requests = self.bytes = 0

    def totals(self) -> tuple[int, int]:
        return self.requests, self.bytes


def _quota() -> Quota:
    return Quota(
        "s3", QuotaLimits(requests_per_minute=1000, bytes_per_month=10**9), LocalCounters()
    )


def _held(quota: Quota) -> tuple[int, int]:
    state = quota.state()
    return state["requests_last_minute"], state["bytes_this_month"]


def test_ended_reads_are_trued_up_to_the_requests_made():
    quota, meter = _quota(), Meter()
    meter.requests, meter.bytes = 2, 100  # before the TrueUp started: not its business
    true_up = TrueUp(quota, meter)
    with quota.lease() as lease:
        lease.take(30, 5000)  # estimated
        meter.requests, meter.bytes = 6, 1100  # made: 4 requests, 1000 bytes
    true_up.ended(30, 5000)
    assert _held(quota) == (4, 1000)


def test_a_read_in_flight_keeps_its_estimate_until_it_ends():
    quota, meter = _quota(), Meter()
    true_up = TrueUp(quota, meter)
    quota.take(10)  # read A: charged 10
    quota.take(20)  # read B: charged 20, still reading
    meter.requests = 3 + 5  # A made 3, B 5 so far
    true_up.ended(10, 0)  # A ends
    assert _held(quota)[0] == 8 + 20  # what was made, and B's whole estimate
    meter.requests = 3 + 12
    true_up.ended(20, 0)  # B ends
    assert _held(quota)[0] == 15


def test_requests_beyond_the_estimates_are_charged():
    quota, meter = _quota(), Meter()
    true_up = TrueUp(quota, meter)
    quota.take(2)
    meter.requests, meter.bytes = 9, 700  # a whole file read where a window was estimated
    true_up.ended(2, 0)
    assert _held(quota) == (9, 700)
