"""Jobs within bounds, on a live gateway (OGC API door, uvicorn thread) and a real Redis:
large results live in the output storage, jobs, results and exports expire by themselves,
and a Redis outage is a 503 for jobs that heals by itself while synchronous execution goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from gateway.processes.jobs import PREFIX, JobStoreUnavailable
from tests.support.metric_samples import samples
from tests.support.ows_live import live_gateway
from tests.support.process_checks import (
    BAND_MATH,
    UTM_BOX,
    check_cog,
    execute,
    idle_scheduler,
    utm_reference,
)
from tests.support.quota_checks import left_today, units

OGCAPI = ("gateway.ogcapi.door:build_door",)
SUMMARY = {**BAND_MATH, "format": "json"}
COG = {**BAND_MATH, "format": "cog"}  # 300 x 300 float32: a few hundred kB


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    with idle_scheduler() as address:
        yield address


@pytest.fixture
def redis_url(redis_server) -> str:
    """Database 8 of the session's Redis, running and empty."""
    redis_server.start()
    url = f"redis://127.0.0.1:{redis_server.port}/8"
    with redis.Redis.from_url(url) as client:
        client.flushdb()
    return url


def _settings(sample_settings, outputs: Path, **update):
    return sample_settings.model_copy(
        update={"output_dir": outputs, "job_result_inline_bytes": 10_000, **update}
    )


def _job_id(answer: httpx.Response) -> str:
    return answer.headers["location"].rpartition("/")[2]


def _status(url: str, job_id: str) -> int:
    return httpx.get(f"{url}/ogcapi/jobs/{job_id}", params={"f": "json"}).status_code


def test_large_results_are_kept_in_the_output_storage(
    sample_settings, sample_archive, redis_url, tmp_path
):
    outputs = tmp_path / "outputs"
    with live_gateway(_settings(sample_settings, outputs, redis_url=redis_url), OGCAPI) as url:
        large = execute(url, "band-math", COG)
        small = execute(url, "band-math", SUMMARY)
        assert large.status_code == 200 and small.status_code == 200
        large_id, small_id = _job_id(large), _job_id(small)
        kept = outputs / "results" / large_id
        assert kept.read_bytes() == large.content
        with redis.Redis.from_url(redis_url) as client:
            assert not client.exists(f"{PREFIX}:job:{large_id}:result")
            assert client.exists(f"{PREFIX}:job:{small_id}:result")
        assert not (outputs / "results" / small_id).exists()
        result = httpx.get(f"{url}/ogcapi/jobs/{large_id}/results")
        assert result.status_code == 200 and result.content == large.content
        check_cog(result.content, utm_reference(sample_archive), tmp_path / "result.tif")
        summary = httpx.get(f"{url}/ogcapi/jobs/{small_id}/results", params={"f": "json"})
        assert summary.json() == small.json()
        assert httpx.delete(f"{url}/ogcapi/jobs/{large_id}").status_code == 200
        assert not kept.exists()


def _wait_until(check, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not removed in time"
        time.sleep(0.1)


@pytest.mark.parametrize("store", ["redis", "memory"])
def test_jobs_results_and_exports_expire_by_themselves(
    sample_settings, redis_server, tmp_path, store
):
    outputs = tmp_path / "outputs"
    redis_url = f"redis://127.0.0.1:{redis_server.port}/8" if store == "redis" else None
    short = {"job_retention_days": 2 / 86_400, "export_retention_days": 2 / 86_400}
    settings = _settings(
        sample_settings, outputs, redis_url=redis_url, cleanup_interval_s=0.2, **short
    )
    if redis_url:
        redis_server.start()
    with live_gateway(settings, OGCAPI) as url:
        exported = execute(url, "export", BAND_MATH)
        large, small = execute(url, "band-math", COG), execute(url, "band-math", SUMMARY)
        export = outputs / exported.json()["href"].rpartition("/")[2]
        result = outputs / "results" / _job_id(large)
        job_ids = [_job_id(a) for a in (exported, large, small)]
        assert export.is_file() and result.is_file()
        assert all(_status(url, job_id) == 200 for job_id in job_ids)
        _wait_until(lambda: not export.exists() and not result.exists())
        _wait_until(lambda: all(_status(url, job_id) == 404 for job_id in job_ids))
        if redis_url:
            with redis.Redis.from_url(redis_url) as client:
                _wait_until(
                    lambda: (
                        not set(job_ids)
                        & {i.decode() for i in client.zrange(f"{PREFIX}:jobs", 0, -1)}
                    )
                )


def test_without_redis_jobs_are_a_503_and_synchronous_execution_goes_on(
    sample_settings, sample_archive, redis_server, redis_url, scheduler, tmp_path
):
    settings = _settings(
        sample_settings, tmp_path / "outputs", redis_url=redis_url, dask_scheduler=scheduler
    )
    with live_gateway(settings, OGCAPI) as url:
        before = execute(url, "band-math", SUMMARY)
        job_id = _job_id(before)
        assert before.status_code == 200
        redis_server.stop()
        try:
            during = execute(url, "band-math", SUMMARY)
            assert during.status_code == 200 and during.json() == before.json()
            cog = execute(url, "band-math", COG)
            assert cog.status_code == 200
            check_cog(cog.content, utm_reference(sample_archive), tmp_path / "during.tif")
            job = f"{url}/ogcapi/jobs/{job_id}"
            for answer in (
                httpx.get(f"{url}/ogcapi/jobs"),
                httpx.get(job),
                httpx.get(f"{job}/results"),
                httpx.delete(job),
                execute(url, "band-math", SUMMARY, "respond-async"),
            ):
                assert answer.status_code == 503, answer.text
                assert int(answer.headers["retry-after"]) > 0
                assert "job store is unavailable" in answer.json()["description"]
        finally:
            redis_server.start()
        # Back by itself, once the back-off is over (the restarted Redis kept nothing).
        _wait_until(lambda: httpx.get(f"{url}/ogcapi/jobs").status_code == 200)
        assert execute(url, "band-math", SUMMARY, "respond-async").status_code == 201


def test_a_stuck_redis_costs_one_timeout(sample_settings, redis_server, redis_url, tmp_path):
    """A Redis that does not answer (paused) is given 2 s, then left alone for a while: the
    next job calls are 503 at once, synchronous execution runs on."""
    with live_gateway(_settings(sample_settings, tmp_path, redis_url=redis_url), OGCAPI) as url:
        timings = []
        redis_server.pause()
        try:
            for _ in range(2):
                started = time.monotonic()
                listing = httpx.get(f"{url}/ogcapi/jobs", timeout=30)
                timings.append(time.monotonic() - started)
                assert listing.status_code == 503, listing.text
            started = time.monotonic()
            run = execute(url, "band-math", SUMMARY)
            timings.append(time.monotonic() - started)
        finally:
            redis_server.resume()
        assert run.status_code == 200, run.text
        first, second, running = timings
        assert first < 10 and second < 1 and running < 10, timings
        time.sleep(JobStoreUnavailable.retry_after_s)
        assert httpx.get(f"{url}/ogcapi/jobs").status_code == 200


def test_a_jobs_log_lines_carry_the_id_of_the_request_that_started_it(
    sample_settings, redis_url, tmp_path
):
    """The job runs on a Dask worker (a thread here): the request id travels with it."""
    from distributed import LocalCluster

    from gateway.logs import RequestIdFilter

    seen: list[tuple[str, str]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append((record.getMessage(), record.request_id))  # type: ignore[attr-defined]

    handler = Keep(logging.INFO)
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("gateway.processes.runner")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with LocalCluster(
            n_workers=1, processes=False, threads_per_worker=1, dashboard_address="127.0.0.1:0"
        ) as cluster:
            settings = _settings(
                sample_settings,
                tmp_path / "outputs",
                redis_url=redis_url,
                dask_scheduler=cluster.scheduler_address,
            )
            with live_gateway(settings, OGCAPI) as url:
                started = httpx.post(
                    f"{url}/ogcapi/processes/band-math/execution",
                    json={"inputs": SUMMARY},
                    headers={"Prefer": "respond-async", "X-Request-ID": "job-trace-9"},
                    timeout=120,
                )
                assert started.status_code == 201, started.text
                assert started.headers["x-request-id"] == "job-trace-9"
                job_id = _job_id(started)

                def ended() -> bool:
                    status = httpx.get(f"{url}/ogcapi/jobs/{job_id}", params={"f": "json"})
                    return status.json()["status"] in ("successful", "failed")

                _wait_until(ended, timeout=120)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    assert (f"job {job_id} (band-math) started", "job-trace-9") in seen
    assert (f"job {job_id} (band-math) succeeded", "job-trace-9") in seen


STATISTICS = {
    "expression": "NDVI", "bbox": list(UTM_BOX), "crs": "EPSG:32631", "resolution": 20,
    "time": "2025-06-01/2025-07-31", "resampling": "nearest",
}  # fmt: skip


@pytest.mark.parametrize(
    ("process", "inputs"), [("band-math", SUMMARY), ("statistics", STATISTICS)]
)
def test_an_async_job_is_charged_its_units_when_accepted_and_jobs_are_counted_by_state(
    sample_settings, redis_url, scheduler, tmp_path, process, inputs
):
    """The idle scheduler keeps the async job accepted: its units are charged all the same,
    as many as the same job run synchronously is charged; /metrics counts both jobs."""
    quotas = {"quotas": True, "quotas_anonymous_units_per_day": 100.0}
    settings = _settings(
        sample_settings, tmp_path / "outputs", redis_url=redis_url, dask_scheduler=scheduler
    )
    with live_gateway(settings.model_copy(update=quotas), OGCAPI) as url:
        ran = execute(url, process, inputs)
        accepted = execute(url, process, inputs, prefer="respond-async")
        metrics = samples(httpx.get(f"{url}/metrics").text)
    assert ran.status_code == 200 and accepted.status_code == 201, accepted.text
    spent = units(ran.headers)
    assert spent > 0 and units(accepted.headers) == pytest.approx(spent, abs=1e-6)
    # the headers show thousandths: the day's budget fell by the job's units, twice
    assert left_today(accepted.headers) == pytest.approx(100 - 2 * spent, abs=2e-3)
    assert left_today(accepted.headers) < left_today(ran.headers) < 100
    jobs = {
        labels[0][1]: value for (name, labels), value in metrics.items() if name == "gateway_jobs"
    }
    assert jobs == {"accepted": 1, "running": 0, "successful": 1, "failed": 0, "dismissed": 0}
