"""Where jobs live, and the rules they live by.

A ``JobStore`` keeps job records, small results and the set of jobs in flight: Redis (shared
by every replica and Dask worker) or this process's memory. ``Jobs`` applies the settings on
top: admission limits, where a result goes (the store, or the output storage when it is
large), retention, and which jobs a caller may see.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Concatenate, Protocol, cast

from gateway.errors import GatewayError, NotFound
from gateway.processes.storage import delete_output, read_output, remove_older_than, store_output
from gateway.settings import Settings

log = logging.getLogger(__name__)

PREFIX = "cdse-gateway:ogcapi"
DAY_S = 86_400.0
RESULTS = "results/"  # job results in the output storage: results/<job id>
EXPORTS = "export-"  # exports in the output storage: export-<hex>.tif


class TooManyJobs(GatewayError):
    """An admission limit is reached: the client may try again later."""

    code = "TooManyJobs"
    status = 429
    retry_after_s = 10


UNAVAILABLE = (
    "the job store is unavailable: job listing and asynchronous execution are not possible "
    "right now, try again later (synchronous execution still works)"
)


class JobStoreUnavailable(GatewayError):
    """The job store (Redis) does not answer."""

    code = "ServiceUnavailable"
    status = 503
    retry_after_s = 5


@dataclass(frozen=True)
class Admission:
    """At most ``total`` jobs in flight, ``per_process`` of one process; a job admitted more
    than ``stale_after_s`` ago no longer counts (its worker died without saying so)."""

    total: int
    per_process: int
    stale_after_s: float


ADMITTED, FULL, PROCESS_FULL = 1, 0, -1


class JobStore(Protocol):
    def check(self) -> None:
        """Raise JobStoreUnavailable when the store does not answer."""
        ...

    def admit(self, job: dict[str, Any], admission: Admission, ttl_s: float) -> int:
        """Record ``job`` as in flight if a place is free: ADMITTED, FULL or PROCESS_FULL."""
        ...

    def release(self, job_id: str) -> None: ...
    def update(self, job_id: str, fields: dict[str, Any]) -> None: ...
    def get(self, job_id: str) -> dict[str, Any] | None: ...
    def list(self) -> list[dict[str, Any]]: ...
    def delete(self, job_id: str) -> bool: ...
    def set_result(self, job_id: str, payload: bytes, ttl_s: float) -> None: ...
    def result(self, job_id: str) -> bytes | None: ...

    def forget_before(self, created: float) -> int:
        """Drop the jobs created before ``created`` (epoch seconds); returns how many."""
        ...


# -- Redis -----------------------------------------------------------------------------------

# KEYS: in-flight zset (job id -> admitted at), in-flight hash (job id -> process id), the job's
# hash, the job index zset. ARGV: now, stale before, total, per process, process id, job id,
# ttl, then the job's fields and values.
_ADMIT = """
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
for _, id in ipairs(stale) do redis.call('HDEL', KEYS[2], id) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
local mine = 0
for _, process in ipairs(redis.call('HVALS', KEYS[2])) do
    if process == ARGV[5] then mine = mine + 1 end
end
if mine >= tonumber(ARGV[4]) then return -1 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[6])
redis.call('HSET', KEYS[2], ARGV[6], ARGV[5])
redis.call('HSET', KEYS[3], unpack(ARGV, 8))
redis.call('EXPIRE', KEYS[3], math.ceil(tonumber(ARGV[7])))
redis.call('ZADD', KEYS[4], ARGV[1], ARGV[6])
return 1
"""


def _reachable[**P, R](
    method: Callable[Concatenate[RedisJobStore, P], R],
) -> Callable[Concatenate[RedisJobStore, P], R]:
    """Turn a Redis failure into JobStoreUnavailable (one warning line, no traceback). After a
    connection failure or timeout Redis is left alone for ``JobStoreUnavailable.retry_after_s``,
    so a Redis that does not answer costs one timeout, not one per call."""

    @functools.wraps(method)
    def wrapper(store: RedisJobStore, *args: P.args, **kwargs: P.kwargs) -> R:
        import redis

        if time.monotonic() < store.down_until:
            raise JobStoreUnavailable(UNAVAILABLE)
        try:
            return method(store, *args, **kwargs)
        except redis.RedisError as error:
            if isinstance(error, (redis.ConnectionError, redis.TimeoutError)):
                store.down_until = time.monotonic() + JobStoreUnavailable.retry_after_s
            log.warning("job store unavailable: %s", type(error).__name__)
            raise JobStoreUnavailable(UNAVAILABLE) from None

    return wrapper


class RedisJobStore:
    """One hash per job (fields JSON-encoded, so updates of single fields are atomic), the
    result bytes beside it, a sorted set of job ids by creation time, and the jobs in flight.
    Every key expires with the retention period; the index is pruned by ``forget_before``."""

    def __init__(self, url: str, timeout_s: float = 2.0) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self._redis = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        self._admit = self._redis.register_script(_ADMIT)
        self.down_until = 0.0  # monotonic time before which Redis is not asked (it failed)

    def _key(self, job_id: str, suffix: str = "") -> str:
        return f"{PREFIX}:job:{job_id}{suffix}"

    @_reachable
    def check(self) -> None:
        self._redis.ping()

    @_reachable
    def admit(self, job: dict[str, Any], admission: Admission, ttl_s: float) -> int:
        now = time.time()
        job_id = job["identifier"]
        fields = [part for k, v in job.items() for part in (k, json.dumps(v))]
        keys = [f"{PREFIX}:inflight", f"{PREFIX}:inflight:process", self._key(job_id)]
        args = [now, now - admission.stale_after_s, admission.total, admission.per_process]
        return int(
            self._admit(
                keys=[*keys, f"{PREFIX}:jobs"],
                args=[*args, job["process_id"], job_id, ttl_s, *fields],
            )
        )

    @_reachable
    def release(self, job_id: str) -> None:
        pipe = self._redis.pipeline()
        pipe.zrem(f"{PREFIX}:inflight", job_id)
        pipe.hdel(f"{PREFIX}:inflight:process", job_id)
        pipe.execute()

    @_reachable
    def update(self, job_id: str, fields: dict[str, Any]) -> None:
        if self._redis.exists(self._key(job_id)):
            self._redis.hset(
                self._key(job_id), mapping={k: json.dumps(v) for k, v in fields.items()}
            )

    @_reachable
    def get(self, job_id: str) -> dict[str, Any] | None:
        return self._decode(self._redis.hgetall(self._key(job_id)))

    @staticmethod
    def _decode(raw: Mapping[Any, Any]) -> dict[str, Any] | None:
        """A job hash as Redis gives it (bytes keys, JSON values), decoded."""
        return {k.decode(): json.loads(v) for k, v in raw.items()} if raw else None

    @_reachable
    def list(self) -> list[dict[str, Any]]:
        members = cast(list[bytes], self._redis.zrevrange(f"{PREFIX}:jobs", 0, -1))
        ids = [member.decode() for member in members]
        pipe = self._redis.pipeline()
        for job_id in ids:
            pipe.hgetall(self._key(job_id))
        return [job for job in map(self._decode, pipe.execute()) if job is not None]

    @_reachable
    def delete(self, job_id: str) -> bool:
        pipe = self._redis.pipeline()
        pipe.delete(self._key(job_id), self._key(job_id, ":result"))
        pipe.zrem(f"{PREFIX}:jobs", job_id)
        removed, *_ = pipe.execute()
        return bool(removed)

    @_reachable
    def set_result(self, job_id: str, payload: bytes, ttl_s: float) -> None:
        self._redis.set(self._key(job_id, ":result"), payload, ex=max(1, round(ttl_s)))

    @_reachable
    def result(self, job_id: str) -> bytes | None:
        return cast(bytes | None, self._redis.get(self._key(job_id, ":result")))

    @_reachable
    def forget_before(self, created: float) -> int:
        return int(self._redis.zremrangebyscore(f"{PREFIX}:jobs", "-inf", created))


# -- memory ----------------------------------------------------------------------------------


class MemoryJobStore:
    """Jobs of one app in this process only (no Redis configured: one web worker)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, dict[str, Any]] = {}
        self._created: dict[str, float] = {}
        self._results: dict[str, bytes] = {}
        self._inflight: dict[str, tuple[str, float]] = {}  # job id -> (process id, admitted at)

    def check(self) -> None:
        pass

    def admit(self, job: dict[str, Any], admission: Admission, ttl_s: float) -> int:
        now = time.time()
        with self._lock:
            stale = now - admission.stale_after_s
            self._inflight = {k: v for k, v in self._inflight.items() if v[1] > stale}
            if len(self._inflight) >= admission.total:
                return FULL
            process = job["process_id"]
            if sum(p == process for p, _ in self._inflight.values()) >= admission.per_process:
                return PROCESS_FULL
            self._inflight[job["identifier"]] = (process, now)
            self._jobs[job["identifier"]] = dict(job)
            self._created[job["identifier"]] = now
            return ADMITTED

    def release(self, job_id: str) -> None:
        with self._lock:
            self._inflight.pop(job_id, None)

    def update(self, job_id: str, fields: dict[str, Any]) -> None:
        with self._lock:
            if job_id in self._jobs:
                self._jobs[job_id].update(fields)

    def get(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return dict(job) if job else None

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(j) for j in reversed(self._jobs.values())]

    def delete(self, job_id: str) -> bool:
        with self._lock:
            self._results.pop(job_id, None)
            self._created.pop(job_id, None)
            return self._jobs.pop(job_id, None) is not None

    def set_result(self, job_id: str, payload: bytes, ttl_s: float) -> None:
        with self._lock:
            if job_id in self._jobs:
                self._results[job_id] = payload

    def result(self, job_id: str) -> bytes | None:
        with self._lock:
            return self._results.get(job_id)

    def forget_before(self, created: float) -> int:
        with self._lock:
            old = [job_id for job_id, at in self._created.items() if at < created]
            for job_id in old:
                self._jobs.pop(job_id, None)
                self._results.pop(job_id, None)
                self._created.pop(job_id, None)
            return len(old)


def job_store(settings: Settings) -> JobStore:
    """Redis when configured, else a new in-memory store."""
    return RedisJobStore(settings.redis_url) if settings.redis_url else MemoryJobStore()


# -- the rules -------------------------------------------------------------------------------


# A job's states (OGC API - Processes' statusCode).
STATES = ("accepted", "running", "successful", "failed", "dismissed")


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_job(process_id: str, owner: str | None) -> dict[str, Any]:
    """The record of a job about to run, under an unguessable id (UUIDv4)."""
    stamp = now()
    return {
        "type": "process",
        "identifier": str(uuid.uuid4()),
        "process_id": process_id,
        "owner": owner,
        "created": stamp,
        "started": stamp,
        "updated": stamp,
        "finished": None,
        "status": "accepted",
        "location": None,
        "mimetype": "application/octet-stream",
        "message": "Job accepted and ready for execution",
        "progress": 5,
    }


def encode_payload(outputs: Any) -> bytes:
    if isinstance(outputs, bytes):
        return outputs
    if isinstance(outputs, str):
        return outputs.encode("utf-8")
    return json.dumps(outputs).encode("utf-8")


@dataclass
class Jobs:
    """A job store under the settings' limits, result placement and retention."""

    settings: Settings
    store: JobStore

    @property
    def retention_s(self) -> float:
        return self.settings.job_retention_days * DAY_S

    def start(self, job: dict[str, Any]) -> None:
        """Record ``job`` as in flight, or raise TooManyJobs when a limit is reached."""
        settings = self.settings
        admission = Admission(
            settings.jobs_max_running, settings.jobs_max_running_per_process, settings.job_timeout_s
        )
        verdict = self.store.admit(job, admission, self.retention_s)
        if verdict == FULL:
            raise TooManyJobs(
                f"{admission.total} jobs are running, as many as this service runs at once: "
                "try again later"
            )
        if verdict == PROCESS_FULL:
            raise TooManyJobs(
                f"{admission.per_process} {job['process_id']} jobs are running, as many as this "
                "service runs at once: try again later"
            )

    def update(self, job_id: str, fields: dict[str, Any]) -> None:
        self.store.update(job_id, {**fields, "updated": now()})

    def progress(self, job_id: str) -> Callable[[int, int], None]:
        """Progress from 10 % (planned) to 95 % (every task done); a store that fails to take
        it does not stop the job."""

        def report(done: int, total: int) -> None:
            message = f"{done} of {total} chunks done"
            with contextlib.suppress(JobStoreUnavailable):
                self.update(job_id, {"progress": 10 + int(85 * done / total), "message": message})

        return report

    def finish(self, job_id: str, mimetype: str, outputs: Any) -> None:
        """Keep the result (in the output storage when it is large) and free the job's place."""
        payload = encode_payload(outputs)
        try:
            if len(payload) > self.settings.job_result_inline_bytes:
                store_output(self.settings, RESULTS + job_id, payload, mimetype)
                kept = "storage"
            else:
                self.store.set_result(job_id, payload, self.retention_s)
                kept = "store"
            self.update(
                job_id,
                {
                    "status": "successful",
                    "progress": 100,
                    "mimetype": mimetype,
                    "message": "Job complete",
                    "finished": now(),
                    "location": f"result:{job_id}",
                    "result": kept,
                },
            )
        finally:
            self.store.release(job_id)

    def fail(self, job_id: str, error: Exception) -> None:
        """Record the failure (internal causes are logged, never stored) and free the place."""
        message = error.message if isinstance(error, GatewayError) else "internal error"
        if not isinstance(error, GatewayError):
            log.error("job %s failed", job_id, exc_info=error)
        try:
            self.update(
                job_id,
                {
                    "status": "failed",
                    "message": message,
                    "finished": now(),
                    "mimetype": "application/json",
                },
            )
        finally:
            self.store.release(job_id)

    def withdraw(self, job_id: str) -> None:
        """Forget a job that was refused after all (nothing of it stays behind)."""
        try:
            self.store.delete(job_id)
        finally:
            self.store.release(job_id)

    def get(self, job_id: str, caller: str | None) -> dict[str, Any]:
        """The job, if ``caller`` may see it: every job of an owner is its owner's only; a job
        without an owner is reachable through its id (which nobody can guess)."""
        job = self.store.get(job_id)
        if job is None or job.get("owner") not in (None, caller):
            raise NotFound("no such job", locator="jobId", code="NoSuchJob")
        return job

    def list(self, caller: str | None) -> list[dict[str, Any]]:
        """The caller's jobs, newest first; nobody's when the caller is unknown."""
        if caller is None:
            self.store.check()  # the answer is the same, but tell when jobs are unavailable
            return []
        return [job for job in self.store.list() if job.get("owner") == caller]

    def by_state(self) -> dict[str, int]:
        """How many jobs the store keeps in each state, every caller's (one read of the
        store: its jobs expire, so they stay few)."""
        counts = dict.fromkeys(STATES, 0)
        for job in self.store.list():
            state = job.get("status")
            if state in counts:
                counts[state] += 1
        return counts

    def result(self, job: dict[str, Any]) -> bytes | None:
        job_id = job["identifier"]
        if job.get("result") == "storage":
            return read_output(self.settings, RESULTS + job_id)
        return self.store.result(job_id)

    def dismiss(self, job_id: str, caller: str | None) -> None:
        """Remove the job and its result (a running job finishes, unrecorded)."""
        job = self.get(job_id, caller)
        if job.get("result") == "storage":
            delete_output(self.settings, RESULTS + job_id)
        self.store.delete(job_id)

    def forget_expired(self) -> None:
        """Remove the jobs older than the retention period from the store."""
        self.store.forget_before(time.time() - self.retention_s)

    def clean(self) -> None:
        """Remove the results and exports older than their retention periods, and the jobs."""
        remove_older_than(self.settings, RESULTS, self.retention_s)
        remove_older_than(self.settings, EXPORTS, self.settings.export_retention_days * DAY_S)
        self.forget_expired()
