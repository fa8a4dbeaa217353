"""The gateway served by uvicorn in a child process on a free 127.0.0.1 port (for OGC API tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.redis_server import free_port

REPO = Path(__file__).resolve().parents[2]


class GatewayServer:
    """``uvicorn gateway.app:create_app --factory`` with GATEWAY_* settings from ``env``
    (``cli``: served as ``cdse-gateway serve`` serves it, one process)."""

    def __init__(self, env: dict[str, str], log: Path, *, cli: bool = False) -> None:
        self.cli = cli
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "GATEWAY_SAMPLE_DATA": "false",
            "GATEWAY_PUBLIC_URL": self.url,
            **env,
        }
        self.env.pop("AWS_S3_ENDPOINT", None)
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> GatewayServer:
        command = [
            sys.executable, "-m", "uvicorn", "gateway.app:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
        ]  # fmt: skip
        if self.cli:
            command = [
                sys.executable, "-m", "gateway.cli", "serve",
                "--host", "127.0.0.1", "--port", str(self.port),
            ]  # fmt: skip
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command, env=self.env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT
            )
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

    def stop(self, kill: bool = False) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
