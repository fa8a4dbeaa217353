"""A fresh gateway's first hits: tiles another process rendered into Redis, asked of a worker
that has never seen their requests, by many clients at once (as after a restart, a deploy, or
on a replica for tiles another replica rendered).

    python -m bench.bench_first_hits [--data DIR] [--tiles 200] [--clients 64] [--rounds 3]
                                     [--workers 1] [--before DIR]

This process renders ``--tiles`` WMTS tiles (NDVI, z14 blocks over the sample area) into a
private redis-server with this checkout's tile service. Then, each round, a gateway process
(``gateway.app:create_app`` as ``cdse-gateway serve`` runs it, ``--workers`` uvicorn workers)
is started, asked one other cached tile (its start-up's first request), and asked every one of
the tiles once by ``--clients`` clients at once (keep-alive, bench/load_client.py): latency
of those first hits (each must be a 200 with x-cache: hit), the server's CPU time over them.
``--before DIR`` runs another checkout's ``gateway`` package (e.g. ``git archive`` of an older
commit) in the same rounds, interleaved. Each round first asks the same of the tile service
alone (a fresh runtime in a subprocess, ``--clients`` tasks on its event loop, three times).
It also times, in process, what a worker spends to
resolve one tile request's key (building and validating its render request) against reading
what the request resolved to from its shared mapping.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_load import blocks, data_area, private_view
from bench.bench_tiles import (
    REPO,
    Server,
    cpu_seconds,
    free_port,
    launch,
    rest_path,
    sample_archive,
    start_redis,
    uvicorn,
)
from bench.load_client import Connection

DAYS = ("2025-05-29", "2025-06-03", "2025-06-13", "2025-06-23")
Z = 14
Asked = tuple[str, int, int, int]  # day, z, x, y


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--tiles", type=int, default=200)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--renders", type=int, default=0, help="clients asking uncached tiles meanwhile"
    )
    parser.add_argument("--before", type=Path, default=None, help="another checkout's root")
    parser.add_argument("--in-process", metavar="REDIS_URL", help=argparse.SUPPRESS)
    return parser.parse_args()


def render_tiles(view: Path, redis_url: str, count: int, costs: bool = True) -> list[Asked]:
    """Render whole z14 blocks over the area, day after day, until ``count`` + 1 tiles are
    cached; the tiles."""
    from gateway.core.tiles.grids import TileAddress
    from gateway.core.tiles.service import TileParams
    from gateway.runtime import build_runtime
    from gateway.settings import Settings

    settings = Settings(
        data_dir=view, sample_data=False, redis_url=redis_url, stac_url=None, storage="local"
    )
    runtime = build_runtime(settings)
    tiles: list[Asked] = []
    area = data_area(view)
    try:
        for block in (b for day in DAYS for b in blocks(area, Z, "NDVI", day)):
            if len(tiles) > count:
                break
            for z, x, y in block.tiles:
                address = TileAddress("NDVI", "WebMercatorQuad", z, x, y, "png")
                runtime.tiles.render(address, TileParams(time=block.day))
                tiles.append((block.day, z, x, y))
        if costs:
            resolve_costs(runtime, tiles)
    finally:
        runtime.close()
    return tiles[: count + 1]


def resolve_costs(runtime, tiles: list[Asked]) -> None:
    """CPU per tile request: its key resolved (request built, validated, key, units, warning)
    against its shared mapping's name and value read back (no Redis round trip counted)."""
    from gateway.core.tiles.grids import TileAddress
    from gateway.core.tiles.service import TileParams

    service = runtime.tiles
    asked = [
        (TileAddress("NDVI", "WebMercatorQuad", z, x, y, "png"), TileParams(time=day))
        for day, z, x, y in tiles
    ]
    values = [service._shared.encode(service._known(service.request(*a))) for a in asked]

    def resolved() -> None:
        for a in asked:
            service._known(service.request(*a))

    def shared() -> None:
        for (address, params), value in zip(asked, values, strict=True):
            service._shared.name((address, params), address.layer)
            service._shared.decode(value)

    for name, run in (("resolved (request built)", resolved), ("shared mapping", shared)):
        times = []
        for _ in range(5):
            started = time.process_time()
            run()
            times.append((time.process_time() - started) / len(asked) * 1e6)
        print(f"  {name:26} {statistics.median(times):7.0f} µs CPU a tile request")


async def first_hits(
    server: Server, paths: list[str], clients: int, uncached: list[str] | None = None, busy: int = 0
) -> tuple[list[float], float]:
    """Every path once from ``clients`` clients at once (while ``busy`` other clients ask
    ``uncached`` tiles, one after another): latencies (ms), server CPU seconds."""
    queue = list(reversed(paths))
    latencies: list[float] = []
    renders = uncached if uncached is not None else []  # popped: each rendered once

    async def render() -> None:
        connection = Connection("127.0.0.1", server.port)
        try:
            while queue and renders:
                answer = await connection.get(renders.pop())
                assert answer.status == 200, (answer.status, answer.body[:200])
        finally:
            await connection.close()

    busy_tasks = [asyncio.create_task(render()) for _ in range(busy)]
    if busy:
        await asyncio.sleep(0.5)  # the renders under way

    connections = [Connection("127.0.0.1", server.port) for _ in range(clients)]
    # Connected first (a /healthz each, not timed): new connections all at once cost up to
    # ~100 ms by themselves here, hits whose keys are known too.
    await asyncio.gather(*(c.get("/healthz") for c in connections))
    cpu = cpu_seconds(server.process.pid)

    async def client(connection: Connection) -> None:
        try:
            while queue:
                path = queue.pop()
                started = time.monotonic()
                answer = await connection.get(path)
                latencies.append((time.monotonic() - started) * 1000)
                assert answer.status == 200, (path, answer.status, answer.body[:200])
                assert answer.headers.get(b"x-cache") == b"hit", (path, answer.headers)
        finally:
            await connection.close()

    await asyncio.gather(*(client(c) for c in connections))
    cpu = cpu_seconds(server.process.pid) - cpu
    await asyncio.gather(*busy_tasks)
    return latencies, cpu


def uncached_paths(tiles: list[Asked]) -> list[str]:
    """One tile of each block of ``tiles`` in other layers (nobody rendered them)."""
    firsts = {(day, z, x - x % 4, y - y % 4): (day, z, x, y) for day, z, x, y in tiles}
    layers = ("TRUE_COLOR", "FALSE_COLOR", "NDWI", "NDMI", "EVI", "SAVI", "SCL")
    return [
        rest_path((z, x, y), day, layer)
        for layer in reversed(layers)
        for day, z, x, y in firsts.values()
    ]


def gateway(checkout: Path, workers: int, view: Path, redis_url: str, servers: list) -> Server:
    env = {
        "PYTHONPATH": str(checkout),
        "GATEWAY_DATA_DIR": str(view),
        "GATEWAY_SAMPLE_DATA": "false",
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_STAC_URL": "",
        "GDAL_CACHEMAX": "256",
        "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="bench-first-hits-metrics-"),
    }
    from gateway.edge.server import uvicorn_flags

    port = free_port()
    command = uvicorn("gateway.app:create_app", port, workers) + uvicorn_flags()
    # ``python -m`` puts its working directory (this checkout) first on the path: the app's
    # own folder goes before it.
    command += ["--app-dir", str(checkout)]
    return launch(servers, Server("gateway", command, port, env), "/healthz")


def in_process(view: Path, redis_url: str, tiles: list[Asked], clients: int) -> None:
    """The tile service alone (no HTTP), in this process with the ``gateway`` package on its
    path: a fresh runtime (a new worker) asked every tile once by ``clients`` tasks on its
    event loop (after one other tile), then again; CPU a tile and latencies, three times. Its
    connections for hits are opened first where the checkout does so at a worker's start."""
    from gateway.core.tiles.grids import TileAddress
    from gateway.core.tiles.service import TileParams
    from gateway.runtime import build_runtime
    from gateway.settings import Settings

    settings = Settings(
        data_dir=view, sample_data=False, redis_url=redis_url, stac_url=None, storage="local"
    )
    asked = [
        (TileAddress("NDVI", "WebMercatorQuad", z, x, y, "png"), TileParams(time=day))
        for day, z, x, y in tiles
    ]

    async def ask(runtime, addresses) -> tuple[list[float], float]:
        queue, latencies = list(addresses), []
        cpu = time.process_time()

        async def client() -> None:
            while queue:
                started = time.perf_counter()
                tile = await runtime.tiles.tile(*queue.pop())
                assert tile.cached
                latencies.append((time.perf_counter() - started) * 1000)

        await asyncio.gather(*(client() for _ in range(clients)))
        return latencies, (time.process_time() - cpu) / len(addresses) * 1e6

    async def measure(runtime) -> None:
        opening = getattr(runtime.tiles, "open_hits", None)  # as a worker's start-up does
        if opening is not None:
            await opening(settings.hit_connections)
        await runtime.tiles.tile(*asked[-1])
        for label in ("first", "again"):
            latencies, cpu = await ask(runtime, asked[:-1])
            print(f"  {label:5} {summary(latencies)}  {cpu:4.0f} µs CPU a tile", flush=True)

    import gateway

    print(f"  ({Path(gateway.__file__).parent})")
    for _ in range(3):
        runtime = build_runtime(settings)
        runtime.times.summary("sentinel-2-l2a")  # listed, as at a worker's start-up
        try:
            asyncio.run(measure(runtime))
        finally:
            runtime.close()


def summary(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    over = sum(1 for v in ordered if v > 50)
    return (
        f"p50 {p(0.5):6.1f}  p90 {p(0.9):6.1f}  p99 {p(0.99):6.1f}  max {ordered[-1]:6.1f} ms"
        f"  over 50 ms: {over}/{len(ordered)}"
    )


def main() -> None:
    args = parse_args()
    if args.in_process:
        view = args.data
        tiles = render_tiles(view, args.in_process, args.tiles, costs=False)
        in_process(view, args.in_process, tiles, args.clients)
        return
    # Never sample_archive(DIR): it empties DIR's COG copies (others may be reading them).
    archive = args.data if args.data is not None else sample_archive(None)
    view = private_view(archive)
    redis_port = free_port()
    redis_server = start_redis(redis_port)
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    servers: list[Server] = []
    variants = [("this checkout", REPO)] + ([("before", args.before)] if args.before else [])
    try:
        time.sleep(0.5)
        print(f"rendering the tiles (z{Z}, NDVI) in this process:")
        tiles = render_tiles(view, redis_url, args.tiles)
        paths = [rest_path((z, x, y), day) for day, z, x, y in tiles]
        warm, asked = paths[-1], paths[:-1]
        uncached = uncached_paths(tiles)
        print(
            f"{len(asked)} tiles, {args.clients} clients, {args.workers} worker(s) a gateway,"
            f" {args.renders} clients asking uncached tiles meanwhile"
        )
        for round_ in range(args.rounds):
            order = variants if round_ % 2 == 0 else list(reversed(variants))
            for name, checkout in order:
                print(f"round {round_ + 1} {name}, the tile service alone (no HTTP):", flush=True)
                command = [sys.executable, "-m", "bench.bench_first_hits", "--data", str(view)]
                command += ["--tiles", str(args.tiles), "--clients", str(args.clients)]
                subprocess.run(
                    [*command, "--in-process", redis_url],
                    env={**os.environ, "PYTHONPATH": f"{checkout}:{REPO}"},
                    cwd=checkout,  # first on the path of ``python -m``
                    check=True,
                )
                server = gateway(checkout, args.workers, view, redis_url, servers)
                try:
                    asyncio.run(first_hits(server, [warm] * args.workers, 1))
                    started = time.monotonic()
                    latencies, cpu = asyncio.run(
                        first_hits(server, asked, args.clients, uncached, args.renders)
                    )
                    wall = time.monotonic() - started
                    again, _ = asyncio.run(first_hits(server, asked, args.clients))
                finally:
                    server.stop()
                    servers.remove(server)
                print(
                    f"round {round_ + 1} {name:14} {summary(latencies)}"
                    f"  all in {wall:5.2f} s, server CPU {cpu:5.2f} s"
                )
                print(f"        the same again: {summary(again)}")
    finally:
        for server in servers:
            server.stop()
        redis_server.terminate()
        redis_server.wait(timeout=20)


if __name__ == "__main__":
    main()
