"""Quotas per caller in one process: processing-unit arithmetic, windows, the in-process
limiter, and the app's answers (headers, 429 in each door's dialect, cache hits, callers).

Shared by several processes through Redis: tests/test_quotas_shared.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from lxml import etree
from starlette.testclient import TestClient

from gateway.access.grants import Grant
from gateway.access.keys import FileKeyStore, create
from gateway.app import create_app
from gateway.core.request import build_request
from gateway.core.units import MICRO, micro, processing_units
from gateway.edge.headers import conventional
from gateway.quotas import windows
from gateway.quotas.budgets import Budget, Budgets, load_overrides
from gateway.quotas.limiter import MemoryLimiter
from tests.support.process_checks import UTM_BOX
from tests.support.quota_checks import (
    UTM31,
    assert_problem_refusal,
    assert_wms_refusal,
    early_in_a_minute,
    getmap,
    left_today,
    units,
)

# Sentinel Hub's rules --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "bands", "float_output", "expected"),
    [
        (512, 512, 3, False, 1.0),  # the definition
        (1024, 1024, 3, False, 4.0),  # area
        (256, 256, 3, False, 0.25),
        (512, 512, 6, False, 2.0),  # input bands / 3
        (512, 512, 1, False, 1 / 3),
        (512, 512, 3, True, 2.0),  # 32-bit float output
        (10, 10, 3, False, 0.01),  # the area factor is at least 0.01
        (10, 10, 1, False, 0.005),  # a request costs at least 0.005
    ],
)
def test_processing_units_follow_sentinel_hubs_rules(width, height, bands, float_output, expected):
    assert processing_units(width, height, bands, float_output=float_output) == pytest.approx(
        expected
    )


def test_units_are_counted_in_whole_micro_units_rounded_up():
    assert micro(1.0) == MICRO
    assert micro(0.0000001) == 1
    assert micro(0) == 0


def test_the_engine_prices_a_request_by_its_output_and_the_bands_it_reads(runtime):
    def price(layer: str, size: int = 512, format: str = "png") -> float:
        bbox = tuple(float(v) for v in UTM31.split(","))
        request = build_request(
            runtime.config, bbox=bbox, crs="EPSG:32631", width=size, height=size,
            layer=layer, format=format,
        )  # fmt: skip
        return runtime.engine.units(request)

    assert price("TRUE_COLOR") == pytest.approx(1.0)  # B04, B03, B02
    assert price("NDVI") == pytest.approx(1.0)  # B08, B04 and SCL for its cloud mask
    assert price("SCL", 1024) == pytest.approx(4 / 3)
    assert price("TRUE_COLOR", format="image/tiff") == pytest.approx(2.0)  # float32 values


# Windows ---------------------------------------------------------------------------------


def test_days_and_months_are_utcs_and_reset_at_their_end():
    now = datetime(2026, 12, 31, 23, 59, 30, tzinfo=UTC).timestamp()
    assert windows.minute(now).reset_s(now) == 30
    assert windows.day(now).id == "d20261231" and windows.day(now).reset_s(now) == 30
    month = windows.month(now)
    assert month.id == "M202612" and month.reset_s(now) == 30 and month.length_s == 31 * 86400
    assert windows.month(now + 30).id == "M202701"
    assert windows.month(datetime(2028, 2, 10, tzinfo=UTC).timestamp()).length_s == 29 * 86400


# The in-process limiter ------------------------------------------------------------------


def test_the_memory_limiter_counts_requests_per_minute_and_units_per_day():
    limiter = MemoryLimiter()
    budget = Budget(requests_per_minute=2, units_per_day=1.0)
    now = datetime(2026, 12, 4, 12, 0, 10, tzinfo=UTC).timestamp()

    async def run() -> None:
        first = await limiter.admit("a", budget, now)
        assert first.admitted and first.counts[0].remaining == 1
        assert (await limiter.admit("a", budget, now)).admitted
        refused = await limiter.admit("a", budget, now + 1)
        assert not refused.admitted and refused.retry_after_s == 49
        assert (await limiter.admit("b", budget, now)).admitted  # another caller's own
        later = now + 60  # the next minute
        await limiter.charge("a", 0.75, later)
        standing = await limiter.admit("a", budget, later)
        assert standing.admitted and standing.counts[1].remaining == pytest.approx(0.25)
        await limiter.charge("a", 0.75, later)  # the last request may overshoot
        spent = await limiter.admit("a", budget, later + 60)
        assert not spent.admitted and spent.counts[1].remaining == 0
        assert spent.retry_after_s == round(windows.day(later).end - later - 60)
        next_day = await limiter.admit("a", budget, windows.day(later).end)
        assert next_day.admitted

    asyncio.run(run())


# Callers and budgets ---------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """What the authentication middleware sets in ``scope["gateway.caller"]`` (duck-typed)."""

    id: str
    kind: str


def test_callers_get_their_budget_and_key():
    anonymous, signed = Budget(1, 1, 1), Budget(10, 10, 10)
    budgets = Budgets(anonymous, signed, {"alice": Budget(100)})
    assert budgets.of({}).key == "anonymous" and budgets.of({}).budget == anonymous
    assert budgets.of({"gateway.caller": Caller("x", "anonymous")}).anonymous
    bob = budgets.of({"gateway.caller": Caller("bob", "key")})
    assert (bob.key, bob.budget, bob.anonymous) == ("key:bob", signed, False)
    assert budgets.of({"gateway.caller": Caller("alice", "token")}).budget == Budget(100)
    by_address = Budgets(anonymous, signed, anonymous_by_address=True)
    assert by_address.of({"client": ("10.0.0.7", 5000)}).key == "anonymous@10.0.0.7"


def test_overrides_are_read_from_yaml_or_json(tmp_path):
    default = Budget(10, None, 100)
    path = tmp_path / "quotas.json"
    path.write_text('{"callers": {"alice": {"requests_per_minute": 600, "units_per_month": null}}}')
    assert load_overrides(path, default) == {"alice": Budget(600, None, None)}
    path.write_text("callers:\n  bob: {units_per_day: 5}\n")
    assert load_overrides(path, default) == {"bob": Budget(10, 5, 100)}
    for wrong in (
        "callers: [1]",
        "callers:\n  bob: {units: 5}",
        "callers:\n  bob: {units_per_day: -1}",
    ):
        path.write_text(wrong)
        with pytest.raises(ValueError):
            load_overrides(path, default)


# The app ---------------------------------------------------------------------------------


@pytest.fixture
def quota_app(sample_settings, tmp_path):
    def make(**settings) -> TestClient:
        overrides = tmp_path / "quotas.yaml"
        overrides.write_text("callers:\n  alice: {requests_per_minute: 1}\n")
        chosen = sample_settings.model_copy(
            update={"quotas": True, "quotas_file": overrides, **settings}
        )
        return TestClient(create_app(chosen))

    return make


def test_quotas_are_off_by_default(sample_settings):
    assert not sample_settings.quotas
    with TestClient(create_app(sample_settings)) as client:
        answer = client.get("/wms", params=getmap(64))
    assert answer.status_code == 200 and "ratelimit-limit" not in answer.headers


def test_a_render_costs_its_units_and_a_cache_hit_its_fraction(quota_app):
    with quota_app(quotas_anonymous_units_per_day=10.0) as client:
        first = client.get("/wms", params=getmap())
        assert first.status_code == 200
        assert units(first.headers) == 1.0 and left_today(first.headers) == 9.0
        again = client.get("/wms", params=getmap())  # from the cache: a tenth
        assert units(again.headers) == 0.1 and left_today(again.headers) == 8.9
        ogcapi = client.get(
            "/ogcapi/collections/TRUE_COLOR/map",
            params={"bbox": UTM31, "bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/32631",
                    "width": 256, "height": 256, "datetime": "2025-06-13"},
        )  # fmt: skip
        assert ogcapi.status_code == 200, ogcapi.text
        assert units(ogcapi.headers) == 0.25 and left_today(ogcapi.headers) == 8.65
        refused = client.get("/wms", params=getmap(WIDTH="99999999"))  # not 2xx: free
        assert refused.status_code == 400 and units(refused.headers) == 0
        assert left_today(refused.headers) == 8.65
        assert "ratelimit-limit" not in client.get("/healthz").headers  # not counted
        exposed = client.get("/wms", params=getmap(), headers={"Origin": "https://a.example"})
        readable = exposed.headers["access-control-expose-headers"]
        assert "RateLimit-Remaining" in readable and "X-Processing-Units-Remaining-Day" in readable


def test_spent_units_are_refused_until_the_day_ends(quota_app):
    with quota_app(quotas_anonymous_units_per_day=1.5) as client:
        assert left_today(client.get("/wms", params=getmap()).headers) == 0.5
        last = client.get("/wms", params=getmap(shift=3000))  # admitted: 0.5 was left
        assert last.status_code == 200 and left_today(last.headers) == 0
        refused = client.get("/wms", params=getmap(shift=6000))
        message = assert_wms_refusal(refused)
        assert "processing units allowed per day are spent" in message
        now = datetime.now(UTC).timestamp()
        assert abs(int(refused.headers["retry-after"]) - windows.day(now).reset_s(now)) <= 2
        problem = client.get("/ogcapi/collections/TRUE_COLOR/map")
        assert "per day" in assert_problem_refusal(problem)
        metrics = client.get("/metrics").text
        assert 'gateway_quota_rejections_total{door="wms"} 1.0' in metrics
        assert 'gateway_quota_rejections_total{door="ogcapi"} 1.0' in metrics


def test_anonymous_and_authenticated_callers_have_their_own_budgets(quota_app, tmp_path):
    """Callers as the access control names them (API keys here): each key its own budget,
    every caller without credentials the anonymous one."""
    store = FileKeyStore(tmp_path / "keys.json")
    bob, carol, alice = (create(store, name, Grant()) for name in ("bob", "carol", "alice"))
    (tmp_path / "access.yaml").write_text("anonymous: {}\n")  # may use everything
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(f"callers:\n  key:{alice[1].id}: {{requests_per_minute: 1}}\n")
    early_in_a_minute(10)
    with quota_app(
        quotas_anonymous_requests_per_minute=2,
        quotas_requests_per_minute=3,
        quotas_file=budgets,
        access="on",
        access_file=tmp_path / "access.yaml",
        access_key_file=store.path,
    ) as client:

        def ask(key: str | None = None):
            headers = {"X-API-Key": key} if key else {}
            return client.get("/ogcapi/collections", headers=headers)

        assert [ask().headers["ratelimit-remaining"] for _ in range(2)] == ["1", "0"]
        anonymous = ask()
        assert "requests allowed per minute" in assert_problem_refusal(anonymous)
        assert anonymous.headers["ratelimit-limit"] == "2"
        for path, params in (
            ("/wcs", {"SERVICE": "WCS", "REQUEST": "GetCapabilities"}),
            ("/wfs", {"SERVICE": "WFS", "REQUEST": "GetCapabilities"}),
            ("/wmts", {"SERVICE": "WMTS", "REQUEST": "GetCapabilities"}),
        ):
            report = client.get(path, params=params)  # each OWS door's ExceptionReport
            assert report.status_code == 429 and int(report.headers["retry-after"]) >= 1
            assert etree.QName(etree.fromstring(report.content)).localname == "ExceptionReport"
        answers = [ask(bob[0]) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[0].headers["ratelimit-limit"] == "3"
        assert ask(carol[0]).status_code == 200  # each caller its own
        hers = [ask(alice[0]) for _ in range(2)]  # her own budget, from the file
        assert [a.status_code for a in hers] == [200, 429]
        assert 1 <= int(hers[1].headers["retry-after"]) <= 60


def test_a_synchronous_process_is_charged_for_what_it_computes(quota_app):
    statistics = {
        "expression": "NDVI", "bbox": list(UTM_BOX), "crs": "EPSG:32631", "resolution": 20,
        "time": "2025-06-10/2025-06-20", "resampling": "nearest",
    }  # fmt: skip
    with quota_app(quotas_anonymous_units_per_day=100.0) as client:
        answer = client.post("/ogcapi/processes/statistics/execution", json={"inputs": statistics})
        assert answer.status_code == 200, answer.text
        assert units(answer.headers) > 0
        assert left_today(answer.headers) == pytest.approx(100 - units(answer.headers), abs=1e-3)


def test_ratelimit_headers_are_spelt_as_the_draft_spells_them():
    assert conventional(b"ratelimit-remaining") == b"RateLimit-Remaining"
    assert conventional(b"x-processing-units-remaining-day") == b"X-Processing-Units-Remaining-Day"


def test_tiles_from_the_tile_service_cost_their_block_then_a_fraction_each(quota_app):
    """A WMTS tile that misses renders its metatile block (the block's units); its neighbours
    then come from the cache (the event loop's hit path or a worker's) at the fraction of one
    tile's units, by REST and KVP alike."""
    day = "2025-06-13"

    def rest(x: int, y: int) -> str:
        return f"/wmts/1.0.0/TRUE_COLOR/WebMercatorQuad/{day}/14/{x}/{y}.png"

    with quota_app(quotas_anonymous_units_per_day=100.0) as client:
        first = client.get(rest(8512, 5408))
        assert first.status_code == 200 and first.headers["x-cache"] == "miss"
        block = units(first.headers)
        assert block == 4.0  # a 4 x 4 block of 256 px tiles, three bands: 16 x 0.25
        for x, y in ((8513, 5408), (8512, 5409), (8513, 5409)):
            hit = client.get(rest(x, y))
            assert hit.status_code == 200 and hit.headers["x-cache"] == "hit"
            assert units(hit.headers) == 0.025  # a tenth of one tile's 0.25
        again = client.get(rest(8513, 5409))  # now known to the event loop's hit path
        assert again.headers["x-cache"] == "hit" and units(again.headers) == 0.025
        kvp = client.get("/wmts", params={
            "SERVICE": "WMTS", "REQUEST": "GetTile", "VERSION": "1.0.0", "LAYER": "TRUE_COLOR",
            "STYLE": "default", "FORMAT": "image/png", "TILEMATRIXSET": "WebMercatorQuad",
            "TILEMATRIX": "14", "TILEROW": "5409", "TILECOL": "8512", "TIME": day,
        })  # fmt: skip
        assert kvp.status_code == 200 and units(kvp.headers) == 0.025
        assert left_today(kvp.headers) == round(100.0 - block - 5 * 0.025, 6)


def test_a_request_is_charged_before_its_caller_has_the_answer():
    """A client that asks again as soon as it has an answer (to this process or another)
    finds that answer's units spent: the charge is made before the response starts, and
    what is spent while the body streams is charged after it."""
    from gateway import context
    from gateway.edge.quotas import Quotas

    events: list[str] = []

    class Recording(MemoryLimiter):
        async def charge(self, caller: str, units: float, now: float | None = None) -> None:
            events.append(f"charge {units:g}")
            await super().charge(caller, units, now)

    async def app(scope, receive, send) -> None:
        context.charge(0.5)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        context.charge(0.25)  # a streamed body's later work
        await send({"type": "http.response.body", "body": b"x", "more_body": False})

    async def send(message) -> None:
        events.append(message["type"])

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    budget = Budget(requests_per_minute=100, units_per_day=10.0)
    quotas = Quotas(
        app, budgets=Budgets(budget, budget), limiter=Recording(),
        rejections=None, cached_fraction=0.1,  # type: ignore[arg-type]
    )  # fmt: skip
    scope = {"type": "http", "path": "/wms", "headers": [], "client": ("127.0.0.1", 1)}
    asyncio.run(quotas(scope, receive, send))
    assert events == ["charge 0.5", "http.response.start", "http.response.body", "charge 0.25"]
