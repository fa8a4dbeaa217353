"""Cold start-up: ``cdse-gateway serve`` from process start to ready, and to each door's first
capabilities answer, beside a bare uvicorn ASGI app's start-up (the floor any ASGI server
pays: interpreter, uvicorn, a socket) from the same run.

Each start is a fresh process (``python -m gateway.cli serve``, as the command runs it, one
worker) on the sample archive; ``/readyz`` is polled from the moment the process is spawned
until it answers 200 (ready), then one door's capabilities document is asked for, once: WMS,
WMTS, WCS, WFS GetCapabilities and OGC API ``/collections``. Each door gets ``--starts``
starts of its own (its first answer is a cold one only once per process); the table prints
medians, and min–max. ``--compare DIR`` starts the gateway of another checkout too (e.g.
``git archive <commit> | tar -x -C DIR``), interleaved with this one's, in a third column.
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


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(
    command: list[str], env: dict[str, str], path: str | None, root: Path | None = None
) -> tuple[float, float, float]:
    """Spawn ``command`` in ``root`` (default: this checkout); seconds until ``/readyz``
    answers 200, until ``path`` answers (after ready; the same figure without a path), and
    the CPU seconds the process used until ready (a loaded machine stretches the wall clock,
    less so this). The process is stopped afterwards."""
    import httpx

    from bench.bench_tiles import REPO

    port = command[command.index("--port") + 1]
    url = f"http://127.0.0.1:{port}"
    log = Path(tempfile.gettempdir()) / f"bench-startup-{port}.log"
    with log.open("wb") as out, httpx.Client(timeout=120) as client:
        spawned = time.monotonic()
        process = subprocess.Popen(
            command,
            env={**os.environ, **env},
            cwd=root or REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
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
            cpu = cpu_s(process.pid)
            if path is None:
                return ready, ready, cpu
            answer = client.get(url + path)
            answered = time.monotonic() - spawned
            if answer.status_code != 200 or len(answer.content) < 200:
                raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:300]}")
            return ready, answered, cpu
        finally:
            process.terminate()
            process.wait(timeout=30)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} s ({min(values):.2f}–{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, help="a sample archive (else a temporary one)")
    parser.add_argument("--starts", type=int, default=5, help="starts per door")
    parser.add_argument("--compare", type=Path, help="another checkout's gateway, interleaved")
    args = parser.parse_args()
    from bench.bench_tiles import REPO, free_port, sample_archive, uvicorn

    data = args.data or sample_archive(None)
    roots = [REPO, *([args.compare.resolve()] if args.compare else [])]
    bare: list[float] = []
    bare_cpu: list[float] = []
    ready: dict[Path, list[float]] = {root: [] for root in roots}
    cpu: dict[Path, list[float]] = {root: [] for root in roots}
    first: dict[tuple[Path, str], list[float]] = {
        (root, door): [] for root in roots for door in DOORS
    }
    for _ in range(args.starts):  # interleaved: a busy spell of the machine slows all alike
        command = uvicorn("bench.bench_startup:bare_app", free_port(), 1)
        up, _, used = start(command, {}, None)
        bare.append(up)
        bare_cpu.append(used)
        for door, path in DOORS.items():
            for root in roots:
                env = {"GATEWAY_DATA_DIR": str(data), "PYTHONPATH": str(root)}
                port = str(free_port())
                command = [sys.executable, "-m", "gateway.cli", "serve", "--port", port]
                up, answered, used = start(command, env, path, root)
                ready[root].append(up)
                cpu[root].append(used)
                first[root, door].append(answered)
    print(f"\n{args.starts} starts per door (median, min–max); from process spawn")
    names = ["gateway", *([f"gateway of {args.compare}"] if args.compare else [])]
    print(f"{'':34}" + "".join(f" {name:>26}  " for name in names) + " bare uvicorn ASGI app")
    row = "".join(f" {spread(ready[root]):>26}  " for root in roots)
    print(f"{'ready (/readyz 200)':34}{row} {spread(bare)}")
    row = "".join(f" {spread(cpu[root]):>26}  " for root in roots)
    print(f"{'CPU until ready':34}{row} {spread(bare_cpu)}")
    for door in DOORS:
        row = "".join(f" {spread(first[root, door]):>26}  " for root in roots)
        print(f"{'first ' + door:34}{row}")


if __name__ == "__main__":
    main()
