"""The gateway's WMS/WMTS door served by uvicorn in a thread, on a free 127.0.0.1 port.

In-process so tests can look at the runtime (its cache, how often the engine computed).
Also: the OGC schemas that ship inside the installed mapproxy package, for validation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from lxml import etree

from gateway.app import create_app
from gateway.runtime import Runtime, build_runtime
from gateway.settings import Settings
from tests.support.ports import free_port

DOORS = ("gateway.ows.mapproxy.door:build_door",)


class LiveServer:
    """``create_app(runtime=...)`` with the WMS/WMTS door (or ``doors``), in a uvicorn thread."""

    def __init__(self, runtime: Runtime, doors: tuple[str, ...] = DOORS) -> None:
        self.runtime = runtime
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(runtime=runtime, doors=doors),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self, timeout: float = 30.0) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the gateway did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=20)


@contextmanager
def live_server(settings: Settings, doors: tuple[str, ...] = DOORS) -> Iterator[LiveServer]:
    """A runtime built from ``settings`` served by a started ``LiveServer`` (with ``doors``),
    closed after."""
    runtime = build_runtime(settings)
    server = LiveServer(runtime, doors).start()
    try:
        yield server
    finally:
        server.stop()
        runtime.close()


class CountingCompute:
    """Wraps ``engine.compute`` of a runtime to count how often pixels were computed."""

    def __init__(self, runtime: Runtime, *, delay_s: float = 0.0) -> None:
        self.runtime = runtime
        self.calls = 0
        self.delay_s = delay_s  # a slower compute, so that concurrent requests overlap
        self._lock = threading.Lock()

    def __enter__(self) -> CountingCompute:
        original: Callable = self.runtime.engine.compute

        def counted(request):
            with self._lock:
                self.calls += 1
            time.sleep(self.delay_s)
            return original(request)

        self.runtime.engine.compute = counted  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        del self.runtime.engine.compute  # back to the class's method


def schema_root() -> Path:
    """The OGC schemas shipped inside the installed mapproxy package (test/schemas)."""
    import mapproxy

    return Path(mapproxy.__file__).parent / "test" / "schemas"


def schema(relative: str) -> etree.XMLSchema:
    """An OGC XSD from ``schema_root()``."""
    return etree.XMLSchema(etree.parse(str(schema_root() / relative)))


def assert_valid(xsd: etree.XMLSchema, content: bytes) -> etree._Element:
    document = etree.fromstring(content)
    assert xsd.validate(document), xsd.error_log.filter_from_errors()[:5]
    return document
