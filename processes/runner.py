"""Executing a job: plan it, run its tasks (here or on Dask), store progress and result."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from gateway.errors import GatewayError
from gateway.settings import Settings
from processes.bandmath import plan_band_math
from processes.export import plan_export
from processes.jobs import JobStore, job_store
from processes.plan import Plan, run_on_dask, worker_runtime
from processes.statistics import plan_statistics

log = logging.getLogger(__name__)

PLANNERS: dict[str, Callable[..., Plan]] = {
    "band-math": plan_band_math,
    "statistics": plan_statistics,
    "export": plan_export,
}


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode_payload(outputs: Any) -> bytes:
    if isinstance(outputs, bytes):
        return outputs
    if isinstance(outputs, str):
        return outputs.encode("utf-8")
    return json.dumps(outputs).encode("utf-8")


def progress_updater(store: JobStore, job_id: str) -> Callable[[int, int], None]:
    """Progress from 10 % (planned) to 95 % (every task done)."""

    def update(done: int, total: int) -> None:
        store.update(
            job_id,
            {
                "progress": 10 + int(85 * done / total),
                "message": f"{done} of {total} chunks done",
                "updated": now(),
            },
        )

    return update


def finish(store: JobStore, job_id: str, mimetype: str, outputs: Any) -> None:
    store.set_result(job_id, encode_payload(outputs))
    store.update(
        job_id,
        {
            "status": "successful",
            "progress": 100,
            "mimetype": mimetype,
            "message": "Job complete",
            "finished": now(),
            "updated": now(),
            "location": f"result:{job_id}",
        },
    )


def fail(store: JobStore, job_id: str, error: Exception) -> None:
    message = error.message if isinstance(error, GatewayError) else "internal error"
    if not isinstance(error, GatewayError):
        log.error("job %s failed", job_id, exc_info=error)
    store.update(
        job_id,
        {
            "status": "failed",
            "message": message,
            "finished": now(),
            "updated": now(),
            "mimetype": "application/json",
        },
    )


def run_job(settings: Settings, job_id: str, process_id: str, inputs: dict[str, Any]) -> None:
    """Run a whole job on a Dask worker: its chunks go to the cluster, progress to the store.

    It needs nothing from the web worker that accepted the job, so restarting that worker
    does not stop it (with a scheduler outside the web process).
    """
    from distributed import worker_client

    run_job_with(settings, job_id, process_id, inputs, job_store(settings.redis_url), worker_client)


def run_job_with(
    settings: Settings,
    job_id: str,
    process_id: str,
    inputs: dict[str, Any],
    store: JobStore,
    client_context: Callable[[], Any],
) -> None:
    store.update(
        job_id, {"status": "running", "progress": 10, "message": "running", "updated": now()}
    )
    try:
        plan = PLANNERS[process_id](inputs, worker_runtime(settings), settings)
        with client_context() as client:
            mimetype, outputs = run_on_dask(client, plan, progress_updater(store, job_id))
        finish(store, job_id, mimetype, outputs)
    except Exception as error:  # the job records the failure; nothing else is waiting
        fail(store, job_id, error)
