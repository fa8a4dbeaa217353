"""Runtimes reachable from MapProxy sources by a key written into the MapProxy configuration.

MapProxy deep-copies its configuration, so the runtime itself cannot travel inside it.
"""

from __future__ import annotations

import secrets

from gateway.runtime import Runtime

_RUNTIMES: dict[str, Runtime] = {}


def register(runtime: Runtime) -> str:
    key = secrets.token_hex(8)
    _RUNTIMES[key] = runtime
    return key


def get(key: str) -> Runtime:
    try:
        return _RUNTIMES[key]
    except KeyError:
        raise LookupError(f"no gateway runtime registered under {key!r}") from None


def unregister(key: str) -> None:
    _RUNTIMES.pop(key, None)
