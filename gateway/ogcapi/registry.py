"""The runtime pygeoapi's plugins reach.

pygeoapi constructs providers and processors itself, from dotted paths, on every request;
they cannot be handed the gateway's runtime. The door factory registers it here once, and
plugins look it up, so their ``__init__`` stays cheap.
"""

from __future__ import annotations

from gateway.runtime import Runtime

_runtime: Runtime | None = None


def set_runtime(runtime: Runtime | None) -> None:
    global _runtime
    _runtime = runtime


def get_runtime() -> Runtime:
    if _runtime is None:
        raise RuntimeError("the OGC API door has not been built: no runtime registered")
    return _runtime
