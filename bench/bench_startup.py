"""Cold start-up: ``cdse-gateway serve`` from process start to ready, and to each door's first
capabilities answer, beside a bare uvicorn ASGI app's start-up (the floor any ASGI server
pays: interpreter, uvicorn, a socket) from the same run.

Each start is a fresh process (``python -m gateway.cli serve``, as the command runs it, one
worker) on the sample archive; ``/readyz`` is polled from the moment the process is spawned
until it answers 200 (ready), then one door's capabilities document is asked for, once: WMS,
WMTS, WCS, WFS GetCapabilities and OGC API ``/collections``. Each door gets ``--starts``
starts of its own (its first answer is a cold one only once per process); the table prints
medians, and min–max.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DOORS = {
    "WMS GetCapabilities": "/wms?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0",
    "WMTS GetCapabilities": "/wmts?SERVICE=WMTS&REQUEST=GetCapabilities",
    "WCS GetCapabilities": "/wcs?SERVICE=WCS&REQUEST=GetCapabilities&VERSION=2.0.1",
    "WFS GetCapabilities": "/wfs?SERVICE=WFS&REQUEST=GetCapabilities&VERSION=2.0.0",
    "OGC API collections": "/ogcapi/collections?f=json",
}
POLL_S = 0.02


def bare_app():
    """The comparison: an ASGI app answering 200 to everything (``uvicorn --factory``)."""

    async def app(scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


def start(command: list[str], env: dict[str, str], path: str | None) -> tuple[float, float]:
    """Spawn ``command``; seconds until ``/readyz`` answers 200, and until ``path`` answers
    (after ready; the same figure without a path). The process is stopped afterwards."""
    import httpx

    from bench.bench_tiles import REPO

    port = command[command.index("--port") + 1]
    url = f"http://127.0.0.1:{port}"
    log = Path(tempfile.gettempdir()) / f"bench-startup-{port}.log"
    with log.open("wb") as out, httpx.Client(timeout=120) as client:
        spawned = time.monotonic()
        process = subprocess.Popen(
            command, env={**os.environ, **env}, cwd=REPO, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"exited: {log.read_text()[-2000:]}")
                try:
                    if client.get(url + "/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(POLL_S)
            ready = time.monotonic() - spawned
            if path is None:
                return ready, ready
            answer = client.get(url + path)
            answered = time.monotonic() - spawned
            if answer.status_code != 200 or len(answer.content) < 200:
                raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:300]}")
            return ready, answered
        finally:
            process.terminate()
            process.wait(timeout=30)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} s ({min(values):.2f}–{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, help="a sample archive (else a temporary one)")
    parser.add_argument("--starts", type=int, default=5, help="starts per door")
    args = parser.parse_args()
    from bench.bench_tiles import free_port, sample_archive, uvicorn

    data = args.data or sample_archive(None)
    env = {"GATEWAY_DATA_DIR": str(data)}
    bare: list[float] = []
    ready: list[float] = []
    first: dict[str, list[float]] = {door: [] for door in DOORS}
    for _ in range(args.starts):  # interleaved: a busy spell of the machine slows all alike
        command = uvicorn("bench.bench_startup:bare_app", free_port(), 1)
        bare.append(start(command, {}, None)[0])
        for door, path in DOORS.items():
            port = str(free_port())
            command = [sys.executable, "-m", "gateway.cli", "serve", "--port", port]
            up, answered = start(command, env, path)
            ready.append(up)
            first[door].append(answered)
    print(f"\n{args.starts} starts per door (median, min–max); from process spawn")
    print(f"{'':34} {'gateway':>26}   {'bare uvicorn ASGI app':>26}")
    print(f"{'ready (/readyz 200)':34} {spread(ready):>26}   {spread(bare):>26}")
    for door, times in first.items():
        print(f"{'first ' + door:34} {spread(times):>26}")


if __name__ == "__main__":
    main()
