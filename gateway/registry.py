"""The runtimes of this process's doors, found by framework plugins through a key.

pygeoapi and MapProxy build their plugins themselves from definitions the gateway generates
(pygeoapi calls a provider, processor or manager class with its definition dict, on every
request; MapProxy builds a source from its deep-copied source configuration), so a plugin
cannot be handed the gateway's runtime. Each door registers its runtime under a random key and
writes that key into every definition it generates (under ``KEY``); plugins find their runtime
by it. Classes built with the ``BuiltOnce`` metaclass hand back the instance already built for
a definition instead of building another. Two apps in one process keep their own runtimes and
their own plugins.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.runtime import Runtime

KEY = "gateway"  # the key of the runtime's registry key in a generated plugin definition


@dataclass
class _Entry:
    runtime: Runtime
    plugins: dict[tuple[str, ...], Any] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)


_ENTRIES: dict[str, _Entry] = {}


def register(runtime: Runtime) -> str:
    """Register ``runtime``; returns the key to write into generated definitions."""
    key = secrets.token_hex(8)
    _ENTRIES[key] = _Entry(runtime)
    return key


def unregister(key: str) -> None:
    """Forget a runtime and the plugins built for it."""
    _ENTRIES.pop(key, None)


def _entry(definition: Mapping[str, Any]) -> _Entry:
    key = definition.get(KEY)
    found = _ENTRIES.get(str(key)) if key else None
    if found is None:
        raise LookupError(f"no gateway runtime registered under {key!r}")
    return found


def runtime_for(definition: Mapping[str, Any]) -> Runtime:
    """The runtime of the door whose generated ``definition`` carries its key."""
    return _entry(definition).runtime


class BuiltOnce(type):
    """Metaclass of plugins built once per runtime: calling the class with a definition
    returns the instance already built for it (same runtime, class, type and data), else
    builds it."""

    def __call__(cls, definition: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
        entry = _entry(definition)
        key = (
            cls.__module__,
            cls.__qualname__,
            str(definition.get("type")),
            str(definition.get("data")),
        )
        with entry.lock:
            built = entry.plugins.get(key)
            if built is None:
                built = super().__call__(definition, *args, **kwargs)
                entry.plugins[key] = built
            return built
