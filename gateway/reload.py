"""Collections ingested while the gateway runs: its doors built again and swapped in.

Every door builds its layer list when it is built. ``OwnCollections`` tells when the
ingested collections changed and what the configuration then is: in the static catalog (a
``stat`` of each collection document, at most every ``collections_check_s``) or on a STAC API
(its ``/collections``, at most every ``stac_collections_check_s``, when that is set);
``Reloading``,
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
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.byod.collections import (
    catalog_stamp,
    own_collections,
    stac_api_collections,
    with_own_collections,
)
from gateway.byod.inputs import BadInput
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
        settings = runtime.settings
        self._given = runtime.given_config
        self._source: _StaticCatalog | _StacApi = (
            _StacApi(settings.stac_url, settings.stac_timeout_s)
            if settings.stac_url
            else _StaticCatalog(settings.static_catalog_dir)
        )
        api_every_s = settings.stac_collections_check_s if settings.stac_url else None
        self.every_s: float = api_every_s or settings.collections_check_s  # how often to look
        self._stamp: object = None  # None: look once
        self._failing = False  # the last look failed (logged once)

    def changed(self, current: GatewayConfig) -> GatewayConfig | None:
        """The configuration now, when it differs from ``current`` (else None; also when the
        collections cannot be read, logged once until they can again)."""
        try:
            stamp = self._source.stamp()
        except BadInput as exc:
            if not self._failing:
                log.warning("ingested collections not looked at (the doors stay): %s", exc.message)
            self._failing = True
            return None
        if self._failing:
            log.info("ingested collections read again")
            self._failing = False
        if stamp == self._stamp:
            return None
        self._stamp = stamp  # taken first: a later write changes it again
        config = with_own_collections(self._given, self._source.documents())
        return None if config == current else config


class _StaticCatalog:
    """The static catalog's collection documents; their stamp is a ``stat`` of each."""

    def __init__(self, stac_dir: Path) -> None:
        self._dir = stac_dir

    def stamp(self) -> object:
        return catalog_stamp(self._dir)

    def documents(self) -> list[dict]:
        return own_collections(self._dir)


class _StacApi:
    """A STAC API's ingested collections; the stamp is the documents, fetched for it."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self._url, self._timeout_s = url, timeout_s
        self._fetched: list[dict] = []

    def stamp(self) -> object:
        self._fetched = stac_api_collections(self._url, self._timeout_s)
        return self._fetched

    def documents(self) -> list[dict]:
        return self._fetched


class Reloading:
    """The app: sends each request to the current generation of the doors; at most every
    ``every_s`` (when a request comes) ``rebuild`` is called in a background thread, and the
    generation it returns (None: nothing changed) replaces the current one. ``startup`` is
    awaited on the event loop when the server starts it (its lifespan)."""

    def __init__(
        self,
        first: Generation,
        rebuild: Callable[[Runtime], Generation | None] | None,
        every_s: float,
        shutdown: Callable[[Runtime], Awaitable[None]],
        clock: Callable[[], float] = time.monotonic,
        startup: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._current = first
        self._startup = startup
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
                if self._startup is not None:
                    await self._startup()
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
