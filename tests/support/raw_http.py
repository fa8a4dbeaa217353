"""HTTP/1.1 over a bare socket: the response head as bytes, names exactly as sent.

Some clients read header names case-sensitively (QGIS 3.22 looks for ``Content-Type``); this
one does too, so tests see what such a client sees. ``stream_post`` sends a large chunked
body and stops as soon as the server answers, as browsers do.
"""

from __future__ import annotations

import json
import select
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[bytes, bytes]]  # names as the server wrote them
    body: bytes
    sent: int = 0  # request body bytes sent before the answer came

    def header(self, name: bytes) -> bytes | None:
        """The value of the header written exactly as ``name`` (case-sensitive)."""
        return next((value for key, value in self.headers if key == name), None)

    def json(self) -> object:
        return json.loads(self.body)


def _read_response(sock: socket.socket, timeout: float) -> RawResponse:
    deadline = time.monotonic() + timeout
    data = b""
    while b"\r\n\r\n" not in data:
        data += _recv(sock, deadline)
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    headers = [tuple(part.strip() for part in line.split(b":", 1)) for line in lines[1:]]
    found = {k.lower(): v for k, v in headers}
    if status in (204, 304) or b"content-length" in found:
        length = int(found.get(b"content-length", b"0"))
        while len(rest) < length:
            rest += _recv(sock, deadline)
        body = rest[:length]
    elif found.get(b"transfer-encoding", b"").lower() == b"chunked":
        body = b""
        while True:
            while b"\r\n" not in rest:
                rest += _recv(sock, deadline)
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(rest) < size + 2:
                rest += _recv(sock, deadline)
            body, rest = body + rest[:size], rest[size + 2 :]
            if size == 0:
                break
    else:
        body = rest
        while chunk := _recv(sock, deadline, eof_ok=True):
            body += chunk
    return RawResponse(status, headers, body)  # type: ignore[arg-type]


def _recv(sock: socket.socket, deadline: float, eof_ok: bool = False) -> bytes:
    sock.settimeout(max(0.01, deadline - time.monotonic()))
    chunk = sock.recv(65536)
    if not chunk and not eof_ok:
        raise ConnectionError("the server closed the connection before answering")
    return chunk


def _connect(url: str) -> tuple[socket.socket, str, str]:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return sock, target, parts.netloc


def raw_request(
    url: str, method: str = "GET", headers: dict[str, str] | None = None, timeout: float = 120
) -> RawResponse:
    """One request without a body; the answer as written on the wire."""
    sock, target, host = _connect(url)
    with sock:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        return _read_response(sock, timeout)


def stream_post(
    url: str,
    content_type: str,
    total: int,
    *,
    chunk: bytes = b"a" * (1 << 20),
    declared: bool = False,
    timeout: float = 120,
) -> RawResponse:
    """POST ``total`` bytes of ``chunk`` repeated, chunked (or with a ``Content-Length``
    when ``declared``), stopping as soon as the server answers."""
    sock, target, host = _connect(url)
    with sock:
        framing = f"Content-Length: {total}" if declared else "Transfer-Encoding: chunked"
        head = (
            f"POST {target} HTTP/1.1\r\nHost: {host}\r\n"  # keep-alive: no RST on unread data
            f"Content-Type: {content_type}\r\n{framing}\r\n\r\n"
        )
        sock.sendall(head.encode("latin-1"))
        sent = 0
        while sent < total and not select.select([sock], [], [], 0)[0]:
            piece = chunk[: total - sent]
            try:
                if declared:
                    sock.sendall(piece)
                else:
                    sock.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
            except OSError:  # the server answered and closed: read its answer
                break
            sent += len(piece)
        if sent >= total and not declared:
            sock.sendall(b"0\r\n\r\n")
        response = _read_response(sock, timeout)
        response.sent = sent
        return response
