"""One request context (gateway/context.py) for both frameworks' plugins: set for each
request, carried into the threads the doors run the frameworks in, never seen by another
request. Measured on live doors: MapProxy's sources and pygeoapi's providers record what they
read while concurrent requests with different parameters are answered."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from a2wsgi import WSGIMiddleware

from gateway.context import answering, current
from gateway.ogcapi.maps import EngineMapProvider
from gateway.ows.mapproxy.sources import EngineMapLayer
from tests.support.ows_live import live_gateway

OGCAPI = "gateway.ogcapi.door:build_door"
MAPPROXY = "gateway.ows.mapproxy.door:build_door"
BBOX_3857 = "662350,6905684,684614,6920353"
MAXCCS = [str(value) for value in range(20, 36)]


def test_answering_sets_the_context_for_its_block_only():
    assert dict(current().params) == {} and current().caller is None
    with answering({"MaxCC": "30"}, caller="alice") as context:
        assert current() is context
        assert current().param("maxcc") == current().param("MAXCC") == "30"
        assert current().caller == "alice"
        with answering({"TIME": "2025-06-01"}):
            assert current().param("time") == "2025-06-01" and current().param("maxcc") is None
        assert current() is context
    assert dict(current().params) == {} and current().caller is None


def test_the_context_reaches_the_threads_the_doors_run_frameworks_in():
    """asyncio.to_thread (OGC API) and a2wsgi's WSGI threads (MapProxy) copy the context; a
    thread started by hand does not (so MapProxy must render in the request's thread)."""

    def read() -> str | None:
        return current().param("maxcc")

    async def through_to_thread() -> str | None:
        with answering({"maxcc": "11"}):
            return await asyncio.to_thread(read)

    assert asyncio.run(through_to_thread()) == "11"

    def wsgi_app(environ: dict, start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("content-type", "text/plain")])
        return [(read() or "-").encode(), threading.current_thread().name.encode()]

    async def through_a2wsgi() -> bytes:
        sent: list[dict] = []

        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": "/", "query_string": b"",
                 "headers": [], "server": ("127.0.0.1", 80), "http_version": "1.1"}  # fmt: skip
        middleware = WSGIMiddleware(wsgi_app, workers=1)
        with answering({"maxcc": "12"}):
            await middleware(scope, receive, send)
        middleware.executor.shutdown()
        return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")

    body = asyncio.run(through_a2wsgi())
    assert body.startswith(b"12") and threading.current_thread().name.encode() not in body

    seen: list[str | None] = []
    with answering({"maxcc": "13"}):
        thread = threading.Thread(target=lambda: seen.append(read()))
        thread.start()
        thread.join()
    assert seen == [None]


def _recording(monkeypatch, cls: type, method: str) -> list[tuple[dict[str, str], str]]:
    """Wrap ``cls.method`` to record (the context's parameters, thread name) at each call."""
    seen: list[tuple[dict[str, str], str]] = []
    original = getattr(cls, method)

    def recording(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append((dict(current().params), threading.current_thread().name))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, method, recording)
    return seen


def _answer_concurrently(
    settings: Any, door: str, path: str, params: Callable[[str], dict[str, str]]
) -> None:
    """One request per MAXCCS value at once, 8 at a time, to a live gateway of ``door``."""
    with live_gateway(settings, doors=(door,)) as url, httpx.Client(timeout=120) as http:

        def get(maxcc: str) -> httpx.Response:
            return http.get(url + path, params=params(maxcc))

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(get, MAXCCS))
    assert all(a.status_code == 200 for a in answers), [a.text[:200] for a in answers]


def test_each_request_reaches_mapproxy_sources_with_its_own_parameters(
    sample_settings, monkeypatch
):
    seen = _recording(monkeypatch, EngineMapLayer, "get_map")
    _answer_concurrently(sample_settings, MAPPROXY, "/wms", lambda maxcc: {
        "SERVICE": "WMS", "REQUEST": "GetMap", "VERSION": "1.3.0", "LAYERS": "NDVI",
        "STYLES": "ndvi", "CRS": "EPSG:3857", "BBOX": BBOX_3857, "WIDTH": "120",
        "HEIGHT": "80", "FORMAT": "image/png", "MAXCC": maxcc})  # fmt: skip
    assert sorted(params["MAXCC"] for params, _ in seen) == MAXCCS  # each its own, none lost
    assert all(params["STYLES"] == "ndvi" for params, _ in seen)  # MapProxy itself gets ""
    assert all(thread != threading.current_thread().name for _, thread in seen)


def test_each_request_reaches_pygeoapi_providers_with_its_own_parameters(
    sample_settings, monkeypatch
):
    seen = _recording(monkeypatch, EngineMapProvider, "query")
    _answer_concurrently(sample_settings, OGCAPI, "/ogcapi/collections/NDVI/map", lambda maxcc: {
        "bbox": "5.94,52.58,5.99,52.62", "width": "120", "height": "80", "maxcc": maxcc,
        "f": "png"})  # fmt: skip
    assert sorted(params["maxcc"] for params, _ in seen) == MAXCCS
    assert all(thread != threading.current_thread().name for _, thread in seen)
