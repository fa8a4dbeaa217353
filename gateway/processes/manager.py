"""pygeoapi process manager: jobs in Redis, asynchronous execution on Dask distributed.

Inputs are validated and the work planned before a job is recorded, so a rejected request
leaves nothing behind; every job (sync or async) then needs a place under the admission
limits. A synchronous job's renders charge the request's meter as they run; an asynchronous
job's planned units are charged to the request that submits it, once it is accepted.
Errors reach the door as GatewayErrors, which it answers as problem details.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import threading
from typing import Any

from pygeoapi.process.base import BaseProcessor
from pygeoapi.process.manager.base import BaseManager
from pygeoapi.util import JobStatus, RequestedProcessExecutionMode

from gateway.context import charge, current, current_request_id
from gateway.errors import GatewayError, NotFound
from gateway.processes.cleanup import Cleanup
from gateway.processes.cluster import get_client
from gateway.processes.jobs import (
    Jobs,
    JobStoreUnavailable,
    MemoryJobStore,
    job_store,
    new_job,
)
from gateway.processes.plan import Plan, remember_runtime, run_here
from gateway.processes.runner import run_job, run_job_with
from gateway.registry import runtime_for

log = logging.getLogger(__name__)

JSON_TYPES = ("application/json", None)


class ClusterUnavailable(GatewayError):
    """The Dask scheduler does not answer."""

    code = "ServiceUnavailable"
    status = 503
    retry_after_s = 10


class DaskRedisManager(BaseManager):
    """``connection`` is the Redis URL (the gateway's ``redis_url``); without it, jobs stay
    in this process and async jobs are coordinated from a thread here."""

    def __init__(self, manager_def: dict[str, Any]) -> None:
        super().__init__(manager_def)
        self.is_async = True
        self.runtime = runtime_for(manager_def)
        settings = self.runtime.settings
        # The stores outlive a rebuild of the doors (jobs in memory stay known).
        kept = self.runtime.kept
        if "jobs" not in kept:
            kept["jobs"] = job_store(settings)
        self.jobs = Jobs(settings, kept["jobs"])
        # Synchronous runs while the job store is down are recorded here, in this process.
        self.local_jobs = Jobs(settings, kept.setdefault("local_jobs", MemoryJobStore()))
        self.cleanup: Cleanup | None = None

    # -- job store -------------------------------------------------------------------------
    def get_jobs(
        self, status: JobStatus | None = None, limit: int | None = None, offset: int | None = None
    ) -> dict[str, Any]:
        jobs = self.jobs.list(current().caller)
        if status is not None:
            jobs = [j for j in jobs if j.get("status") == getattr(status, "value", status)]
        matched = len(jobs)
        start = offset or 0
        jobs = jobs[start : start + limit] if limit else jobs[start:]
        return {"jobs": jobs, "numberMatched": matched}

    def update_job(self, job_id: str, update_dict: dict[str, Any]) -> bool:
        self.jobs.update(job_id, update_dict)
        return True

    def get_job(self, job_id: str) -> dict[str, Any]:
        return self.jobs.get(job_id, current().caller)

    def get_job_result(self, job_id: str) -> tuple[Any, ...]:
        job = self.get_job(job_id)
        if job.get("status") != JobStatus.successful.value:
            return (None,)
        payload = self.jobs.result(job)
        if payload is None:  # expired a moment before the job, or removed by hand
            raise NotFound("the job's result is no longer kept", locator="jobId", code="NoSuchJob")
        mimetype = job.get("mimetype")
        if mimetype in JSON_TYPES:
            return mimetype, json.loads(payload)
        if mimetype and mimetype.startswith("text/"):
            return mimetype, payload.decode("utf-8")
        return mimetype, payload

    def delete_job(self, job_id: str) -> bool:
        self.jobs.dismiss(job_id, current().caller)
        return True

    def job_states(self) -> dict[str, int]:
        """Jobs by state: the job store's (none while it is down) and this process's."""
        counts = self.local_jobs.by_state()
        with contextlib.suppress(JobStoreUnavailable):
            for state, count in self.jobs.by_state().items():
                counts[state] += count
        return counts

    # -- execution -------------------------------------------------------------------------
    def execute_process(
        self,
        process_id: str,
        data_dict: dict[str, Any],
        execution_mode: RequestedProcessExecutionMode | None = None,
        requested_outputs: dict | None = None,
        subscriber: Any = None,
        requested_response: str | None = "raw",
    ) -> tuple[str, str, Any, JobStatus, dict[str, str] | None]:
        """Validate and plan, admit, then run here (sync) or on Dask (``respond-async``)."""
        processor = self.get_processor(process_id)
        remember_runtime(self.runtime)  # tasks run in this process use it
        plan = processor.plan(data_dict, self.runtime)
        job = new_job(process_id, current().caller)
        job_id = job["identifier"]
        if execution_mode == RequestedProcessExecutionMode.respond_async:
            self.jobs.start(job)
            self._submit(processor, job_id, data_dict)
            # Its renders run on the cluster, outside this request: charge their units now.
            charge(plan.units)
            accepted = {"Preference-Applied": RequestedProcessExecutionMode.respond_async.value}
            return job_id, "application/json", None, JobStatus.accepted, accepted
        mimetype, outputs = self._run_sync(self._admit_sync(job), job_id, plan)
        if isinstance(outputs, bytes) and mimetype.startswith("text/"):
            outputs = outputs.decode("utf-8")
        wait = RequestedProcessExecutionMode.wait
        headers = None if execution_mode == wait else {"Preference-Applied": wait.value}
        return job_id, mimetype, outputs, JobStatus.successful, headers

    def _admit_sync(self, job: dict[str, Any]) -> Jobs:
        """The jobs that took ``job``: the job store, or this process's while it is down."""
        try:
            self.jobs.start(job)
            return self.jobs
        except JobStoreUnavailable:
            self.local_jobs.start(job)
            return self.local_jobs

    @staticmethod
    def _run_sync(jobs: Jobs, job_id: str, plan: Plan) -> tuple[str, Any]:
        """Run ``plan`` here; the job store failing on the way does not stop it."""
        with contextlib.suppress(JobStoreUnavailable):
            jobs.update(job_id, {"status": "running", "progress": 10})
        try:
            mimetype, outputs = run_here(plan, jobs.progress(job_id))
        except Exception as error:
            refused = isinstance(error, GatewayError) and error.status < 500
            with contextlib.suppress(JobStoreUnavailable):
                if refused:  # a refusal, not a failure: nothing stays behind
                    jobs.withdraw(job_id)
                else:
                    jobs.fail(job_id, error)  # logs an internal cause
            if isinstance(error, GatewayError):
                raise
            raise GatewayError("internal error while executing the process") from None
        with contextlib.suppress(JobStoreUnavailable):  # the caller gets the result anyway
            jobs.finish(job_id, mimetype, outputs)
        return mimetype, outputs

    def _submit(self, processor: BaseProcessor, job_id: str, data_dict: dict[str, Any]) -> None:
        try:
            self._send(processor.metadata["id"], job_id, data_dict)
        except OSError:
            self.jobs.withdraw(job_id)
            raise ClusterUnavailable(
                "the job cluster is unavailable: asynchronous execution is not possible right "
                "now, try again later"
            ) from None
        except BaseException:
            self.jobs.withdraw(job_id)
            raise

    def _send(self, process_id: str, job_id: str, data_dict: dict[str, Any]) -> None:
        settings = self.runtime.settings
        client = get_client(settings.dask_scheduler)
        if self.connection:
            from distributed import fire_and_forget

            # The whole job runs on the cluster: it outlives this web worker.
            fire_and_forget(
                client.submit(
                    run_job,
                    settings,
                    job_id,
                    process_id,
                    data_dict,
                    current_request_id(),
                    pure=False,
                )
            )
        else:
            args = (
                settings,
                job_id,
                process_id,
                data_dict,
                self.jobs,
                lambda: contextlib.nullcontext(client),
            )
            # In a copy of this context: the job's log records carry the request's id.
            run = contextvars.copy_context().run
            threading.Thread(target=run, args=(run_job_with, *args), daemon=True).start()

    # -- lifetime --------------------------------------------------------------------------
    def start_cleanup(self) -> None:
        """Remove expired jobs, results and exports now and every ``cleanup_interval_s``."""
        if self.cleanup is None:
            self.cleanup = Cleanup(self._clean, self.runtime.settings.cleanup_interval_s)
            self.cleanup.start()

    def _clean(self) -> None:
        self.local_jobs.forget_expired()
        self.jobs.clean()

    def close(self) -> None:
        """Stop the clean-up; the process's Dask clients stay (jobs may run on them: the
        OGC API door closes them when the app stops)."""
        if self.cleanup is not None:
            self.cleanup.stop()
