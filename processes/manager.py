"""pygeoapi process manager: jobs in Redis, asynchronous execution on Dask distributed."""

from __future__ import annotations

import contextlib
import json
import threading
from typing import Any

from pygeoapi.process.base import BaseProcessor, JobNotFoundError, JobResultNotFoundError
from pygeoapi.process.manager.base import BaseManager
from pygeoapi.util import JobStatus

from processes.base import execute_error
from processes.cluster import get_client
from processes.jobs import job_store
from processes.plan import remember_runtime, run_here
from processes.runner import fail, finish, now, progress_updater, run_job, run_job_with

JSON_TYPES = ("application/json", None)


class DaskRedisManager(BaseManager):
    """``connection`` is the Redis URL (the gateway's ``redis_url``); without it, jobs stay
    in this process and async jobs are coordinated from a thread here."""

    def __init__(self, manager_def: dict[str, Any]) -> None:
        from gateway.ogcapi.registry import runtime_for

        super().__init__(manager_def)
        self.is_async = True
        self.store = job_store(self.connection)
        self.runtime = runtime_for(manager_def)

    # -- job store -------------------------------------------------------------------------
    def get_jobs(
        self, status: JobStatus | None = None, limit: int | None = None, offset: int | None = None
    ) -> dict[str, Any]:
        jobs = self.store.list()
        if status is not None:
            jobs = [j for j in jobs if j.get("status") == getattr(status, "value", status)]
        matched = len(jobs)
        start = offset or 0
        jobs = jobs[start : start + limit] if limit else jobs[start:]
        return {"jobs": jobs, "numberMatched": matched}

    def add_job(self, job_metadata: dict[str, Any]) -> str:
        self.store.add(job_metadata)
        return job_metadata["identifier"]

    def update_job(self, job_id: str, update_dict: dict[str, Any]) -> bool:
        self.store.update(job_id, update_dict)
        return True

    def get_job(self, job_id: str) -> dict[str, Any]:
        job = self.store.get(job_id)
        if job is None:
            raise JobNotFoundError()
        return job

    def get_job_result(self, job_id: str) -> tuple[Any, ...]:
        job = self.get_job(job_id)
        if job.get("status") != JobStatus.successful.value:
            return (None,)
        payload = self.store.result(job_id)
        if payload is None:
            raise JobResultNotFoundError()
        mimetype = job.get("mimetype")
        if mimetype in JSON_TYPES:
            return mimetype, json.loads(payload)
        if mimetype and mimetype.startswith("text/"):
            return mimetype, payload.decode("utf-8")
        return mimetype, payload

    def delete_job(self, job_id: str) -> bool:
        self.get_job(job_id)
        return self.store.delete(job_id)

    # -- execution -------------------------------------------------------------------------
    def _validated(self, p: BaseProcessor, job_id: str, data: dict[str, Any]):
        """Plan now, so bad input is a 4xx before anything runs (the job is marked failed)."""
        try:
            remember_runtime(self.runtime)  # tasks run in this process use it
            return p.plan(data, self.runtime)
        except Exception as error:
            fail(self.store, job_id, error)
            raise execute_error(error) from error

    def _execute_handler_sync(
        self,
        p: BaseProcessor,
        job_id: str,
        data_dict: dict[str, Any],
        requested_outputs: dict | None = None,
        subscriber: Any = None,
        requested_response: str | None = "raw",
    ) -> tuple[str, Any, JobStatus]:
        plan = self._validated(p, job_id, data_dict)
        self.update_job(job_id, {"status": "running", "progress": 10, "updated": now()})
        try:
            mimetype, outputs = run_here(plan, progress_updater(self.store, job_id))
        except Exception as error:
            fail(self.store, job_id, error)
            raise execute_error(error) from error
        finish(self.store, job_id, mimetype, outputs)
        if isinstance(outputs, bytes) and mimetype.startswith("text/"):
            outputs = outputs.decode("utf-8")
        return mimetype, outputs, JobStatus.successful

    def _execute_handler_async(
        self,
        p: BaseProcessor,
        job_id: str,
        data_dict: dict[str, Any],
        requested_outputs: dict | None = None,
        subscriber: Any = None,
        requested_response: str | None = "raw",
    ) -> tuple[str, None, JobStatus]:
        self._validated(p, job_id, data_dict)
        settings = self.runtime.settings
        process_id = p.metadata["id"]
        client = get_client(settings.dask_scheduler)
        if self.connection:
            from distributed import fire_and_forget

            # The whole job runs on the cluster: it outlives this web worker.
            fire_and_forget(
                client.submit(run_job, settings, job_id, process_id, data_dict, pure=False)
            )
        else:
            args = (
                settings,
                job_id,
                process_id,
                data_dict,
                self.store,
                lambda: contextlib.nullcontext(client),
            )
            threading.Thread(target=run_job_with, args=args, daemon=True).start()
        return "application/json", None, JobStatus.accepted

    def close(self) -> None:
        from processes.cluster import close_clients

        close_clients()
