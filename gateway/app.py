"""The ASGI application. ``create_app(settings)`` builds everything; importing does nothing."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import AsyncIterator, Sequence

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway import __version__
from gateway.access.middleware import Access
from gateway.access.setup import authenticator
from gateway.doors import Door, DoorFactory
from gateway.edge.bodies import BodyLimits
from gateway.edge.cors import CorsPolicy
from gateway.edge.middleware import Edge
from gateway.edge.quotas import Quotas
from gateway.edge.rejections import Rejections
from gateway.forwarded import ForwardedHeaders
from gateway.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from gateway.metrics import Metrics
from gateway.ows.dispatch import OwsDispatcher, requested_service
from gateway.ows.instances import instance_door
from gateway.ows.kvp import Kvp
from gateway.quotas.limiter import Limiter
from gateway.quotas.setup import budgets_of, limiter_of
from gateway.readiness import checks
from gateway.runtime import Runtime, build_runtime
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


def access(runtime: Runtime, rejections: Rejections) -> Middleware:
    """Access control, inside the edge (``gateway.access``; off: everyone may use all)."""
    return Middleware(
        Access,
        authenticator=authenticator(runtime.settings),
        config=runtime.config,
        rejections=rejections,
        service_of=requested_service,
        params_of=Kvp.of_scope,
    )


def create_app(
    settings: Settings | None = None,
    runtime: Runtime | None = None,
    doors: Sequence[str] = DOORS,
) -> Starlette:
    """Build the gateway app; configuration is validated here, not at import."""
    settings = settings or Settings()
    runtime = runtime or build_runtime(settings)
    built: list[Door] = [_load(path)(runtime) for path in doors]
    if runtime.config.instances:  # Sentinel Hub's /ogc/<service>/<instance> URLs
        built.append(instance_door(built, runtime.config))

    observed = Metrics(runtime)
    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
    ]
    for door in built:
        routes.extend(door.routes)
    if any(door.ows_services for door in built):
        routes.append(Route("/ows", endpoint=OwsDispatcher(built)))

    limiter = limiter_of(runtime.settings) if runtime.settings.quotas else None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        for door in built:
            if door.close is not None:
                door.close()
        if limiter is not None:
            await limiter.close()
        runtime.close()

    proxies = Middleware(ForwardedHeaders, trusted_hosts=runtime.settings.forwarded_allow_ips)
    rejections = Rejections(built, requested_service)
    middleware = [
        proxies,
        edge(runtime.settings, rejections, observed),
        access(runtime, rejections),  # the caller, before quotas read it
        *([quotas(runtime.settings, rejections, limiter, observed)] if limiter else []),
        *(entry for door in built for entry in door.middleware),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.runtime = runtime
    app.state.metrics = observed
    return app
