"""The gateway served by uvicorn in a child process on a free 127.0.0.1 port (for OGC API tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]


class GatewayServer:
    """``uvicorn gateway.app:create_app --factory`` with GATEWAY_* settings from ``env``.

    ``public_url=False`` leaves ``GATEWAY_PUBLIC_URL`` unset (links follow each request's
    address); ``serve_options`` (a list, possibly empty) runs ``cdse-gateway serve`` with
    those options instead, as a deployment does.
    """

    def __init__(
        self,
        env: dict[str, str],
        log: Path,
        *,
        public_url: bool = True,
        serve_options: list[str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "GATEWAY_SAMPLE_DATA": "false", "GATEWAY_PUBLIC_URL": self.url}
        if not public_url:
            self.env.pop("GATEWAY_PUBLIC_URL")
        self.env.update(env)
        self.env.pop("AWS_S3_ENDPOINT", None)
        self.log = log
        self.serve_options = serve_options
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> GatewayServer:
        """Launch the process and wait until it answers ``/healthz``."""
        return self.launch().ready(timeout)

    def launch(self) -> GatewayServer:
        """Start the process without waiting for it (``ready`` waits)."""
        command = [
            sys.executable, "-m", "uvicorn", "gateway.app:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
        ]  # fmt: skip
        if self.serve_options is not None:
            command = [
                sys.executable, "-m", "gateway.cli", "serve",
                "--host", "127.0.0.1", "--port", str(self.port), *self.serve_options,
            ]  # fmt: skip
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command, env=self.env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT
            )
        return self

    def ready(self, timeout: float = 60.0) -> GatewayServer:
        """Wait until the launched process answers ``/healthz`` (an error if it exits)."""
        assert self.process is not None, "launch() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("gateway did not start")

    def log_offset(self) -> int:
        """Where the server's log ends now (for ``log_since``)."""
        return self.log.stat().st_size if self.log.exists() else 0

    def log_since(self, offset: int) -> str:
        """What the server logged after ``offset``."""
        with self.log.open("rb") as out:
            out.seek(offset)
            return out.read().decode("utf-8", "replace")

    def stop(self, kill: bool = False) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_together(servers: list[GatewayServer], timeout: float = 120.0) -> list[GatewayServer]:
    """Launch every server at once, then wait for each (their start-ups overlap); on an
    error, every one launched is stopped."""
    try:
        for server in servers:
            server.launch()
        for server in servers:
            server.ready(timeout)
    except BaseException:
        for server in servers:
            server.stop(kill=True)
        raise
    return servers


@contextmanager
def deployed(
    sample_archive: Path, folder: Path, config_file: Path | None = None
) -> Iterator[GatewayServer]:
    """``cdse-gateway serve`` on the sample archive as a deployment runs it: a free port, no
    ``GATEWAY_PUBLIC_URL``, INFO logging; its outputs and log in ``folder``; the default
    configuration unless ``config_file``."""
    env = {"GATEWAY_DATA_DIR": str(sample_archive), "GATEWAY_OUTPUT_DIR": str(folder / "out")}
    if config_file is not None:
        env["GATEWAY_CONFIG_FILE"] = str(config_file)
    server = GatewayServer(env, folder / "server.log", public_url=False, serve_options=[])
    try:
        yield server.start()
    finally:
        server.stop()
