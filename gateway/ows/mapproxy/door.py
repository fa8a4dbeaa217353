"""The WMS/WMTS door: ``/wms``, ``/wmts`` and ``/ows?SERVICE=WMS|WMTS`` in front of MapProxy
(GET, or POST application/x-www-form-urlencoded: answered as the GET of the same KVP)."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from typing import cast
from urllib.parse import urlencode

from a2wsgi import WSGIMiddleware
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import registry
from gateway.core.catalog.summary import CollectionSummary
from gateway.core.render import MEDIA_TYPES
from gateway.core.tiles.service import Tile, TileService
from gateway.doors import Door
from gateway.edge.caching import TileCaching
from gateway.errors import GatewayError, InvalidParameterValue, MissingParameterValue
from gateway.ows.kvp import Kvp, Received, parse_kvp
from gateway.ows.mapproxy import wms
from gateway.ows.mapproxy._compat import (
    fix_kvp_capabilities,
    time_dimensions,
    with_request_context,
    wms111_dimensions,
    wms130_capabilities,
)
from gateway.ows.mapproxy.app import build_mapproxy
from gateway.ows.mapproxy.config import mapproxy_config
from gateway.ows.mapproxy.dates import CapabilityDates
from gateway.ows.mapproxy.errors import wms_exception, wms_exception_xml, wmts_exception
from gateway.ows.mapproxy.featureinfo import (
    XML_INFO,
    feature_info,
    kvp_info,
    rest_info,
    wmts_envelope,
)
from gateway.ows.mapproxy.visible import visible_layers
from gateway.ows.mapproxy.wmts import kvp_tile, rest_tile, tile_params
from gateway.ows.rewriting import Rewriting, no_body
from gateway.runtime import Runtime
from gateway.web.routes import viewer_routes

log = logging.getLogger(__name__)

WSGI_THREADS = 16


def _unexpected(exc: Exception) -> GatewayError:
    log.exception("unexpected error in the WMS/WMTS door", exc_info=exc)
    return GatewayError("internal error")


class OgcFront:
    """Checks WMS requests and answers WMTS GetTile and GetFeatureInfo, and WMS GetMaps that
    are one tile, from the tile cache; everything else goes to MapProxy. A capabilities
    request starts listing the catalog's dates again when they are older than the TTL."""

    def __init__(
        self,
        runtime: Runtime,
        mapproxy: WSGIMiddleware,
        tiles: TileService,
        dates: CapabilityDates,
        caching: TileCaching,
    ) -> None:
        self.runtime = runtime
        self.mapproxy = mapproxy
        self.tiles = tiles
        self.dates = dates
        self.caching = caching

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] == "POST":  # form-encoded KVP: answered as the same GET
            try:
                received = await Received.read(Request(scope, receive))
                query = urlencode(dict(parse_kvp(received))).encode()
            except GatewayError as error:
                await reject(error, scope)(scope, receive, send)
                return
            scope, receive = {**scope, "method": "GET", "query_string": query}, no_body
        raw = (scope["path"], scope.get("query_string", b""))
        hit = await self.tiles.known_hit(raw)
        if hit is not None:
            await _send_tile(scope, send, hit, self.caching)
            return
        base = scope.get("app_root_path", "")
        path = scope["path"][len(base) :] if scope["path"].startswith(base) else scope["path"]
        params = dict(Kvp.of_scope(scope))
        if path == "/wmts" or path.startswith("/wmts/"):
            response = await self._wmts(scope, receive, send, path[len("/wmts") :], params, raw)
        else:
            response = await self._wms(scope, receive, send, params, raw)
        if response is not None:
            await response(scope, receive, send)

    async def _forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        path: str,
        params: dict[str, str],
        rewrite: Callable[[bytes], bytes] | None = None,
        retype: tuple[bytes, bytes] | None = None,
    ) -> None:
        """Hand the request to MapProxy at ``path`` (its body through ``rewrite`` if given,
        ``retype``: see ``Rewriting``)."""
        if rewrite is not None:
            send = Rewriting(send, rewrite, retype)
        base = scope.get("app_root_path", "")
        inner = {
            **scope,
            "root_path": base,
            "path": base + path,
            "raw_path": (base + path).encode(),
            "query_string": urlencode(params).encode(),
        }
        await cast(ASGIApp, self.mapproxy)(inner, receive, send)

    async def _wms(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        params: dict[str, str],
        raw: tuple[str, bytes],
    ) -> Response | None:
        try:
            checked = await run_in_threadpool(wms.check, self.runtime, params, self.tiles.grids)
            warning = {"Warning": checked.warning} if checked.warning else None
            if checked.direct is not None:
                rendered = await run_in_threadpool(self.runtime.engine.render, checked.direct)
                return Response(rendered.content, media_type=rendered.media_type, headers=warning)
            tile = None
            if checked.tile is not None:
                tile = await self.tiles.tile(checked.tile, tile_params(params), raw)
            elif checked.maps:  # admitted here, so that refusals are WMS exceptions
                await run_in_threadpool(self.runtime.engine.admit, checked.maps)
        except Exception as exc:
            error = exc if isinstance(exc, GatewayError) else _unexpected(exc)
            # A picture (EXCEPTIONS=INIMAGE) is drawn and encoded: not in the event loop.
            return await run_in_threadpool(wms_exception, error, wms.version_of(params), params)
        if tile is not None:
            await _send_tile(scope, send, tile, self.caching)
            return None
        if checked.capabilities:
            self.dates.refresh_soon()
        if checked.warning:
            send = _WithHeader(send, b"warning", checked.warning.encode())
        limits = self.runtime.config.limits
        rewrite = _rewrite(checked, (limits.max_width, limits.max_height))
        if checked.capabilities:
            rewrite = visible_layers(self.runtime.config, rewrite)
        retype = None
        if checked.picture is not None:  # MapProxy's lossless TIFF, encoded as asked
            rewrite = checked.picture.encode
            retype = (b"image/tiff", MEDIA_TYPES[checked.picture.format].encode())
        await self._forward(scope, receive, send, "/wms", checked.params, rewrite, retype)
        return None

    async def _wmts(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        rest: str,
        params: dict[str, str],
        raw: tuple[str, bytes],
    ) -> Response | None:
        operation = params.get("REQUEST", "").lower()
        try:
            tile = rest_tile(rest, params)
            if tile is None and operation == "gettile":
                tile = kvp_tile(params), params
            if tile is not None:
                found = await self.tiles.tile(tile[0], tile_params(tile[1]), raw)
                await _send_tile(scope, send, found, self.caching)
                return None
            info = rest_info(rest, params)
            if info is None and operation == "getfeatureinfo":
                info = kvp_info(params)
            if info is not None:
                return await run_in_threadpool(feature_info, self.runtime, info)
            if rest == "/1.0.0/WMTSCapabilities.xml":
                self.dates.refresh_soon()
                shown = visible_layers(self.runtime.config)
                await self._forward(scope, receive, send, "/wmts" + rest, params, shown)
                return None
            if rest.startswith("/1.0.0/"):  # the path is not echoed: it may hold markup
                raise InvalidParameterValue(
                    "not a resource of this WMTS: see its REST templates in the capabilities",
                    locator="path",
                )
            if not operation:
                raise MissingParameterValue("missing parameter REQUEST", locator="request")
            if operation != "getcapabilities":  # MapProxy answers 500 to the others
                raise wms.unknown_operation(operation)
        except GatewayError as error:
            return wmts_exception(error)
        except Exception as exc:
            return wmts_exception(_unexpected(exc))
        # KVP GetCapabilities: MapProxy's KVP WMTS service lives at /service.
        self.dates.refresh_soon()
        shown = visible_layers(self.runtime.config)
        await self._forward(scope, receive, send, "/service", {**params, "SERVICE": "WMTS"}, shown)
        return None


class TileHitsFirst:
    """In front of the app's routing: a tile request seen before (same path and query) is
    answered from the cache at once. Cached tiles reached 76 % of a bare ASGI app's rate
    through Starlette's routing, and this skips it (bench/bench_tiles.py)."""

    def __init__(self, app: ASGIApp, tiles: TileService, caching: TileCaching) -> None:
        self.app = app
        self.tiles = tiles
        self.caching = caching

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            hit = await self.tiles.known_hit((scope["path"], scope.get("query_string", b"")))
            if hit is not None:
                await _send_tile(scope, send, hit, self.caching)
                return
        await self.app(scope, receive, send)


async def _send_tile(scope: Scope, send: Send, tile: Tile, caching: TileCaching) -> None:
    """The tile as a bare ASGI response (the hit path skips building a Response object),
    or 304 when the request's If-None-Match names it."""
    headers = caching.headers(tile.stamp)
    headers.append((b"x-cache", b"hit" if tile.cached else b"miss"))
    if caching.not_modified(scope["headers"], tile.stamp):
        await send({"type": "http.response.start", "status": 304, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    headers.append((b"content-type", tile.media_type.encode()))
    headers.append((b"content-length", b"%d" % len(tile.content)))
    if tile.warning:
        headers.append((b"warning", tile.warning.encode()))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": tile.content})


class _WithHeader:
    """An ASGI ``send`` that adds one header to a successful response."""

    def __init__(self, send: Send, name: bytes, value: bytes) -> None:
        self._send, self._header = send, (name, value)

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] == 200:
            message = {**message, "headers": [*message["headers"], self._header]}
        await self._send(message)


def _rewrite(checked: wms.Checked, max_size: tuple[int, int]) -> Callable[[bytes], bytes] | None:
    """What a MapProxy answer to this WMS request goes through: capabilities get their time
    dimensions' nearest values (in 1.1.1 the 1.1.1 form; in 1.3.0 the configured size
    limits), XML feature info the WMTS envelope both doors answer in."""
    if checked.capabilities_111:
        return wms111_dimensions
    if checked.capabilities:
        return lambda document: wms130_capabilities(document, max_size)
    operation = checked.params.get("REQUEST", "").strip().lower()
    if operation == "getfeatureinfo" and checked.params.get("INFO_FORMAT") == XML_INFO:
        return wmts_envelope
    return None


def reject(error: GatewayError, scope: Scope) -> Response:
    """An error of the HTTP edge as the door's exception: WMTS's on /wmts, else WMS's."""
    path = scope["path"]
    if path.endswith("/wmts") or "/wmts/" in path:
        return wmts_exception(error)
    params = Kvp.of_scope(scope)
    service = params.get("SERVICE", "").upper()
    return (
        wmts_exception(error)
        if service == "WMTS"
        else wms_exception_xml(error, wms.version_of(params))
    )


def build_door(runtime: Runtime) -> Door:
    """Generate the MapProxy configuration, build MapProxy and mount the front at /wms, /wmts."""
    key = registry.register(runtime)
    base_dir = tempfile.mkdtemp(prefix="cdse-mapproxy-")
    config = runtime.config
    layer_collections = {layer.name: layer.collection for layer in config.layers}
    dates = CapabilityDates(runtime, [c.id for c in config.collections])

    def build(summaries: dict[str, CollectionSummary]) -> WSGIMiddleware:
        """MapProxy for these summaries (dates, and extents: capabilities and coverages)."""
        conf = mapproxy_config(runtime, key, base_dir=base_dir, summaries=summaries)
        app, proxy = build_mapproxy(conf, base_dir)
        fix_kvp_capabilities(app)
        dates.attach(time_dimensions(proxy), layer_collections)

        def answer_failure(error: GatewayError, params: dict[str, str]) -> Response:
            return wms_exception(error, wms.version_of(params), params)

        return WSGIMiddleware(with_request_context(app, answer_failure), workers=WSGI_THREADS)

    tiles = runtime.tiles
    caching = TileCaching(runtime.settings.tile_max_age_s)
    front = OgcFront(runtime, build(dates.summaries), tiles, dates, caching)

    def rebuild(summaries: dict[str, CollectionSummary]) -> None:
        """New extents listed: MapProxy built again and swapped in (in the listing thread;
        requests under way finish on the one they started on)."""
        old = front.mapproxy
        front.mapproxy = build(summaries)
        old.executor.shutdown(wait=False)
        log.info("WMS/WMTS layer extents changed with the catalog: MapProxy rebuilt")

    dates.on_new_extents = rebuild

    def close() -> None:
        dates.close()
        registry.unregister(key)
        front.mapproxy.executor.shutdown(wait=False)
        shutil.rmtree(base_dir, ignore_errors=True)

    return Door(
        routes=[
            Route("/wms", front),
            Route("/wmts", front),
            Mount("/wmts", app=front),
            *viewer_routes(),
        ],
        ows_services={"WMS": front, "WMTS": front},
        ows_path={"WMS": "/wms", "WMTS": "/wmts"},
        middleware=[Middleware(TileHitsFirst, tiles=tiles, caching=caching)],
        close=close,
        reject=reject,
    )
