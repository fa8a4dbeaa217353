"""How the gateway is served: the uvicorn options of ``cdse-gateway serve``."""

from __future__ import annotations

from typing import Any

from gateway.logs import logging_config
from gateway.settings import Settings

PROTOCOL = "gateway.edge.protocol:ConventionalHeadersProtocol"


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
