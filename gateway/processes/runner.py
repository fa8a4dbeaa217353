"""Executing an asynchronous job: plan it, run its tasks on Dask, store progress and result."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from gateway.context import NO_REQUEST, requesting
from gateway.errors import GatewayError
from gateway.processes.bandmath import plan_band_math
from gateway.processes.export import plan_export
from gateway.processes.jobs import Jobs, JobStoreUnavailable, RedisJobStore
from gateway.processes.plan import Plan, run_on_dask, worker_runtime
from gateway.processes.statistics import plan_statistics
from gateway.settings import Settings

PLANNERS: dict[str, Callable[..., Plan]] = {
    "band-math": plan_band_math,
    "statistics": plan_statistics,
    "export": plan_export,
}

log = logging.getLogger(__name__)


def run_job(
    settings: Settings,
    job_id: str,
    process_id: str,
    inputs: dict[str, Any],
    request_id: str = NO_REQUEST,
) -> None:
    """Run a whole job on a Dask worker: its chunks go to the cluster, progress to Redis, its
    log records carry the id of the request that started it.

    It needs nothing from the web worker that accepted the job, so restarting that worker
    does not stop it (with a scheduler outside the web process).
    """
    from distributed import worker_client

    assert settings.redis_url, "jobs run on their own only with a shared job store"
    jobs = Jobs(settings, RedisJobStore(settings.redis_url))
    with requesting(request_id):
        run_job_with(settings, job_id, process_id, inputs, jobs, worker_client)


def run_job_with(
    settings: Settings,
    job_id: str,
    process_id: str,
    inputs: dict[str, Any],
    jobs: Jobs,
    client_context: Callable[[], Any],
) -> None:
    """Run an admitted job (its inputs validated) and record how it ended."""
    log.info("job %s (%s) started", job_id, process_id)
    try:
        jobs.update(job_id, {"status": "running", "progress": 10, "message": "running"})
        plan = PLANNERS[process_id](inputs, worker_runtime(settings), settings)
        with client_context() as client:
            try:
                mimetype, outputs = run_on_dask(client, plan, jobs.progress(job_id))
            except Exception:
                if client.status in ("closing", "closed"):  # not the job's fault
                    raise GatewayError("the job stopped: its web process shut down") from None
                raise
        jobs.finish(job_id, mimetype, outputs)
        log.info("job %s (%s) succeeded", job_id, process_id)
    except Exception as error:  # the job records the failure; nothing else is waiting
        log.info("job %s (%s) failed: %s", job_id, process_id, type(error).__name__)
        with contextlib.suppress(JobStoreUnavailable):  # its place frees at job_timeout_s
            jobs.fail(job_id, error)
