"""The gateway's WCS and WFS doors served by uvicorn in a thread on a free 127.0.0.1 port."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from gateway.app import create_app
from gateway.settings import Settings
from tests.support.ports import free_port

OWS_DOORS = ("gateway.ows.wcs.door:build_door", "gateway.ows.wfs.door:build_door")


@contextmanager
def live_gateway(settings: Settings, doors: tuple[str, ...] = OWS_DOORS) -> Iterator[str]:
    """``create_app(settings)`` with ``doors`` on a real socket; yields its base URL."""
    port = free_port()
    app = create_app(settings, doors=doors)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the gateway did not start")
        time.sleep(0.1)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=20)
