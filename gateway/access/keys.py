"""API keys: a record per key (its digest, an id to name it by, what it may use), in a JSON
file or in Redis, created, listed and revoked with ``cdse-gateway keys``.

The gateway looks a key up by its digest. The file is read again when it changes; Redis
answers are kept ``REDIS_TTL_S`` (a revoked key works at most that long in each process).
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from gateway.access.grants import Grant
from gateway.access.secrets import key_digest, new_key

REDIS_HASH = "gateway:access:keys"  # digest -> record (JSON)
REDIS_TTL_S = 10.0


@dataclass(frozen=True)
class KeyRecord:
    id: str
    name: str
    digest: str
    created: str
    grant: Grant

    def as_data(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "sha256": self.digest,
            "created": self.created,
            "grant": self.grant.as_data(),
        }

    @classmethod
    def of(cls, data: dict[str, Any]) -> KeyRecord:
        return cls(
            str(data["id"]),
            str(data.get("name", "")),
            str(data["sha256"]).lower(),
            str(data.get("created", "")),
            Grant.of(data.get("grant")),
        )


class KeyStore(Protocol):
    local: bool  # answers without the network (looked up in the event loop)

    def find(self, digest: str) -> KeyRecord | None: ...
    def all(self) -> list[KeyRecord]: ...
    def add(self, record: KeyRecord) -> None: ...
    def remove(self, key_id: str) -> bool: ...


def create(store: KeyStore, name: str, grant: Grant) -> tuple[str, KeyRecord]:
    """A new key (shown once, never stored) and its record, added to ``store``."""
    key = new_key()
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    record = KeyRecord(secrets.token_hex(4), name, key_digest(key), stamp, grant)
    store.add(record)
    return key, record


class FileKeyStore:
    """Keys in a JSON file (``{"keys": [record...]}``), re-read when its mtime changes."""

    local = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: float | None = None
        self._by_digest: dict[str, KeyRecord] = {}

    def _load(self) -> dict[str, KeyRecord]:
        try:
            stamp = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return {}
        with self._lock:
            if stamp != self._stamp:
                data = json.loads(self.path.read_text("utf-8"))
                records = [KeyRecord.of(item) for item in data.get("keys", [])]
                self._by_digest = {r.digest: r for r in records}
                self._stamp = stamp
            return self._by_digest

    def find(self, digest: str) -> KeyRecord | None:
        return self._load().get(digest)

    def all(self) -> list[KeyRecord]:
        return list(self._load().values())

    def _write(self, records: list[KeyRecord]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"keys": [r.as_data() for r in records]}, indent=2)
        handle, name = tempfile.mkstemp(dir=self.path.parent, prefix=".keys-")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text + "\n")
        os.chmod(name, 0o600)
        os.replace(name, self.path)

    def add(self, record: KeyRecord) -> None:
        self._write([*self.all(), record])

    def remove(self, key_id: str) -> bool:
        records = self.all()
        kept = [r for r in records if r.id != key_id]
        if len(kept) == len(records):
            return False
        self._write(kept)
        return True


class RedisKeyStore:
    """Keys in one Redis hash, shared by every replica."""

    local = False

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url)
        self._seen: dict[str, tuple[float, KeyRecord | None]] = {}

    def find(self, digest: str) -> KeyRecord | None:
        now = time.monotonic()
        seen = self._seen.get(digest)
        if seen is not None and now - seen[0] < REDIS_TTL_S:
            return seen[1]
        raw = self._redis.hget(REDIS_HASH, digest)
        record = KeyRecord.of(json.loads(raw)) if raw else None
        if len(self._seen) > 10_000:  # unknown digests must not grow it without bound
            self._seen.clear()
        self._seen[digest] = (now, record)
        return record

    def all(self) -> list[KeyRecord]:
        values: Any = self._redis.hvals(REDIS_HASH)
        return [KeyRecord.of(json.loads(raw)) for raw in values]

    def add(self, record: KeyRecord) -> None:
        self._redis.hset(REDIS_HASH, record.digest, json.dumps(record.as_data()))

    def remove(self, key_id: str) -> bool:
        found = [r for r in self.all() if r.id == key_id]
        for record in found:
            self._redis.hdel(REDIS_HASH, record.digest)
        return bool(found)
