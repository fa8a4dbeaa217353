"""A small reverse proxy on 127.0.0.1 that records every request it forwards.

Put in front of a stand-in server (S3, STAC API) it tells tests how many HTTP requests
and how many response bytes a piece of work cost, and which byte ranges were asked for.
Given ``Limits`` it also plays CDSE's quota: requests in flight at once and requests per
minute beyond the limit are answered ``503 SlowDown`` (as S3 does), and each answer is sent
no faster than a bandwidth per connection. Given ``ranges_from`` it answers the byte-range
GETs of a bucket's keys from the files themselves, as a store that serves ranges side by side
in a time that does not grow with the object (moto copies the whole object for each).
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import re
import socket
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "http2-settings",
}


@dataclass(frozen=True)
class Hit:
    """One forwarded request and the size of its answer."""

    method: str
    path: str  # without the query string
    query: str
    range: str | None  # the Range header as sent, e.g. "bytes=0-16383"
    status: int
    body_bytes: int


@dataclass(frozen=True)
class Limits:
    """A quota the proxy enforces (None: no limit). ``connections`` counts requests being
    served at once (a kept-alive idle connection costs nothing); ``requests_per_minute`` is a
    sliding window of 60 s; ``bytes_per_s`` paces each answer's body; ``first_byte_s`` is
    added before each answer, as the round trip to a store farther than 127.0.0.1 (a
    connection in use meanwhile)."""

    connections: int | None = None
    requests_per_minute: int | None = None
    bytes_per_s: int | None = None
    first_byte_s: float = 0.0


SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


class _Gate:
    """Admission of requests under ``Limits``, and the figures tests check."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.in_flight = 0
        self.peak = 0  # most requests served at once (refused ones not counted)
        self.refused = 0  # answered 503 SlowDown
        self._started: deque[float] = deque()  # when admitted requests began, last minute
        self._lock = threading.Lock()

    def enter(self) -> bool:
        """Admit a request (True) or refuse it (False: answer 503 SlowDown)."""
        limits, now = self.limits, time.monotonic()
        with self._lock:
            while self._started and now - self._started[0] >= 60.0:
                self._started.popleft()
            over_connections = limits.connections is not None and (
                self.in_flight >= limits.connections
            )
            over_rate = limits.requests_per_minute is not None and (
                len(self._started) >= limits.requests_per_minute
            )
            if over_connections or over_rate:
                self.refused += 1
                return False
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            self._started.append(now)
            return True

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


Rewrite = Callable[[str, dict[str, str]], tuple[str, dict[str, str]]]
_RANGE = re.compile(r"bytes=(\d+)-(\d+)$")


@dataclass(frozen=True)
class _Answer:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    payload: bytes


def _range_from_file(prefix: str, folder: Path, path: str, ranged: str | None) -> _Answer | None:
    """The answer S3 gives to a GET of ``bytes=A-B`` of the key ``path`` names under
    ``prefix`` (``/bucket/``), read from ``folder``; None for any other request."""
    found = _RANGE.match(ranged or "")
    key = urllib.parse.unquote(path.partition("?")[0])
    if found is None or not key.startswith(prefix):
        return None
    file = folder / key[len(prefix) :]
    if ".." in Path(key).parts or not file.is_file():
        return None
    stat = file.stat()
    size, modified = stat.st_size, stat.st_mtime
    begin, end = int(found[1]), min(int(found[2]), size - 1)
    if begin > end:
        return None
    with file.open("rb") as stream:
        stream.seek(begin)
        payload = stream.read(end - begin + 1)
    headers = [
        ("Content-Type", "binary/octet-stream"),
        ("Accept-Ranges", "bytes"),
        ("Content-Range", f"bytes {begin}-{end}/{size}"),
        ("ETag", f'"{size:x}-{int(modified):x}"'),
        ("Last-Modified", email.utils.formatdate(modified, usegmt=True)),
    ]
    return _Answer(206, "Partial Content", headers, payload)


class CountingProxy:
    """Forwards HTTP/1.1 requests to ``upstream`` (host, port) and records them as ``Hit``s.

    ``rewrite`` maps each request's path and headers to those sent upstream (a proxy that
    strips a path prefix, sets ``X-Forwarded-*``...); by default they go as they came.
    ``limits`` makes it enforce a quota (see ``Limits``); refused requests are recorded too.
    ``ranges_from`` (``/bucket/``, folder): byte-range GETs of that bucket's keys are answered
    from the folder's files, the rest forwarded.
    """

    def __init__(
        self,
        upstream: tuple[str, int],
        rewrite: Rewrite | None = None,
        limits: Limits | None = None,
        ranges_from: tuple[str, Path] | None = None,
    ) -> None:
        self.upstream = upstream
        self.rewrite = rewrite
        self.ranges_from = ranges_from
        self.gate = _Gate(limits or Limits())
        self._hits: list[Hit] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.open: set[socket.socket] = set()  # client connections being served (kept alive)

    @property
    def port(self) -> int:
        assert self._server is not None, "proxy not started"
        return self._server.server_address[1]

    @property
    def address(self) -> str:
        """``127.0.0.1:<port>``, the form ``AWS_S3_ENDPOINT`` takes."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> CountingProxy:
        handler = _handler_class(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, and end the connections clients keep alive (their threads would
        otherwise wait on them until the interpreter exits, and die noisily then)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            connections, self.open = list(self.open), set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def record(self, hit: Hit) -> None:
        with self._lock:
            self._hits.append(hit)

    def hits(self) -> list[Hit]:
        """A copy of the requests recorded since the last ``reset``."""
        with self._lock:
            return list(self._hits)

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()


def _handler_class(proxy: CountingProxy) -> type[BaseHTTPRequestHandler]:
    local = threading.local()

    def connection() -> http.client.HTTPConnection:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(*proxy.upstream, timeout=60)
            local.conn = conn
        return conn

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body go in separate writes: without this, Nagle's algorithm holds
            # the body until the client's delayed ACK (40 ms on Linux) on a kept-alive
            # connection, a delay no store adds.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            proxy.open.add(self.connection)

        def finish(self) -> None:
            proxy.open.discard(self.connection)
            super().finish()

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if not proxy.gate.enter():
                self._slow_down()
                return
            self._served = False
            try:
                self._pass(body)
            finally:
                self._done()

        def _done(self) -> None:
            """Count the request as served: called before its answer's last bytes go out
            (once the client has them it may send the next request, possibly before this
            thread runs again)."""
            if not self._served:
                self._served = True
                proxy.gate.leave()

        def _slow_down(self) -> None:
            path, _, query = self.path.partition("?")
            proxy.record(Hit(self.command, path, query, self.headers.get("Range"), 503, 0))
            self.send_response_only(503, "Slow Down")
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(SLOW_DOWN)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(SLOW_DOWN)

        def _pass(self, body: bytes | None) -> None:
            answer = None
            if proxy.ranges_from is not None and self.command == "GET":
                answer = _range_from_file(*proxy.ranges_from, self.path, self.headers.get("Range"))
            if answer is None:
                answer = self._upstream(body)
            time.sleep(proxy.gate.limits.first_byte_s)
            path, _, query = self.path.partition("?")
            payload = answer.payload
            proxy.record(
                Hit(
                    method=self.command,
                    path=path,
                    query=query,
                    range=self.headers.get("Range"),
                    status=answer.status,
                    body_bytes=len(payload) if self.command != "HEAD" else 0,
                )
            )
            self.send_response_only(answer.status, answer.reason)
            length = str(len(payload))  # a HEAD's: the upstream's header
            for key, value in answer.headers:
                if key.lower() == "content-length":
                    length = value if self.command == "HEAD" else length
                elif key.lower() not in _HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", length)
            if self.command == "HEAD" or not payload:
                self._done()  # the headers are the answer's last bytes
                self.end_headers()
                return
            self.end_headers()
            self._send_paced(payload)

        def _upstream(self, body: bytes | None) -> _Answer:
            """The upstream server's answer to this request."""
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            target = self.path
            if proxy.rewrite is not None:
                target, headers = proxy.rewrite(target, headers)
            for attempt in (1, 2):  # a kept-alive upstream connection may have been closed
                conn = connection()
                try:
                    conn.request(self.command, target, body=body, headers=headers)
                    answer = conn.getresponse()
                    payload = answer.read()
                    break
                except (http.client.HTTPException, OSError):
                    conn.close()
                    local.conn = None
                    if attempt == 2:
                        raise
            return _Answer(answer.status, answer.reason, answer.getheaders(), payload)

        def _send_paced(self, payload: bytes) -> None:
            """Write ``payload``, no faster than the limit's bytes per second."""
            rate = proxy.gate.limits.bytes_per_s
            chunk = len(payload) if rate is None else max(1, rate // 20)
            rate = rate or 1 << 62
            started = time.monotonic()
            for sent in range(0, len(payload), chunk):
                if sent + chunk >= len(payload):
                    self._done()
                self.wfile.write(payload[sent : sent + chunk])
                ahead = (sent + chunk) / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_OPTIONS = _forward

    return Handler
