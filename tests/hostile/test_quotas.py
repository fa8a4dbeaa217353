"""Hostile input against quotas: sizes that would overflow the unit arithmetic, caller ids
that would make odd Redis keys, floods of callers, and a Redis that is gone."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.core.units import MAX_UNITS, micro, processing_units
from gateway.quotas.budgets import Budget, Budgets
from gateway.quotas.limiter import MemoryLimiter, RedisLimiter
from tests.support.ports import free_port
from tests.support.quota_checks import getmap, left_today, units


@dataclass(frozen=True)
class Caller:
    id: object
    kind: object


@pytest.mark.parametrize(
    ("width", "height", "bands"),
    [(10**9, 10**9, 10**6), (2**63, 2**63, 2**63), (-(10**9), 10**9, 3), (0, 0, 0)],
)
def test_no_size_overflows_the_unit_arithmetic(width, height, bands):
    cost = processing_units(width, height, bands, float_output=True)
    assert 0.005 <= cost <= MAX_UNITS
    assert micro(cost) < 2**53  # exact in a Lua number and a Redis integer


@pytest.mark.parametrize("value", [float("nan"), float("-inf"), -1.0, float("inf"), 1e300])
def test_odd_unit_values_count_as_nothing_or_the_cap(value):
    assert micro(value) in (0, micro(MAX_UNITS))


@pytest.mark.parametrize(
    ("ident", "kind"),
    [
        ("x" * 100_000, "key"),
        ("a}{b\r\nSET x y", "token"),
        ("*", "basic"),
        ("alice", "key\x00}"),
    ],
)
def test_caller_ids_never_make_odd_redis_keys(ident, kind):
    caller = Budgets(Budget(), Budget()).of({"gateway.caller": Caller(ident, kind)})
    assert re.fullmatch(r"[A-Za-z0-9._:@*-]{1,64}", caller.key) and "{" not in caller.key
    assert not caller.anonymous


@pytest.mark.parametrize("caller", [Caller(123, "key"), Caller("", "key"), "admin", object()])
def test_a_caller_without_a_text_id_is_anonymous(caller):
    assert Budgets(Budget(1), Budget(2)).of({"gateway.caller": caller}).anonymous


def test_a_flood_of_callers_does_not_grow_the_memory_limiter_for_ever():
    limiter, budget = MemoryLimiter(), Budget(requests_per_minute=1)

    async def flood() -> None:
        now = time.time()
        for i in range(10_000):
            await limiter.admit(f"anonymous@10.0.{i // 256}.{i % 256}", budget, now)
        await limiter.admit("late", budget, now + 3600)  # their minutes have passed

    asyncio.run(flood())
    assert len(limiter._counts) <= 1


def test_a_redis_that_is_gone_admits_requests_quickly():
    limiter = RedisLimiter(f"redis://127.0.0.1:{free_port()}/0", retry_after_s=30)

    async def ask() -> None:
        started = time.monotonic()
        standing = await limiter.admit("anonymous", Budget(requests_per_minute=0))
        assert standing.admitted and standing.counts == ()
        await limiter.charge("anonymous", 10.0)  # dropped, without raising
        assert (await limiter.admit("anonymous", Budget(0))).admitted
        assert time.monotonic() - started < 2
        await limiter.close()

    asyncio.run(ask())


@pytest.mark.parametrize(
    "size", [{"WIDTH": "99999999999999999999"}, {"WIDTH": "-512"}, {"HEIGHT": "1e400"}]
)
def test_absurd_sizes_are_refused_and_cost_nothing(sample_settings, size):
    settings = sample_settings.model_copy(update={"quotas": True})
    with TestClient(create_app(settings)) as client:
        before = left_today(client.get("/ogcapi/collections").headers)
        answer = client.get("/wms", params=getmap(**size))
        assert answer.status_code == 400
        assert units(answer.headers) == 0 and left_today(answer.headers) == before
