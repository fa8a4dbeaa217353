"""How the gateway is served: the uvicorn options of ``cdse-gateway serve``."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from gateway.logs import logging_config
from gateway.settings import Settings

PROTOCOL = "gateway.edge.protocol:ConventionalHeadersProtocol"
# ``serve`` writes its process's start (``time.time()`` seconds) here for its workers.
STARTED_AT = "GATEWAY_STARTED_AT"


def process_started_at() -> float:
    """``time.time()`` at which this process started (Linux's ``/proc``; elsewhere now)."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # starttime: clock ticks after boot
        age_s = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return time.time()
    return time.time() - max(age_s, 0.0)


def started_at() -> float:
    """When the gateway started: the ``serve`` command's process start, which it hands its
    workers in ``GATEWAY_STARTED_AT``; else now (an app made by another server or a test)."""
    try:
        return float(os.environ[STARTED_AT])
    except (KeyError, ValueError):
        return time.time()


def uvicorn_options(settings: Settings | None = None) -> dict[str, Any]:
    """Conventional header capitalisation and an exact ``Date`` (``protocol``), no
    ``Server: uvicorn`` header, the gateway's logging in every worker (``gateway.logs``), and a
    graceful shutdown: on SIGTERM no new connection, the requests in flight get
    ``shutdown_timeout_s`` to end."""
    settings = settings or Settings()
    return {
        "http": PROTOCOL,
        "server_header": False,
        "date_header": False,
        "log_config": logging_config(settings.log_format),
        "timeout_graceful_shutdown": settings.shutdown_timeout_s,
    }


def uvicorn_flags() -> list[str]:
    """``uvicorn_options`` as ``uvicorn`` command-line flags (benchmarks, process managers)."""
    options = uvicorn_options()
    flags = ["--http", options["http"]]
    flags += [] if options["server_header"] else ["--no-server-header"]
    flags += ["--timeout-graceful-shutdown", str(options["timeout_graceful_shutdown"])]
    return flags + ([] if options["date_header"] else ["--no-date-header"])
