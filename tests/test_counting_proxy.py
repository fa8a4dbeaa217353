"""The counting proxy as CDSE's quota: connections, requests per minute, bytes per second; and
its round trip."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.support.counting_proxy import CountingProxy, Limits

BODY = b"x" * 100_000


class _Slow(BaseHTTPRequestHandler):
    """Answers ``BODY`` after ``delay`` seconds, and once ``hold`` is set (when a test sets
    one: its requests stay in flight until it says so, however slowly they were sent)."""

    protocol_version = "HTTP/1.1"
    delay = 0.3
    hold: threading.Event | None = None

    def do_GET(self) -> None:
        time.sleep(self.delay)
        if self.hold is not None:
            self.hold.wait(timeout=10)
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, int]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield ("127.0.0.1", server.server_address[1])
    server.shutdown()
    server.server_close()


def _proxy(upstream: tuple[str, int], limits: Limits) -> CountingProxy:
    return CountingProxy(upstream, limits=limits).start()


def _get(proxy: CountingProxy, name: str) -> httpx.Response:
    return httpx.get(f"http://{proxy.address}/{name}", timeout=10)


def test_connections_beyond_the_cap_get_slow_down(upstream):
    proxy = _proxy(upstream, Limits(connections=2))
    _Slow.hold = threading.Event()  # the first two stay in flight until the others came
    try:
        with ThreadPoolExecutor(4) as pool:
            asked = [pool.submit(_get, proxy, f"f{i}") for i in range(4)]
            deadline = time.monotonic() + 10
            while proxy.gate.refused < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            _Slow.hold.set()
            answers = [future.result() for future in asked]
    finally:
        _Slow.hold = None
        proxy.stop()
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 200, 503, 503]
    refused = next(a for a in answers if a.status_code == 503)
    assert b"<Code>SlowDown</Code>" in refused.content
    assert proxy.gate.peak == 2 and proxy.gate.refused == 2
    assert sorted(h.status for h in proxy.hits()) == statuses


def test_requests_beyond_the_rate_get_slow_down(upstream):
    proxy = _proxy(upstream, Limits(requests_per_minute=3))
    try:
        statuses = [_get(proxy, f"f{i}").status_code for i in range(5)]
    finally:
        proxy.stop()
    assert statuses == [200, 200, 200, 503, 503]


def test_answers_are_paced_per_connection(upstream):
    proxy = _proxy(upstream, Limits(bytes_per_s=250_000))
    try:
        started = time.monotonic()
        answer = _get(proxy, "f")
        took = time.monotonic() - started - _Slow.delay
    finally:
        proxy.stop()
    assert answer.content == BODY
    assert 0.35 <= took < 2.0  # 100 kB at 250 kB/s: 0.4 s


def test_the_first_byte_comes_after_the_round_trip_on_every_connection(upstream):
    proxy = _proxy(upstream, Limits(first_byte_s=0.5))
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(3) as pool:
            answers = list(pool.map(lambda i: _get(proxy, f"f{i}"), range(3)))
        took = time.monotonic() - started - _Slow.delay
    finally:
        proxy.stop()
    assert [a.content for a in answers] == [BODY] * 3
    assert 0.45 <= took < 1.2  # side by side: each waited 0.5 s, not one after the other
    assert proxy.gate.peak == 3


def test_no_limits_by_default(upstream):
    proxy = CountingProxy(upstream).start()
    try:
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda i: _get(proxy, f"f{i}"), range(4)))
    finally:
        proxy.stop()
    assert [a.status_code for a in answers] == [200] * 4
    assert proxy.gate.refused == 0 and proxy.gate.peak >= 2


def test_ranges_from_files_answer_as_s3_and_the_rest_goes_upstream(upstream, tmp_path):
    (tmp_path / "tile").mkdir()
    content = bytes(range(256)) * 40
    (tmp_path / "tile" / "B04.jp2").write_bytes(content)
    proxy = CountingProxy(upstream, ranges_from=("/eodata/", tmp_path)).start()
    base = f"http://{proxy.address}/eodata"
    try:
        ranged = httpx.get(f"{base}/tile/B04.jp2", headers={"Range": "bytes=100-299"})
        beyond = httpx.get(f"{base}/tile/B04.jp2", headers={"Range": "bytes=10000-20000"})
        whole = httpx.get(f"{base}/tile/B04.jp2", timeout=10)  # no range: upstream
        escaping = httpx.get(f"{base}/../tile/B04.jp2", headers={"Range": "bytes=0-9"})
    finally:
        proxy.stop()
    assert ranged.status_code == 206 and ranged.content == content[100:300]
    assert ranged.headers["Content-Range"] == f"bytes 100-299/{len(content)}"
    assert ranged.headers["Content-Length"] == "200" and ranged.headers["ETag"]
    assert beyond.status_code == 206 and beyond.content == content[10000:]
    assert whole.content == BODY and escaping.content == BODY  # what upstream answers
    assert [hit.status for hit in proxy.hits()] == [206, 206, 200, 200]


def test_gdal_reads_the_same_pixels_through_ranges_from_files(s3, sample_archive):
    """The stand-in with ranges answered from the files: GDAL's /vsis3/ opens and reads a
    JPEG 2000 window as from moto."""
    import rasterio
    from rasterio.windows import Window

    from gateway.core.storage import Storage

    eodata = sample_archive / "eodata"
    local = next(eodata.rglob("*B04_10m.jp2"))
    key = local.relative_to(eodata).as_posix()
    upstream = ("127.0.0.1", s3.port)
    proxy = CountingProxy(upstream, ranges_from=("/eodata/", eodata)).start()
    storage = Storage(
        mode="s3", s3_endpoint=proxy.address, access_key_id="test",
        secret_access_key="test", https=False, region="us-east-1",
    )  # fmt: skip
    window = Window(700, 650, 300, 200)
    moto_gets = [r for r in s3.logged_requests() if r[0] == "GET"]
    try:
        with (
            rasterio.Env(session=storage.gdal_session(), **storage.gdal_options()),
            rasterio.open(f"/vsis3/eodata/{key}") as src,
        ):
            remote = src.read(1, window=window)
    finally:
        proxy.stop()
    with rasterio.open(local) as src:
        expected = src.read(1, window=window)
    assert (remote == expected).all() and expected.any()
    assert [hit.status for hit in proxy.hits() if hit.method == "GET"].count(206) >= 2
    assert [r for r in s3.logged_requests() if r[0] == "GET"] == moto_gets  # none reached moto
