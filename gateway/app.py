"""The ASGI application. ``create_app(settings)`` builds everything; importing does nothing."""

from __future__ import annotations

import asyncio
import importlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway import __version__
from gateway.access.authenticate import Authenticator
from gateway.access.middleware import Access
from gateway.access.setup import authenticator
from gateway.core import tent
from gateway.doors import Door, DoorFactory
from gateway.edge.bodies import BodyLimits
from gateway.edge.cors import CorsPolicy
from gateway.edge.middleware import Edge
from gateway.edge.quotas import Quotas
from gateway.edge.rejections import Rejections
from gateway.edge.server import started_at
from gateway.forwarded import ForwardedHeaders
from gateway.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from gateway.metrics import Metrics
from gateway.ows.dispatch import OwsDispatcher, requested_service
from gateway.ows.instances import instance_door
from gateway.ows.kvp import Kvp
from gateway.priority import LoopFirst
from gateway.quotas.limiter import Limiter
from gateway.quotas.setup import budgets_of, limiter_of
from gateway.readiness import checks
from gateway.reload import Generation, OwnCollections, Reloading
from gateway.runtime import Runtime, build_runtime, with_config
from gateway.settings import Settings

# Every door the gateway mounts, as "module:factory" (imported when the app is created).
DOORS: tuple[str, ...] = (
    "gateway.ogcapi.door:build_door",
    "gateway.ows.mapproxy.door:build_door",
    "gateway.ows.wcs.door:build_door",
    "gateway.ows.wfs.door:build_door",
)


async def healthz(request: Request) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    return JSONResponse(
        {
            "status": "ok",
            "version": __version__,
            "catalog": "stac-api" if runtime.settings.stac_url else "static",
            "storage": runtime.settings.storage_mode,
            "cache": type(runtime.cache).__name__,
            "admission": runtime.engine.admission.state() if runtime.engine.admission else None,
            "quotas": {name: quota.state() for name, quota in runtime.remote_quotas.items()},
        }
    )


async def readyz(request: Request) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    found = await asyncio.to_thread(checks, runtime.settings)
    problems = [f"{check.name}: {check.problem}" for check in found if not check.ok]
    body = {
        "status": "degraded" if problems else "ready",
        "checks": {check.name: "ok" if check.ok else "failing" for check in found},
        "reasons": problems,
    }
    return JSONResponse(body, status_code=503 if problems else 200)


def _load(path: str) -> DoorFactory:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


async def metrics(request: Request) -> Response:
    exposition = await asyncio.to_thread(request.app.state.metrics.exposition)
    return Response(exposition, media_type=METRICS_CONTENT_TYPE)


def edge(settings: Settings, rejections: Rejections, observed: Metrics) -> Middleware:
    """The HTTP edge every answer passes, outermost (``gateway.edge``)."""
    return Middleware(
        Edge,
        cors=CorsPolicy(
            settings.cors_origins, settings.cors_delete_origins, settings.cors_max_age_s
        ),
        bodies=BodyLimits(settings.max_body_bytes, settings.max_json_body_bytes),
        rejections=rejections,
        retry_after_s=settings.retry_after_s,
        observe=observed.requests.observe,
        slow_request_s=settings.slow_request_s,
    )


def quotas(
    settings: Settings, rejections: Rejections, limiter: Limiter, observed: Metrics
) -> Middleware:
    """Each caller's quotas, inside the edge (``gateway.edge.quotas``)."""
    return Middleware(
        Quotas,
        budgets=budgets_of(settings),
        limiter=limiter,
        rejections=rejections,
        cached_fraction=settings.quotas_cached_fraction,
        on_reject=observed.quota_rejected,
    )


def access(
    runtime: Runtime, rejections: Rejections, authenticate: Authenticator | None
) -> Middleware:
    """Access control, inside the edge (``gateway.access``; off: everyone may use all)."""
    return Middleware(
        Access,
        authenticator=authenticate,
        config=runtime.config,
        rejections=rejections,
        service_of=requested_service,
        params_of=Kvp.of_scope,
    )


@dataclass(frozen=True)
class Shared:
    """What every generation of the doors shares: the metrics, the callers' quota limiter,
    the authenticator."""

    observed: Metrics
    limiter: Limiter | None
    authenticate: Authenticator | None


def generation(runtime: Runtime, doors: Sequence[str], shared: Shared) -> Generation:
    """The doors built for ``runtime`` and the app they make up (routes, middleware)."""
    built: list[Door] = [_load(path)(runtime) for path in doors]
    if runtime.config.instances:  # Sentinel Hub's /ogc/<service>/<instance> URLs
        built.append(instance_door(built, runtime.config))

    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
    ]
    for door in built:
        routes.extend(door.routes)
    if any(door.ows_services for door in built):
        routes.append(Route("/ows", endpoint=OwsDispatcher(built)))

    settings, limiter = runtime.settings, shared.limiter
    proxies = Middleware(ForwardedHeaders, trusted_hosts=settings.forwarded_allow_ips)
    rejections = Rejections(built, requested_service)
    middleware = [
        proxies,
        edge(settings, rejections, shared.observed),
        access(runtime, rejections, shared.authenticate),  # the caller, before quotas read it
        *([quotas(settings, rejections, limiter, shared.observed)] if limiter else []),
        *(entry for door in built for entry in door.middleware),
    ]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.runtime = runtime
    app.state.metrics = shared.observed

    def close() -> None:
        for door in built:
            if door.close is not None:
                door.close()

    def stop() -> None:
        for door in built:
            if door.stop is not None:
                door.stop()

    return Generation(app, runtime, close, stop)


def create_app(
    settings: Settings | None = None,
    runtime: Runtime | None = None,
    doors: Sequence[str] = DOORS,
) -> Reloading:
    """Build the gateway app; configuration is validated here, not at import. On the static
    catalog (on a STAC API with ``stac_collections_check_s``), collections ingested later are
    served without a restart (``gateway.reload``). The collections' first catalog listing
    and the compiled warp kernel's loading (``tent.warm_up``) start at once, in the
    background, while the doors are built; the app is returned once both ended (the listing
    within its budget: ``GATEWAY_CAPABILITIES_FIRST_LISTING_S``)."""
    started = started_at()
    settings = settings or Settings()
    runtime = runtime or build_runtime(settings)
    listing = runtime.summaries.start([c.id for c in runtime.config.collections], started)
    # The compiled warp kernel loads beside the doors' building, not in a first tile.
    kernel = threading.Thread(target=tent.warm_up, name="warm-up-kernel", daemon=True)
    kernel.start()
    limiter = limiter_of(runtime.settings) if runtime.settings.quotas else None
    app: Reloading | None = None
    observed = Metrics(lambda: app.runtime if app is not None else runtime)
    shared = Shared(observed, limiter, authenticator(runtime.settings))
    rebuild, every_s = None, runtime.settings.collections_check_s
    if runtime.given_config is not None:
        own = OwnCollections(runtime)
        every_s = own.every_s

        def rebuild(current: Runtime) -> Generation | None:
            config = own.changed(current.config)
            if config is None:
                return None
            return generation(with_config(current, config), doors, shared)

    loop_first = LoopFirst(runtime.settings.thread_nice, runtime.settings.switch_interval_ms)

    async def shutdown(last: Runtime) -> None:
        loop_first.stop()
        if limiter is not None:
            await limiter.close()
        last.close()

    async def startup() -> None:
        loop_first.start()
        await runtime.tiles.open_hits(runtime.settings.hit_connections)

    first = generation(runtime, doors, shared)
    listing.join()  # the app is ready once its first listings are (within their budget)
    kernel.join()  # and its warp kernel (0.3 s from numba's cache, about 1 s the first time)
    app = Reloading(first, rebuild, every_s, shutdown, startup=startup)
    return app
