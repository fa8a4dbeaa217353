"""A live gateway for hostile input (every door, in its own process, its log on disk) and a
TCP listener on 127.0.0.1 that must never be called: a request of the gateway to it would be
a server-side fetch of a client's URL."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.configs import hostile_config_file
from tests.support.gateway_server import GatewayServer

NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class Listener:
    """Accepts connections on a free 127.0.0.1 port, remembers what came, answers 404."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.seen: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return  # closed
            with connection:
                connection.settimeout(1)
                try:
                    self.seen.append(connection.recv(4096) or b"(connected)")
                    connection.sendall(NOT_FOUND)
                except OSError:
                    self.seen.append(b"(connected)")

    def close(self) -> None:
        self._socket.close()


class LoggedServer:
    """A started GatewayServer and its log, read from where the last look stopped."""

    def __init__(self, server: GatewayServer, log: Path) -> None:
        self.server = server
        self.url = server.url
        self.log = log
        self._read = 0

    def new_log(self) -> str:
        """What the server logged since the last call."""
        with self.log.open("rb") as handle:
            handle.seek(self._read)
            data = handle.read()
        self._read += len(data)
        return data.decode("utf-8", errors="replace")


@pytest.fixture(scope="session")
def listener() -> Iterator[Listener]:
    found = Listener()
    try:
        yield found
    finally:
        found.close()


@contextmanager
def running_gateway(sample_archive: Path, folder: Path) -> Iterator[LoggedServer]:
    """The whole gateway (every door) on the sample archive, in its own process; killed
    after (a gateway frozen by an attack would not stop when asked). Its JavaScript engine
    stops a script after ``HOSTILE_JS_MS``."""
    log = folder / "server.log"
    env = {
        "GATEWAY_DATA_DIR": str(sample_archive),
        "GATEWAY_OUTPUT_DIR": str(folder / "outputs"),
        "GATEWAY_CONFIG_FILE": str(hostile_config_file(folder)),
    }
    server = GatewayServer(env, log).start()
    try:
        yield LoggedServer(server, log)
    finally:
        server.stop(kill=True)


@pytest.fixture(scope="session")
def gateway(sample_archive, tmp_path_factory) -> Iterator[LoggedServer]:
    """One gateway for the hostile tests that do not hold it up on purpose."""
    with running_gateway(sample_archive, tmp_path_factory.mktemp("hostile-gateway")) as server:
        yield server
