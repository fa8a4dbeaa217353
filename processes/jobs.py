"""Where jobs live: Redis (shared by every replica and worker) or this process's memory."""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Protocol

RESULT_TTL_S = 7 * 24 * 3600  # jobs and results are kept a week
PREFIX = "cdse-gateway:ogcapi"


class JobStore(Protocol):
    def add(self, job: dict[str, Any]) -> None: ...
    def update(self, job_id: str, fields: dict[str, Any]) -> None: ...
    def get(self, job_id: str) -> dict[str, Any] | None: ...
    def list(self) -> list[dict[str, Any]]: ...
    def delete(self, job_id: str) -> bool: ...
    def set_result(self, job_id: str, payload: bytes) -> None: ...
    def result(self, job_id: str) -> bytes | None: ...


class RedisJobStore:
    """One hash per job (fields JSON-encoded, so updates of single fields are atomic), the
    result bytes beside it, and a sorted set of job ids by creation time."""

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url)

    def _key(self, job_id: str, suffix: str = "") -> str:
        return f"{PREFIX}:job:{job_id}{suffix}"

    def add(self, job: dict[str, Any]) -> None:
        job_id = job["identifier"]
        pipe = self._redis.pipeline()
        pipe.hset(self._key(job_id), mapping={k: json.dumps(v) for k, v in job.items()})
        pipe.expire(self._key(job_id), RESULT_TTL_S)
        pipe.zadd(f"{PREFIX}:jobs", {job_id: time.time()})
        pipe.execute()

    def update(self, job_id: str, fields: dict[str, Any]) -> None:
        if self._redis.exists(self._key(job_id)):
            self._redis.hset(
                self._key(job_id), mapping={k: json.dumps(v) for k, v in fields.items()}
            )

    def get(self, job_id: str) -> dict[str, Any] | None:
        raw = self._redis.hgetall(self._key(job_id))
        return {k.decode(): json.loads(v) for k, v in raw.items()} if raw else None

    def list(self) -> list[dict[str, Any]]:
        ids = [i.decode() for i in self._redis.zrevrange(f"{PREFIX}:jobs", 0, -1)]
        return [job for job in (self.get(i) for i in ids) if job is not None]

    def delete(self, job_id: str) -> bool:
        pipe = self._redis.pipeline()
        pipe.delete(self._key(job_id), self._key(job_id, ":result"))
        pipe.zrem(f"{PREFIX}:jobs", job_id)
        removed, *_ = pipe.execute()
        return bool(removed)

    def set_result(self, job_id: str, payload: bytes) -> None:
        self._redis.set(self._key(job_id, ":result"), payload, ex=RESULT_TTL_S)

    def result(self, job_id: str) -> bytes | None:
        return self._redis.get(self._key(job_id, ":result"))


class MemoryJobStore:
    """Jobs of this process only (no Redis configured): one replica, one web worker."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, dict[str, Any]] = {}
        self._results: dict[str, bytes] = {}

    def add(self, job: dict[str, Any]) -> None:
        with self._lock:
            self._jobs[job["identifier"]] = dict(job)

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
            return self._jobs.pop(job_id, None) is not None

    def set_result(self, job_id: str, payload: bytes) -> None:
        with self._lock:
            self._results[job_id] = payload

    def result(self, job_id: str) -> bytes | None:
        with self._lock:
            return self._results.get(job_id)


_MEMORY = MemoryJobStore()


def job_store(redis_url: str | None) -> JobStore:
    """Redis when configured, else the process-wide in-memory store."""
    return RedisJobStore(redis_url) if redis_url else _MEMORY
