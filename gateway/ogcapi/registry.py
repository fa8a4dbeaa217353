"""The runtimes of the OGC API doors of this process, and the plugins built for each.

pygeoapi builds plugins itself (``load_plugin``: the class called with its definition dict),
on every request, so they cannot be handed the gateway's runtime. Each door registers its
runtime under an app id and writes that id into every definition it generates (``APP_KEY``).
Plugins find their runtime by it, and classes built with the ``BuiltOnce`` metaclass hand back
the instance built for that definition when the app was created instead of building another:
two apps in one process keep their own runtimes and their own providers.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.runtime import Runtime

APP_KEY = "gateway_app"


@dataclass
class _App:
    runtime: Runtime
    plugins: dict[tuple[str, ...], Any] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)


_APPS: dict[str, _App] = {}


def register(runtime: Runtime) -> str:
    """Register ``runtime``; returns the app id to write into generated definitions."""
    app_id = secrets.token_hex(8)
    _APPS[app_id] = _App(runtime)
    return app_id


def unregister(app_id: str) -> None:
    """Forget an app's runtime and the plugins built for it."""
    _APPS.pop(app_id, None)


def _app(definition: Mapping[str, Any]) -> _App:
    app_id = definition.get(APP_KEY)
    found = _APPS.get(str(app_id)) if app_id else None
    if found is None:
        raise LookupError("no OGC API door registered for this plugin definition")
    return found


def runtime_for(definition: Mapping[str, Any]) -> Runtime:
    """The runtime of the app whose door generated ``definition``."""
    return _app(definition).runtime


class BuiltOnce(type):
    """Metaclass of plugins built once per app: calling the class with a definition returns
    the instance already built for it (same app, class, type and data), else builds it."""

    def __call__(cls, definition: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
        app = _app(definition)
        key = (
            cls.__module__,
            cls.__qualname__,
            str(definition.get("type")),
            str(definition.get("data")),
        )
        with app.lock:
            built = app.plugins.get(key)
            if built is None:
                built = super().__call__(definition, *args, **kwargs)
                app.plugins[key] = built
            return built
