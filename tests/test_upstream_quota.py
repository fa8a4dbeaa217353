"""The remote services' quota, in one process and shared by processes through Redis."""

from __future__ import annotations

import threading
import time

import pytest

from gateway.core.admission import RequestTicket
from gateway.core.upstream import (
    LocalCounters,
    Quota,
    QuotaExhausted,
    QuotaLimits,
    RedisCounters,
    make_quota,
)


@pytest.fixture(params=["local", "redis"])
def counters(request):
    """Each kind of counters (two quotas over the same Redis prefix share them)."""
    if request.param == "local":
        shared = LocalCounters()
        return lambda: shared
    client = request.getfixturevalue("redis_client")
    prefix = f"test:{request.node.name}:{time.monotonic_ns()}"
    return lambda: RedisCounters(client, prefix)


def test_connections_beyond_the_cap_wait_in_line_then_get_503(counters):
    limits = QuotaLimits(connections=2, wait_s=0.3)
    one, other = Quota("s3", limits, counters()), Quota("s3", limits, counters())
    with one.lease(), other.lease():
        assert one.state()["connections"] == 2
        started = time.monotonic()
        with pytest.raises(QuotaExhausted) as refused, one.lease():
            pass
        assert time.monotonic() - started >= 0.25  # waited in line first
    assert refused.value.status == 503
    assert one.state()["connections"] == 0 and one.state()["refused"] == 1
    with one.lease():  # given back
        pass


def test_a_waiting_read_gets_the_slot_given_back(counters):
    limits = QuotaLimits(connections=1, wait_s=5.0)
    quota = Quota("s3", limits, counters())
    lease = quota.lease().__enter__()
    threading.Timer(0.3, lease.__exit__, (None, None, None)).start()
    started = time.monotonic()
    with quota.lease():
        assert 0.2 <= time.monotonic() - started < 3.0


def test_requests_per_minute(counters):
    quota = Quota("stac", QuotaLimits(requests_per_minute=5, wait_s=0.2), counters())
    for _ in range(5):
        quota.take(1)
    with pytest.raises(QuotaExhausted):
        quota.take(1)
    assert quota.state()["requests_last_minute"] == 5
    with pytest.raises(QuotaExhausted):  # more than a minute's worth: refused at once
        Quota("stac", QuotaLimits(requests_per_minute=5, wait_s=10), counters()).take(6)


def test_requests_charged_on_a_lease_count_against_the_minute(counters):
    limits = QuotaLimits(connections=4, requests_per_minute=6, wait_s=0.2)
    quota = Quota("s3", limits, counters())
    with quota.lease() as lease:
        lease.take(4)
        with pytest.raises(QuotaExhausted):
            lease.take(3)
    assert quota.state()["requests_last_minute"] == 4


def test_bytes_per_month(counters):
    quota = Quota("s3", QuotaLimits(bytes_per_month=1000, wait_s=5), counters())
    with quota.lease() as lease:
        lease.take(1, 999)
    with quota.lease() as lease:
        lease.take(1, 10)
    started = time.monotonic()
    with pytest.raises(QuotaExhausted), quota.lease():
        pass
    assert time.monotonic() - started < 1.0  # no wait helps
    assert quota.state()["bytes_this_month"] == 1009


def test_a_dead_holders_slot_expires(counters):
    limits = QuotaLimits(connections=1, wait_s=3.0, slot_ttl_s=0.5)
    quota = Quota("s3", limits, counters())
    quota.lease().__enter__()  # never given back, as by a process killed mid-read
    started = time.monotonic()
    with quota.lease():
        assert time.monotonic() - started >= 0.3


def test_unlimited_means_no_quota():
    assert make_quota("s3", QuotaLimits(), None, "x") is None
    assert isinstance(make_quota("s3", QuotaLimits(connections=1), None, "x"), Quota)


def test_without_redis_the_quota_counts_per_process(caplog):
    quota = make_quota("s3", QuotaLimits(connections=1, wait_s=0.1), "redis://127.0.0.1:1/0", "x")
    assert quota is not None
    started = time.monotonic()
    with quota.lease():
        with pytest.raises(QuotaExhausted), quota.lease():
            pass
        assert quota.state()["connections"] == 1
    assert time.monotonic() - started < 1.0  # Redis is left alone after a failure
    warnings = [r for r in caplog.records if "counting per process" in r.getMessage()]
    assert len(warnings) == 1  # said once, not at every read


def test_the_reads_of_one_request_share_one_budget_of_waiting():
    quota = Quota("s3", QuotaLimits(connections=1, wait_s=2.0), LocalCounters())
    blocker = quota.lease().__enter__()
    threading.Timer(0.5, blocker.__exit__, (None, None, None)).start()
    with RequestTicket() as ticket:
        with quota.lease():  # waits about 0.5 s of the request's 2 s (more on a busy machine)
            pass
        waited = ticket.quota_waited_s
        assert 0.4 <= waited < 2.0
        quota.lease().__enter__()  # held by a read of another request
        started = time.monotonic()
        with pytest.raises(QuotaExhausted), quota.lease():
            pass
        # only what is left of the budget, not a whole one (2 s)
        assert time.monotonic() - started < 2.0 - waited + 0.35


def test_a_yielding_lease_gives_way_to_a_request_waiting_in_line(counters):
    """Background work (``yielding``) takes a slot only when no request of the process waits
    for one: the request waiting first is served first."""
    quota = Quota("s3", QuotaLimits(connections=1, wait_s=5.0), counters())
    order: list[str] = []
    holder = quota.lease().__enter__()

    def take(name: str, yielding: bool) -> None:
        with quota.lease(yielding=yielding):
            order.append(name)
            time.sleep(0.1)

    request = threading.Thread(target=take, args=("request", False))
    request.start()
    deadline = time.monotonic() + 3
    while quota.state()["waiting"] != 1:  # the request waits in line
        assert time.monotonic() < deadline
        time.sleep(0.01)
    background = threading.Thread(target=take, args=("background", True))
    background.start()
    time.sleep(0.3)
    assert quota.state()["waiting"] == 1  # the background's wait is not a request's
    holder.__exit__(None, None, None)
    request.join(5)
    background.join(5)
    assert order == ["request", "background"]
    assert quota.state()["connections"] == 0


def test_a_yielding_lease_refused_is_not_counted_as_a_refused_request(counters):
    limits = QuotaLimits(connections=1, bytes_per_month=100, wait_s=0.2)
    quota = Quota("s3", limits, counters())
    with quota.lease(), pytest.raises(QuotaExhausted), quota.lease(yielding=True):
        pass
    with quota.lease() as lease:
        lease.take(0, 100)  # the month's bytes used up
    with pytest.raises(QuotaExhausted), quota.lease(yielding=True):
        pass
    assert quota.state()["refused"] == 0 and quota.state()["waiting"] == 0


def test_a_yielding_lease_holding_its_slot_charges_without_giving_way(counters):
    """Once it holds its slot, a yielding lease charges its reads at once: giving way then to
    a request that waits for that very slot would stall both."""
    quota = Quota("s3", QuotaLimits(connections=1, wait_s=2.0), counters())
    with quota.lease(yielding=True) as background:
        request = threading.Thread(target=lambda: quota.lease().__enter__().__exit__())
        request.start()
        deadline = time.monotonic() + 3
        while quota.state()["waiting"] != 1:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        started = time.monotonic()
        background.take(1)
        assert time.monotonic() - started < 0.5
    request.join(5)
    assert quota.state()["connections"] == 0 and quota.state()["refused"] == 0


def test_adjusting_gives_back_the_newest_requests_and_charges_spent_ones(counters):
    limits = QuotaLimits(requests_per_minute=10, bytes_per_month=1000, wait_s=0.2)
    quota = Quota("s3", limits, counters())
    with quota.lease() as lease:
        lease.take(6, 600)
    quota.take(3)
    with pytest.raises(QuotaExhausted):
        quota.take(2)
    quota.adjust(-4, -500)  # 4 of the 9 were not made, 500 bytes not downloaded
    assert quota.state()["requests_last_minute"] == 5
    assert quota.state()["bytes_this_month"] == 100
    quota.adjust(12, 50)  # spent beyond the estimate: charged at once, past the limit
    assert quota.state()["requests_last_minute"] == 17
    assert quota.state()["bytes_this_month"] == 150
    quota.adjust(-20, 0)  # no more than was charged
    assert quota.state()["requests_last_minute"] == 0
    quota.take(10)  # the minute's budget is free again


def test_a_process_gives_back_only_what_it_charged(redis_client):
    prefix = f"test:give-back:{time.monotonic_ns()}"
    limits = QuotaLimits(requests_per_minute=100)
    mine, other = (Quota("s3", limits, RedisCounters(redis_client, prefix)) for _ in range(2))
    other.take(3)
    mine.take(6)
    other.take(2)
    mine.adjust(-10, 0)
    assert mine.state()["requests_last_minute"] == 5
