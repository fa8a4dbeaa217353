"""How the gateway is served: the uvicorn options of ``cdse-gateway serve``."""

from __future__ import annotations

from typing import Any

from gateway.logs import logging_config

PROTOCOL = "gateway.edge.protocol:ConventionalHeadersProtocol"


def uvicorn_options(log_format: str = "text") -> dict[str, Any]:
    """Conventional header capitalisation and an exact ``Date`` (``protocol``), no
    ``Server: uvicorn`` header, and the gateway's logging in every worker (``gateway.logs``)."""
    return {
        "http": PROTOCOL,
        "server_header": False,
        "date_header": False,
        "log_config": logging_config(log_format),
    }


def uvicorn_flags() -> list[str]:
    """``uvicorn_options`` as ``uvicorn`` command-line flags (benchmarks, process managers)."""
    options = uvicorn_options()
    flags = ["--http", options["http"]]
    flags += [] if options["server_header"] else ["--no-server-header"]
    return flags + ([] if options["date_header"] else ["--no-date-header"])
