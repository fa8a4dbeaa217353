"""``/readyz``: whether what the gateway depends on answers now.

Liveness (``/healthz``) says the process serves; readiness says it can do its work: Redis
(when configured) answers PING, the catalog (a STAC API, or the static catalog's folder) and
the storage (the S3 endpoint, or the local ``eodata`` folder) are reachable. Each probe is
bounded by ``PROBE_TIMEOUT_S``; an answer of any status from an HTTP service counts as
reachable (credentials are the requests' business, not the probe's). A missing part makes the
answer ``503`` with ``"status": "degraded"`` and the reason, so that a load balancer stops
sending traffic until it is back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis
import requests

from gateway.core.cache import redact_url
from gateway.settings import Settings

PROBE_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Check:
    name: str
    problem: str | None  # None: fine

    @property
    def ok(self) -> bool:
        return self.problem is None


def _http(url: str) -> str | None:
    try:
        requests.get(url, timeout=PROBE_TIMEOUT_S, allow_redirects=False, stream=True).close()
    except requests.RequestException as exc:
        return f"{redact_url(url)} does not answer ({type(exc).__name__})"
    return None


def _redis(url: str) -> str | None:
    client = redis.Redis.from_url(
        url, socket_timeout=PROBE_TIMEOUT_S, socket_connect_timeout=PROBE_TIMEOUT_S
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"redis at {redact_url(url)} does not answer ({type(exc).__name__})"
    finally:
        client.close()
    return None


def _catalog(settings: Settings) -> str | None:
    if settings.stac_url:
        return _http(settings.stac_url)
    folder = settings.static_catalog_dir
    return None if folder.is_dir() else f"the static catalog folder {folder.name} is missing"


def _storage(settings: Settings) -> str | None:
    if settings.storage_mode == "s3":
        scheme = "https" if settings.s3_https else "http"
        return _http(f"{scheme}://{settings.s3_endpoint}/")
    folder = settings.eodata_dir
    return None if folder.is_dir() else f"the local eodata folder {folder.name} is missing"


def checks(settings: Settings) -> list[Check]:
    """Every probe, in order (blocking: run it in a thread)."""
    probes: list[tuple[str, Callable[[], str | None]]] = [
        ("catalog", lambda: _catalog(settings)),
        ("storage", lambda: _storage(settings)),
    ]
    if settings.redis_url:
        url = settings.redis_url
        probes.append(("redis", lambda: _redis(url)))
    return [Check(name, probe()) for name, probe in probes]
