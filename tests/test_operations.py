"""Operating the gateway: request ids, log lines (text or JSON, no secrets), /readyz."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import socket
import time
from collections.abc import Iterator
from typing import cast

import httpx
import pytest
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.context import current_request_id
from gateway.logs import RedactSecrets, RequestIdFilter, redact
from gateway.settings import Settings
from tests.support.gateway_server import GatewayServer, start_together
from tests.support.metric_samples import samples
from tests.support.ports import free_port

SECRET = "s3cr3t-K3y-value"


@pytest.fixture(scope="module")
def gateways(sample_archive, tmp_path_factory) -> Iterator[list[GatewayServer]]:
    """The module's ``cdse-gateway serve`` processes, started together (their start-ups
    overlap): one with JSON log lines, then one for each graceful-shutdown test to end."""
    folder = tmp_path_factory.mktemp("operations")
    env = {
        "GATEWAY_DATA_DIR": str(sample_archive),
        "GATEWAY_OUTPUT_DIR": str(folder / "out"),
        "GATEWAY_LOG_FORMAT": "json",
    }
    json_logged = GatewayServer(env, folder / "server.log", serve_options=[])
    ending = [_shutdown_server(sample_archive, tmp_path_factory.mktemp("ending")) for _ in "ab"]
    servers = start_together([json_logged, *ending])
    try:
        yield servers
    finally:
        json_logged.stop()
        for server in ending:
            server.stop(kill=True)


@pytest.fixture(scope="module")
def json_logged(gateways) -> GatewayServer:
    """``cdse-gateway serve`` with JSON log lines."""
    return gateways[0]


@pytest.fixture
def serving(gateways) -> GatewayServer:
    """A fresh ``cdse-gateway serve`` with a short shutdown time-out, for one test to end."""
    fresh = [s for s in gateways[1:] if s.process is not None and s.process.poll() is None]
    assert fresh, "no gateway left to end"
    return fresh[0]


def _records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_every_answer_has_its_own_request_id(json_logged):
    first = httpx.get(f"{json_logged.url}/healthz", timeout=10)
    second = httpx.get(f"{json_logged.url}/healthz", timeout=10)
    ids = [answer.headers["X-Request-ID"] for answer in (first, second)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", found) for found in ids) and ids[0] != ids[1]
    assert b"X-Request-ID" in b"".join(first.headers.raw[i][0] for i in range(len(first.headers)))


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("trace-42.a:b_c", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("a b", False),
        ("<script>", False),
        ("id\u00e9", False),
    ],
)
def test_a_clients_request_id_is_kept_only_when_it_is_a_safe_token(json_logged, sent, kept):
    answer = httpx.get(
        f"{json_logged.url}/healthz", headers={"X-Request-ID": sent.encode()}, timeout=10
    )
    got = answer.headers["X-Request-ID"]
    assert (got == sent) is kept
    if not kept:
        assert re.fullmatch(r"[0-9a-f]{32}", got)


def test_json_log_lines_carry_the_request_id_and_never_a_key(json_logged):
    start = json_logged.log_offset()
    answer = httpx.get(
        f"{json_logged.url}/wms",
        params={"SERVICE": "WMS", "REQUEST": "GetCapabilities", "key": SECRET},
        headers={"X-Request-ID": "trace-json-1"},
        timeout=60,
    )
    assert answer.status_code == 200
    log = json_logged.log_since(start)
    assert SECRET not in log
    access = [r for r in _records(log) if r.get("request_id") == "trace-json-1"]
    assert access, log[-2000:]
    line = access[-1]
    assert line["name"] == "uvicorn.access" and line["levelname"] == "INFO"
    assert "GET /wms?" in line["message"] and "key=REDACTED" in line["message"]


def test_records_written_inside_a_request_get_its_id_and_others_a_dash(sample_archive):
    """A door's own log record written while the request is answered carries the id."""
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Keep()
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("gateway.test.operations")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("outside")
        app = create_app(Settings(data_dir=sample_archive, sample_data=False), doors=())

        async def probe(request):
            from starlette.responses import PlainTextResponse

            logger.warning("inside %s", current_request_id())
            await asyncio.to_thread(logger.warning, "in a worker thread")
            return PlainTextResponse("ok")

        cast(Starlette, app.current_app).add_route("/probe", probe)

        async def fetch() -> httpx.Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                return await client.get("/probe", headers={"X-Request-ID": "probe-7"})

        answer = asyncio.run(fetch())
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert answer.headers["x-request-id"] == "probe-7"
    assert [(r.getMessage(), r.request_id) for r in seen] == [  # type: ignore[attr-defined]
        ("outside", "-"),
        ("inside probe-7", "probe-7"),
        ("in a worker thread", "probe-7"),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET /wms?key=abc&x=1", "GET /wms?key=REDACTED&x=1"),
        ("GET /wms?X=1&KEY=abc", "GET /wms?X=1&KEY=REDACTED"),
        ("GET /x?access_token=eyJ.a.b HTTP/1.1", "GET /x?access_token=REDACTED HTTP/1.1"),
        ("GET /x?monkey=1", "GET /x?monkey=1"),
        ("no query", "no query"),
    ],
)
def test_credential_parameters_are_redacted(text, expected):
    assert redact(text) == expected
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s", (text,), None)
    RedactSecrets().filter(record)
    assert record.getMessage() == expected


# -- /readyz -------------------------------------------------------------------------------


def _get(app, path: str) -> httpx.Response:
    async def fetch() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            return await client.get(path)

    return asyncio.run(fetch())


def test_readyz_is_ready_on_the_sample(sample_archive):
    answer = _get(
        create_app(Settings(data_dir=sample_archive, sample_data=False), doors=()), "/readyz"
    )
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ready",
        "checks": {"catalog": "ok", "storage": "ok"},
        "reasons": [],
    }


def test_readyz_is_ready_with_a_live_redis(sample_archive, redis_server):
    settings = Settings(
        data_dir=sample_archive,
        sample_data=False,
        redis_url=f"redis://127.0.0.1:{redis_server.port}/7",
    )
    answer = _get(create_app(settings, doors=()), "/readyz")
    assert answer.status_code == 200
    assert answer.json()["checks"] == {"catalog": "ok", "storage": "ok", "redis": "ok"}


def test_readyz_says_what_is_missing_with_503(sample_archive):
    dead = free_port()  # nothing listens there
    settings = Settings(
        data_dir=sample_archive,
        sample_data=False,
        redis_url=f"redis://:{SECRET}@127.0.0.1:{dead}/0",
        stac_url=f"http://127.0.0.1:{dead}/stac",
        s3_endpoint=f"127.0.0.1:{dead}",
        s3_https=False,
    )
    answer = _get(create_app(settings, doors=()), "/readyz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "degraded"
    assert body["checks"] == {"catalog": "failing", "storage": "failing", "redis": "failing"}
    assert len(body["reasons"]) == 3 and SECRET not in answer.text
    assert answer.headers["retry-after"]


# -- /metrics --------------------------------------------------------------------------------


def test_metrics_count_requests_by_door_operation_status_and_caller(runtime):
    app = create_app(
        runtime=runtime,
        doors=("gateway.ows.mapproxy.door:build_door", "gateway.ogcapi.door:build_door"),
    )
    tile = "/wmts/1.0.0/NDVI/WebMercatorQuad/2025-06-13/13/4233/2683.png"
    before = runtime.cache.stats.snapshot()

    async def run() -> tuple[list[int], str]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            statuses = [(await client.get(path)).status_code for path in (
                tile, tile, "/wms?SERVICE=WMS&REQUEST=Nonsense",
                "/wms?service=WMS&request=GetCapabilities", "/healthz", "/nowhere",
                "/ogcapi/collections?f=json", "/ogcapi/collections/sentinel-2-l2a/items?limit=1",
            )]  # fmt: skip
            return statuses, (await client.get("/metrics")).text

    statuses, text = asyncio.run(run())
    assert statuses == [200, 200, 400, 200, 200, 404, 200, 200]
    found = samples(text)

    def requests(door: str, operation: str, status: str) -> float:
        labels = (("caller", "anonymous"), ("door", door), ("operation", operation))
        return found[("gateway_requests_total", (*labels, ("status", status)))]

    assert requests("wmts", "gettile", "200") == 2
    assert requests("wms", "other", "400") == 1
    assert requests("wms", "getcapabilities", "200") == 1
    assert requests("healthz", "-", "200") == 1
    assert requests("other", "-", "404") == 1
    assert requests("ogcapi", "collections", "200") == 1
    assert requests("ogcapi", "items", "200") == 1
    assert found[("gateway_request_duration_seconds_count", (("door", "wmts"),))] == 2
    after = runtime.cache.stats.snapshot()
    for operation in ("hits", "misses"):
        assert (
            found[("gateway_tile_cache_operations_total", (("operation", operation),))]
            == (after[operation])
        )
    assert after["hits"] > before["hits"]  # the second tile came from the cache


@pytest.mark.parametrize(
    ("door", "path", "query", "operation"),
    [
        ("wms", "/wms", b"SERVICE=WMS&REQUEST=GetMap&LAYERS=NDVI", "getmap"),
        ("wmts", "/wmts", b"service=WMTS&request=GetTile", "gettile"),
        ("wmts", "/wmts/1.0.0/WMTSCapabilities.xml", b"", "getcapabilities"),
        ("ows", "/ows", b"SERVICE=WCS&REQUEST=GetCoverage", "getcoverage"),
        ("wfs", "/wfs", b"REQUEST=" + b"x" * 5000, "other"),
        ("wcs", "/wcs", b"REQUEST=GetCoverage%00", "getcoverage"),
        ("wcs", "/wcs", b"", "other"),
        ("ogcapi", "/ogcapi", b"", "landing"),
        ("ogcapi", "/ogcapi/collections/NDVI/map", b"", "map"),
        ("ogcapi", "/ogcapi/jobs/abc/results", b"", "results"),
        ("ogcapi", "/ogcapi/collections/NDVI/<script>", b"", "collections"),
    ],
)
def test_the_operation_label_is_one_of_a_few_whatever_the_request(door, path, query, operation):
    from gateway.metrics import operation_of

    assert operation_of(door, path, query) == operation


def test_metrics_count_tile_renders_that_waited_for_their_block(sample_settings):
    from gateway.runtime import build_runtime

    fresh = build_runtime(sample_settings)  # an empty cache: both tiles must be rendered
    app = create_app(runtime=fresh, doors=("gateway.ows.mapproxy.door:build_door",))
    block = [
        f"/wmts/1.0.0/NDVI/WebMercatorQuad/2025-06-13/13/4233/{row}.png" for row in (2682, 2683)
    ]

    async def run() -> tuple[list[int], str]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            answers = await asyncio.gather(*(client.get(path) for path in block))
            return [a.status_code for a in answers], (await client.get("/metrics")).text

    try:
        statuses, text = asyncio.run(run())
    finally:
        fresh.close()
    assert statuses == [200, 200]
    found = samples(text)
    # the second tile of the 2x2 block waited for the first one's render, not for the lock
    assert found[("gateway_tile_waits_total", (("on", "render"),))] == 1 == fresh.tiles.render_joins
    assert found[("gateway_tile_waits_total", (("on", "lock"),))] == 0


# -- graceful shutdown ---------------------------------------------------------------------

FORM = b"SERVICE=WFS&REQUEST=GetCapabilities"
SHUTDOWN_TIMEOUT_S = 3


def _shutdown_server(sample_archive, folder) -> GatewayServer:
    env = {
        "GATEWAY_DATA_DIR": str(sample_archive),
        "GATEWAY_OUTPUT_DIR": str(folder / "out"),
        "GATEWAY_SHUTDOWN_TIMEOUT_S": str(SHUTDOWN_TIMEOUT_S),
    }
    return GatewayServer(env, folder / "server.log", serve_options=[])


def _post_head(port: int) -> socket.socket:
    """A WFS POST whose head and half its body are sent: a request in flight."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (
        "POST /wfs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(FORM)}\r\n\r\n"
    )
    sock.sendall(head.encode() + FORM[:10])
    return sock


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_sigterm_refuses_new_connections_and_finishes_the_requests_in_flight(serving):
    server = serving
    try:
        in_flight = _post_head(server.port)
        time.sleep(0.5)  # the server has read the head
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.port), timeout=5)
        in_flight.sendall(FORM[10:])
        answer = _read_all(in_flight)
        in_flight.close()
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
        assert b"WFS_Capabilities" in answer and answer.rstrip().endswith(b">")
        # uvicorn ends by re-raising the signal it handled (a clean end for process managers)
        assert server.process.wait(timeout=SHUTDOWN_TIMEOUT_S + 10) in (0, -signal.SIGTERM)
    finally:
        server.stop(kill=True)


def test_sigterm_ends_a_request_that_never_completes_at_the_deadline(serving):
    server = serving
    try:
        stalled = _post_head(server.port)  # the rest of its body never comes
        time.sleep(0.5)
        assert server.process is not None
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=SHUTDOWN_TIMEOUT_S + 15)
        waited = time.monotonic() - started
        answer = _read_all(stalled)
        stalled.close()
        assert SHUTDOWN_TIMEOUT_S - 0.5 <= waited <= SHUTDOWN_TIMEOUT_S + 10
        # the door's own 503, and one log line rather than the server's traceback and 500
        assert answer.startswith(b"HTTP/1.1 503 "), answer[:200]
        assert b"retry-after:" in answer.lower() and b"<ows:ExceptionReport" in answer
        logged = server.log.read_text()
        assert "ended unanswered: the server cancelled it" in logged
        assert "Traceback" not in logged and '" 500' not in logged
    finally:
        server.stop(kill=True)


# -- slow requests -------------------------------------------------------------------------

WMS_MAP = (
    "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=NDVI&STYLES=&CRS=EPSG:32631"
    "&BBOX=700000,5832000,703000,5835000&WIDTH=256&HEIGHT=256&FORMAT=image/png"
    f"&TIME=2025-06-13&key={SECRET}"
)
WCS_COVERAGE = (
    "/wcs?SERVICE=WCS&VERSION=2.0.1&REQUEST=GetCoverage&COVERAGEID=sentinel-2-l2a__NDVI"
    "&SUBSET=E(700000,703000)&SUBSET=N(5832000,5835000)&SUBSETTINGCRS=EPSG:32631"
    '&FORMAT=image/tiff&SUBSET=time("2025-06-13")'
)


@pytest.mark.parametrize(
    ("door", "path", "phases"),
    [
        (
            "gateway.ows.mapproxy.door:build_door",
            WMS_MAP,
            ("catalog", "read", "band math", "encode"),
        ),
        (
            "gateway.ows.wcs.door:build_door",
            WCS_COVERAGE,
            ("catalog", "read", "band math", "encode"),
        ),
    ],
)
def test_a_slow_request_is_logged_with_where_its_time_went(
    sample_settings, caplog, door, path, phases
):
    settings = sample_settings.model_copy(update={"slow_request_s": 1e-9})
    app = create_app(settings, doors=(door,))
    with caplog.at_level(logging.WARNING, logger="gateway.edge.middleware"):
        answer = _get(app, path)
    assert answer.status_code == 200, answer.text[:500]
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("slow request")]
    assert SECRET not in line and path.split("?")[0] in line
    spent = re.search(r"took ([\d.]+) s \((.*)\)$", line)
    assert spent, line
    parts = dict(re.findall(r"(catalog|read|band math|encode) ([\d.]+) s", spent.group(2)))
    assert tuple(parts) == phases, line
    assert sum(map(float, parts.values())) <= float(spent.group(1)) + 0.02


def test_a_quick_request_is_not_logged(sample_settings, caplog):
    app = create_app(sample_settings, doors=())
    with caplog.at_level(logging.WARNING, logger="gateway.edge.middleware"):
        assert _get(app, "/healthz").status_code == 200
    assert not [r for r in caplog.records if "slow request" in r.getMessage()]


def test_metrics_name_the_caller_class_access_control_found(sample_settings, tmp_path):
    from gateway.access.grants import Grant
    from gateway.access.keys import FileKeyStore, create

    store = FileKeyStore(tmp_path / "keys.json")
    key, _ = create(store, "ops", Grant())
    (tmp_path / "access.yaml").write_text("anonymous: {}\n")
    settings = sample_settings.model_copy(
        update={
            "access": "on",
            "access_file": tmp_path / "access.yaml",
            "access_key_file": store.path,
        }
    )
    app = create_app(settings, doors=("gateway.ows.wcs.door:build_door",))
    query = "/wcs?SERVICE=WCS&REQUEST=GetCapabilities"

    async def run() -> str:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            assert (await client.get(query, headers={"X-API-Key": key})).status_code == 200
            assert (await client.get(query)).status_code == 200
            assert (await client.get(query, headers={"X-API-Key": "cdse_no"})).status_code == 401
            return (await client.get("/metrics")).text

    found = samples(asyncio.run(run()))

    def requests(caller: str, status: str) -> float:
        labels = (("caller", caller), ("door", "wcs"), ("operation", "getcapabilities"))
        return found.get(("gateway_requests_total", (*labels, ("status", status))), 0.0)

    assert requests("key", "200") == 1 and requests("anonymous", "200") == 1
    assert requests("anonymous", "401") == 1  # wrong credentials name no caller


def test_the_process_start_is_read_from_the_system(tmp_path):
    """``serve`` hands its workers its process's start (the first catalog listing's budget
    counts from it): in a process that slept a second first, it lies that second back."""
    import subprocess
    import sys

    script = (
        "import time; time.sleep(1.0); from gateway.edge.server import process_started_at;"
        " print(time.time() - process_started_at())"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert 1.0 <= float(done.stdout) < 30
