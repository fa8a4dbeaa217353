"""Quotas shared by two gateway processes through one real redis-server: each caller's
requests per minute and processing units are counted once, whichever process answers."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis

from tests.support.gateway_server import GatewayServer, start_together
from tests.support.quota_checks import (
    assert_problem_refusal,
    assert_wms_refusal,
    early_in_a_minute,
    getmap,
    left_today,
    units,
)

REDIS_DB = 11  # a database of the session's redis-server of its own
PER_MINUTE = 6


@pytest.fixture(scope="module")
def pair(sample_archive, tmp_path_factory, redis_server) -> Iterator[tuple[str, str, str]]:
    """Two gateways on one Redis (counters and the map cache alike); their URLs and Redis's."""
    redis_url = f"redis://127.0.0.1:{redis_server.port}/{REDIS_DB}"
    folder = tmp_path_factory.mktemp("quotas")
    env = {
        "GATEWAY_DATA_DIR": str(sample_archive),
        "GATEWAY_OUTPUT_DIR": str(folder / "out"),
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_QUOTAS": "true",
        "GATEWAY_QUOTAS_ANONYMOUS_REQUESTS_PER_MINUTE": str(PER_MINUTE),
        "GATEWAY_QUOTAS_ANONYMOUS_UNITS_PER_DAY": "2.5",
        "GATEWAY_QUOTAS_ANONYMOUS_UNITS_PER_MONTH": "",  # no limit
    }
    servers = start_together([GatewayServer(env, folder / f"server{i}.log") for i in (1, 2)])
    try:
        yield servers[0].url, servers[1].url, redis_url
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def fresh(pair) -> tuple[str, str, str]:
    """The two gateways with nothing counted or cached, early in a minute (so that a test's
    requests share one minute's window)."""
    with redis.Redis.from_url(pair[2]) as client:
        client.flushdb()
    early_in_a_minute(20)
    return pair


def test_two_processes_share_one_callers_requests_per_minute(fresh):
    one, two, _ = fresh
    remaining = []
    for i in range(PER_MINUTE):
        answer = httpx.get(f"{(one, two)[i % 2]}/ogcapi/collections", timeout=30)
        assert answer.status_code == 200
        assert answer.headers["ratelimit-limit"] == str(PER_MINUTE)
        remaining.append(int(answer.headers["ratelimit-remaining"]))
    assert remaining == [5, 4, 3, 2, 1, 0]
    wms = httpx.get(f"{one}/wms", params=getmap(), timeout=30)
    message = assert_wms_refusal(wms)
    assert "requests allowed per minute are spent" in message
    assert 1 <= int(wms.headers["retry-after"]) <= 60
    ogcapi = httpx.get(f"{two}/ogcapi/collections", timeout=30)
    assert "per minute" in assert_problem_refusal(ogcapi)
    assert ogcapi.headers["ratelimit-remaining"] == "0"
    metrics = httpx.get(f"{two}/metrics", timeout=30).text  # not counted itself
    assert 'gateway_quota_rejections_total{door="ogcapi"} 1.0' in metrics


def test_two_processes_share_one_callers_processing_units(fresh):
    one, two, redis_url = fresh
    rendered = httpx.get(f"{one}/wms", params=getmap(), timeout=60)
    assert rendered.status_code == 200
    assert units(rendered.headers) == 1.0 and left_today(rendered.headers) == 1.5
    # The other process finds the map in the shared cache: a tenth of its cost.
    cached = httpx.get(f"{two}/wms", params=getmap(), timeout=60)
    assert units(cached.headers) == 0.1 and left_today(cached.headers) == 1.4
    again = httpx.get(f"{one}/wms", params=getmap(shift=3000), timeout=60)
    assert units(again.headers) == 1.0 and left_today(again.headers) == 0.4
    last = httpx.get(f"{two}/wms", params=getmap(shift=6000), timeout=60)  # 0.4 was left
    assert last.status_code == 200 and left_today(last.headers) == 0
    for url in (one, two):
        refused = httpx.get(f"{url}/wms", params=getmap(), timeout=60)
        message = assert_wms_refusal(refused)
        assert "processing units allowed per day are spent" in message
        assert int(refused.headers["retry-after"]) > 60  # at the end of the UTC day
    with redis.Redis.from_url(redis_url) as client:
        keys = [key.decode() for key in client.keys("cdsegw:quota:*")]
    day = next(key for key in keys if key.rsplit(":", 1)[1].startswith("d"))
    assert day.startswith("cdsegw:quota:{anonymous}:d")


def test_concurrent_requests_to_both_processes_admit_exactly_the_limit(fresh):
    one, two, _ = fresh

    def ask(i: int) -> int:
        return httpx.get(f"{(one, two)[i % 2]}/ogcapi/collections", timeout=30).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(ask, range(4 * PER_MINUTE)))
    assert statuses.count(200) == PER_MINUTE
    assert statuses.count(429) == 3 * PER_MINUTE
