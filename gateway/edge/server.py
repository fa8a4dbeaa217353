"""How the gateway is served: the uvicorn options of ``cdse-gateway serve``."""

from __future__ import annotations

from typing import Any

PROTOCOL = "gateway.edge.protocol:ConventionalHeadersProtocol"


def uvicorn_options() -> dict[str, Any]:
    """Conventional header capitalisation and an exact ``Date`` (``protocol``), and no
    ``Server: uvicorn`` header."""
    return {"http": PROTOCOL, "server_header": False, "date_header": False}


def uvicorn_flags() -> list[str]:
    """``uvicorn_options`` as ``uvicorn`` command-line flags (benchmarks, process managers)."""
    options = uvicorn_options()
    flags = ["--http", options["http"]]
    flags += [] if options["server_header"] else ["--no-server-header"]
    return flags + ([] if options["date_header"] else ["--no-date-header"])
