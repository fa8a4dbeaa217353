"""Collections ingested while the gateway runs: its doors built again and swapped in.

Every door builds its layer list when it is built. ``OwnCollections`` tells when the
collections ingested into the static catalog changed (a ``stat`` of each collection document,
at most every ``collections_check_s``) and what the configuration then is; ``Reloading``,
the app's outermost ASGI callable, then builds a new ``Generation`` of the doors in a
background thread (a runtime sharing caches, catalog, quotas: ``runtime.with_config``) and
swaps it in at once. Each request runs on the generation current when it arrived; a replaced
generation is closed when its last request has finished.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.byod.collections import catalog_stamp, own_collections, with_own_collections
from gateway.config import GatewayConfig
from gateway.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass
class Generation:
    """The doors built for one runtime: the app they make up, and how to close them."""

    app: ASGIApp
    runtime: Runtime
    close: Callable[[], None]
    stop: Callable[[], None] = lambda: None  # when the app stops (after ``close``)
    requests: int = 0  # under way on it
    retired: bool = False  # replaced: closed when ``requests`` drops to 0


class OwnCollections:
    """Whether the ingested collections changed since the last look, and the runtime's
    configuration with them as they are now."""

    def __init__(self, runtime: Runtime) -> None:
        assert runtime.given_config is not None
        self._given = runtime.given_config
        self._stac_dir = runtime.settings.static_catalog_dir
        self._stamp: tuple[tuple[str, int, int], ...] | None = None  # None: look once

    def changed(self, current: GatewayConfig) -> GatewayConfig | None:
        """The configuration now, when it differs from ``current`` (else None)."""
        stamp = catalog_stamp(self._stac_dir)
        if stamp == self._stamp:
            return None
        self._stamp = stamp  # taken first: a later write changes it again
        config = with_own_collections(self._given, own_collections(self._stac_dir))
        return None if config == current else config


class Reloading:
    """The app: sends each request to the current generation of the doors; at most every
    ``every_s`` (when a request comes) ``rebuild`` is called in a background thread, and the
    generation it returns (None: nothing changed) replaces the current one."""

    def __init__(
        self,
        first: Generation,
        rebuild: Callable[[Runtime], Generation | None] | None,
        every_s: float,
        shutdown: Callable[[Runtime], Awaitable[None]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._current = first
        self._rebuild = rebuild
        self._every_s = every_s
        self._shutdown = shutdown
        self._clock = clock
        self._next = clock() + every_s
        self._lock = threading.Lock()  # the current generation and the request counts
        self._checking = threading.Lock()  # one rebuild at a time
        self._closed = False

    @property
    def runtime(self) -> Runtime:
        """The current generation's runtime."""
        return self._current.runtime

    @property
    def current_app(self) -> ASGIApp:
        """The current generation's app (a Starlette app: ``gateway.app.generation``)."""
        return self._current.app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        self._check_soon()
        with self._lock:
            generation = self._current
            generation.requests += 1
        try:
            await generation.app(scope, receive, send)
        finally:
            with self._lock:
                generation.requests -= 1
                done = generation.retired and generation.requests == 0
            if done:
                _close_later(generation)

    def _check_soon(self) -> None:
        if self._rebuild is None or self._clock() < self._next:
            return
        if not self._checking.acquire(blocking=False):
            return
        self._next = self._clock() + self._every_s
        try:
            threading.Thread(target=self._check, name="doors-rebuild", daemon=True).start()
        except BaseException:
            self._checking.release()
            raise

    def _check(self) -> None:
        assert self._rebuild is not None
        try:
            new = self._rebuild(self._current.runtime)
            if new is not None:
                self.swap(new)
        except Exception:  # the doors stay as they are; looked at again next time
            log.warning("building the doors again failed", exc_info=True)
        finally:
            self._checking.release()

    def swap(self, new: Generation) -> None:
        """Make ``new`` current; the old generation closes when its requests are done."""
        with self._lock:
            if self._closed:
                old = new
            else:
                old, self._current = self._current, new
            old.retired = True
            idle = old.requests == 0
        if idle:
            _close_later(old)
        if old is not new:
            log.info("collections changed in the catalog: the doors were built again")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                with self._lock:
                    self._closed = True
                    current = self._current
                current.close()
                current.stop()
                await self._shutdown(current.runtime)
                await send({"type": "lifespan.shutdown.complete"})
                return


def _close_later(generation: Generation) -> None:
    """Close a generation no request uses any longer, off the event loop."""
    threading.Thread(target=generation.close, name="doors-close", daemon=True).start()
