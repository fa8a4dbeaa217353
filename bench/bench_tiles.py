"""WMTS tile throughput over HTTP with wrk: cached (Redis) and uncached NDVI, side by side.

    python -m bench.bench_tiles [--data DIR] [--workers 2] [--duration 10] [--titiler-venv DIR]

Servers, each with the same number of uvicorn workers, on 127.0.0.1:

- gateway: the WMS/WMTS door (``create_app`` with that door only), tiles cached in Redis;
- floor: a bare ASGI app returning the same tile's bytes from the same Redis key
  (bench/floor_app.py): what any Python cached-tile path costs at least;
- TiTiler (``titiler.application`` from its own venv, ``--titiler-venv``; skipped when absent)
  on the same pixels as a COG: B04 and B08 reflectance of T31UFU on 2025-06-13, NDVI by
  ``expression`` with a colour map.

Cached: one tile, warmed first, asked over and over. Uncached: distinct z14-z16 tiles over
the part of the sample area where T31UFU alone has data, each asked once (Redis is flushed
first), TIME=2025-06-13: cold (no COG copies of the hot JPEG 2000 files yet, they are made
during the run), then again after a flush with the copies made. The gateway's NDVI layer also
reads SCL (20 m) to mask clouds and searches the catalog per tile; TiTiler reads one 2-band COG
made before its run, bilinear like the gateway. Server CPU per tile is given too: it holds
when other jobs load the machine, requests per second do not. ``--metatiles`` also times, in
process, 2x2 blocks of z15 tiles rendered one by one against one 512 px metatile cut in four.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import morecantile
import numpy as np
import rasterio

from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[1]
AREA = (5.93, 52.575, 6.05, 52.665)  # lon/lat: T31UFU only
DAY = "2025-06-13"
CACHED_TILE = (12, 2116, 1341)
NDVI_DN = "(b2-b1)/(b2+b1)"


def gateway_app():
    """The gateway with its WMS/WMTS door only (uvicorn factory)."""
    from gateway.app import create_app

    return create_app(doors=("gateway.ows.mapproxy.door:build_door",))


class Server:
    """A child process listening on a port, stopped by its own process id."""

    def __init__(self, name: str, command: list[str], port: int, env: dict[str, str]) -> None:
        self.name, self.port = name, port
        self.log = Path(tempfile.gettempdir()) / f"bench-{name}-{port}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                command, env={**os.environ, **env}, cwd=REPO, stdout=out, stderr=subprocess.STDOUT
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait(self, path: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + path, timeout=30).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} did not start")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def uvicorn(target: str, port: int, workers: int, *, python: str = sys.executable, factory=True):
    command = [python, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    return command + (["--factory"] if factory else [])


@dataclass
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    cpu_ms: float | None = None  # server CPU time (all its processes) per request


def _proc_stats() -> dict[int, list[str]]:
    """Every process's ``/proc/<pid>/stat`` fields after its command name, by process id."""
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stats[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
    return stats


def process_tree(pid: int, stats: dict[int, list[str]] | None = None) -> set[int]:
    """Process ``pid`` and its descendants (from ``stats``, else ``/proc`` now)."""
    parents = {child: int(fields[1]) for child, fields in (stats or _proc_stats()).items()}
    tree, grew = {pid}, True
    while grew:
        grew = False
        for child, parent in parents.items():
            if parent in tree and child not in tree:
                tree.add(child)
                grew = True
    return tree


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` and its descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats = _proc_stats()
    tree = process_tree(pid, stats)
    return sum((int(stats[p][11]) + int(stats[p][12])) / ticks for p in tree if p in stats)


def with_cpu(server: Server, measure) -> WrkResult:
    """``measure()``'s result with the server's CPU time per request added (robust to other
    load on the machine, unlike requests per second)."""
    before = cpu_seconds(server.process.pid)
    result = measure()
    used = cpu_seconds(server.process.pid) - before
    result.cpu_ms = 1000 * used / max(result.requests, 1)
    return result


def median(results: list[WrkResult]) -> WrkResult:
    """The run with the median rate (its latencies kept with it)."""
    return sorted(results, key=lambda r: r.requests_per_s)[len(results) // 2]


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    value, unit = match.groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4, "h": 3.6e6}[unit]


LUA = """
local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do paths[#paths + 1] = line end
local nthreads = tonumber(os.getenv("BENCH_THREADS"))
local counter = 0
local next_id = 0
function setup(thread) thread:set("id", next_id); next_id = next_id + 1 end
request = function()
  local i = (counter * nthreads + id) % #paths + 1
  counter = counter + 1
  return wrk.format("GET", paths[i])
end
"""


def wrk(url: str, *, duration: int, connections: int, threads: int = 2, paths=None) -> WrkResult:
    """Run wrk against ``url`` (or its ``paths``, each once per pass) and parse its report."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    env = dict(os.environ)
    if paths is not None:
        folder = Path(tempfile.mkdtemp(prefix="bench-wrk-"))
        (folder / "paths.txt").write_text("\n".join(paths) + "\n")
        (folder / "paths.lua").write_text(LUA)
        env.update(BENCH_PATHS=str(folder / "paths.txt"), BENCH_THREADS=str(threads))
        command += ["-s", str(folder / "paths.lua")]
    output = subprocess.run([*command, url], capture_output=True, text=True, env=env).stdout
    rate = float(_found(r"Requests/sec:\s+([\d.]+)", output))
    total = int(_found(r"(\d+) requests in", output))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    p50 = _ms(_found(r"^\s+50%\s+(\S+)", output, re.M))
    p99 = _ms(_found(r"^\s+99%\s+(\S+)", output, re.M))
    return WrkResult(rate, p50, p99, int(errors.group(1)) if errors else 0, total)


def _found(pattern: str, output: str, flags: int = 0) -> str:
    """The first group of ``pattern`` in wrk's report (which must hold it)."""
    match = re.search(pattern, output, flags)
    if match is None:
        raise ValueError(f"no {pattern!r} in wrk's report:\n{output}")
    return match.group(1)


def each_once(base: str, paths: list[str], *, connections: int = 4) -> WrkResult:
    """Ask every path exactly once over ``connections`` keep-alive connections (no repeats:
    wrk would start the list again, and a second pass would be answered from the cache)."""
    import asyncio

    async def run() -> tuple[float, list[float], int]:
        queue = list(reversed(paths))
        latencies: list[float] = []
        failures = 0
        limits = httpx.Limits(max_connections=connections)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client:

            async def worker() -> None:
                nonlocal failures
                while queue:
                    path = queue.pop()
                    start = time.perf_counter()
                    response = await client.get(path)
                    latencies.append(time.perf_counter() - start)
                    failures += response.status_code >= 400

            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(connections)))
            return time.perf_counter() - start, latencies, failures

    wall, latencies, failures = asyncio.run(run())
    ms = sorted(1000 * x for x in latencies)
    return WrkResult(
        len(paths) / wall, ms[len(ms) // 2], ms[min(len(ms) - 1, int(len(ms) * 0.99))],
        failures, len(paths),
    )  # fmt: skip


def uncached_tiles(zooms=range(14, 17)) -> list[tuple[int, int, int]]:
    tms = morecantile.tms.get("WebMercatorQuad")
    tiles = [(t.z, t.x, t.y) for t in tms.tiles(*AREA, zooms)]
    return [t for t in tiles if _inside(tms.bounds(morecantile.Tile(t[1], t[2], t[0])))]


def _inside(bounds) -> bool:
    return (
        bounds.left >= AREA[0]
        and bounds.right <= AREA[2]
        and bounds.bottom >= AREA[1]
        and bounds.top <= AREA[3]
    )


def write_cog(archive: Path, target: Path) -> None:
    """B04 and B08 of T31UFU on DAY as a 2-band float32 reflectance COG (nodata NaN)."""
    from tests.support.expected import load_items, read_band

    item = next(
        i
        for i in load_items(archive, "sentinel-2-l2a")
        if i["properties"]["grid:code"] == "MGRS-31UFU"
        and i["properties"]["datetime"].startswith(DAY)
    )
    red, nir = (read_band(archive, item, key) for key in ("B04_10m", "B08_10m"))
    data = np.stack([red.values, nir.values]).astype("float32")
    profile = {
        "driver": "COG", "width": data.shape[2], "height": data.shape[1], "count": 2,
        "dtype": "float32", "crs": red.crs, "transform": red.transform, "nodata": float("nan"),
        "compress": "deflate", "blocksize": 512, "overview_resampling": "average",
    }  # fmt: skip
    with rasterio.open(target, "w", **profile) as dst:
        dst.write(data)


def tile_key(settings, tile: tuple[int, int, int], params: dict[str, str]) -> str:
    """The gateway's Redis key of one WMTS tile, computed as the door does."""
    from gateway.core.cache import make_key
    from gateway.core.tiles.grids import TileAddress
    from gateway.ows.mapproxy.wmts import tile_params
    from gateway.runtime import build_runtime

    runtime = build_runtime(settings)
    z, x, y = tile
    address = TileAddress("NDVI", "WebMercatorQuad", z, x, y, "png")
    request = runtime.tiles.request(address, tile_params(params))
    runtime.close()
    return make_key("map", request.cache_parts())


def metatile_timings(settings, blocks: int = 6) -> tuple[float, float]:
    """Seconds per 256 px tile: rendered one by one, and cut from 512 px metatiles (2x2)."""
    from gateway.core.render import colorize, encode_image
    from gateway.core.request import build_request
    from gateway.runtime import build_runtime

    runtime = build_runtime(settings)
    runtime.engine.cache = None
    style = runtime.config.style("ndvi")
    assert style is not None  # a style of config/styles.yaml
    tms = morecantile.tms.get("WebMercatorQuad")
    corners = [t for t in uncached_tiles(range(15, 16)) if t[1] % 2 == 0 and t[2] % 2 == 0][:blocks]

    def request(bounds, size):
        return build_request(
            runtime.config,
            layer="NDVI",
            bbox=bounds,
            crs="EPSG:3857",
            width=size,
            height=size,
            time=DAY,
        )

    single, meta = [], []
    for z, x, y in corners:
        start = time.perf_counter()
        for dx in (0, 1):
            for dy in (0, 1):
                tile = morecantile.Tile(x + dx, y + dy, z)
                runtime.engine.render(request(tuple(tms.xy_bounds(tile)), 256))
        single.append((time.perf_counter() - start) / 4)
        start = time.perf_counter()
        west, south = tms.xy_bounds(morecantile.Tile(x, y + 1, z))[:2]
        east, north = tms.xy_bounds(morecantile.Tile(x + 1, y, z))[2:]
        raster = runtime.engine.compute(request((west, south, east, north), 512))
        for row in (0, 256):
            for col in (0, 256):
                part = raster.data[:, row : row + 256, col : col + 256]
                valid = raster.valid[row : row + 256, col : col + 256]
                encode_image(colorize(part, valid, style), "png")
        meta.append((time.perf_counter() - start) / 4)
    runtime.close()
    return statistics.median(single), statistics.median(meta)


Row = tuple[str, WrkResult]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, help="a sample archive (written to a temp dir if absent)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--titiler-venv", type=Path, default=Path("/tmp/titiler-venv"))
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the cached cases")
    parser.add_argument("--metatiles", action="store_true")
    parser.add_argument("--skip-cached", action="store_true", help="uncached cases only")
    return parser.parse_args()


def sample_archive(data: Path | None) -> Path:
    """``data``, or the small sample archive written to a temporary folder; without COG copies
    of hot JPEG 2000 files from an earlier run (a cold start)."""
    if data is None:
        from gateway.sample import write_sample_archive

        data = Path(tempfile.mkdtemp(prefix="bench-sample-"))
        write_sample_archive(data, "small")
    shutil.rmtree(Path(data) / "cog-cache", ignore_errors=True)
    return data


def start_redis(port: int) -> subprocess.Popen:
    """A redis-server on 127.0.0.1:``port`` that writes nothing to disk."""
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--save", "", "--appendonly", "no"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL)


def flush_redis(port: int) -> None:
    subprocess.run(["redis-cli", "-p", str(port), "FLUSHALL"], capture_output=True, check=True)


def launch(servers: list[Server], server: Server, ready_path: str) -> Server:
    """``server``, listed in ``servers`` (to be stopped) and waited for until it answers."""
    servers.append(server)
    server.wait(ready_path)
    return server


def rest_path(tile: tuple[int, int, int], day: str = DAY, layer: str = "NDVI") -> str:
    z, x, y = tile
    return f"/wmts/1.0.0/{layer}/WebMercatorQuad/{day}/{z}/{x}/{y}.png"


def kvp_path(tile: tuple[int, int, int]) -> str:
    z, x, y = tile
    return (
        "/wmts?SERVICE=WMTS&REQUEST=GetTile&LAYER=NDVI&TILEMATRIXSET=WebMercatorQuad"
        f"&TILEMATRIX={z}&TILECOL={x}&TILEROW={y}&FORMAT=image/png&TIME={DAY}"
    )


@dataclass
class TiTiler:
    """A TiTiler server and the query that makes NDVI tiles of the bench's COG."""

    server: Server
    query: str

    def tile_path(self, tile: tuple[int, int, int]) -> str:
        z, x, y = tile
        return f"/cog/tiles/WebMercatorQuad/{z}/{x}/{y}.png?{self.query}"


def titiler_server(
    venv: Path, workers: int, servers: list[Server], env: dict[str, str] | None = None
) -> Server | None:
    """TiTiler from ``venv`` listening (listed in ``servers``, to be stopped); None without
    that venv."""
    python = venv / "bin" / "python"
    if not python.exists():
        return None
    port = free_port()
    command = uvicorn(
        "titiler.application.main:app", port, workers, python=str(python), factory=False
    )
    server = Server("titiler", command, port, {"GDAL_CACHEMAX": "256", **(env or {})})
    return launch(servers, server, "/healthz")


def ndvi_query(url: str, expression: str = NDVI_DN) -> str:
    """TiTiler's query for NDVI tiles of ``url`` (bands b1 red, b2 near infrared)."""
    return (
        f"url={url}&expression={expression.replace('+', '%2B')}&rescale=-0.2,1"
        "&colormap_name=rdylgn&resampling=bilinear&reproject=bilinear"  # as the NDVI layer
    )


def start_titiler(venv: Path, data: Path, workers: int, servers: list[Server]) -> TiTiler | None:
    """TiTiler from ``venv`` on a COG of the bench's pixels, its workers warmed on a few tiles;
    None without that venv."""
    server = titiler_server(venv, workers, servers)
    if server is None:
        return None
    cog = Path(tempfile.mkdtemp(prefix="bench-cog-")) / "t31ufu_b04_b08.tif"
    write_cog(data, cog)
    titiler = TiTiler(server, ndvi_query(f"file://{cog}"))
    for tile in uncached_tiles()[-8:]:
        httpx.get(titiler.server.url + titiler.tile_path(tile), timeout=120)
    return titiler


def cached_rows(cases: dict[str, str], rounds: int, duration: int) -> list[Row]:
    """wrk on each cached case's URL, in interleaved rounds, the median round per case: the
    machine's load drifts between runs. Each round starts with the next case, so that no case
    always runs first."""
    results: dict[str, list[WrkResult]] = {name: [] for name in cases}
    order = list(cases)
    for turn in range(rounds):
        for name in order[turn % len(order) :] + order[: turn % len(order)]:
            results[name].append(wrk(cases[name], duration=duration, connections=32))
    return [(name, median(runs)) for name, runs in results.items() if runs]


def uncached_rows(gateway: Server, titiler: TiTiler | None, redis_port: int) -> list[Row]:
    """Distinct tiles, each asked once: the gateway cold, then with its COG copies made, then
    TiTiler."""
    tiles = uncached_tiles()
    flush_redis(redis_port)
    # Warm each worker (catalog, GDAL, imports) on other keys, then time the distinct tiles.
    for tile in tiles[:: max(1, len(tiles) // 8)]:
        httpx.get(gateway.url + rest_path(tile, "2025-05-29"), timeout=120)
    paths = [rest_path(tile) for tile in tiles]
    rows = [
        (
            f"uncached NDVI tiles, gateway, cold ({len(paths)} distinct)",
            with_cpu(gateway, lambda: each_once(gateway.url, paths)),
        )
    ]
    # Again with Redis flushed: every tile is rendered anew, but the hot JPEG 2000 files now
    # have their COG copies, as TiTiler's COG was made before its run.
    flush_redis(redis_port)
    rows.append(
        (
            f"uncached NDVI tiles, gateway, COG copies made ({len(paths)})",
            with_cpu(gateway, lambda: each_once(gateway.url, paths)),
        )
    )
    if titiler is not None:
        titiler_paths = [titiler.tile_path(tile) for tile in tiles]
        rows.append(
            (
                f"uncached NDVI tiles, TiTiler COG ({len(titiler_paths)} distinct)",
                with_cpu(titiler.server, lambda: each_once(titiler.server.url, titiler_paths)),
            )
        )
    return rows


def run_cases(
    args: argparse.Namespace, data: Path, settings, redis_port: int, servers: list[Server]
) -> list[Row]:
    """Start the gateway, the floor and TiTiler (listed in ``servers``) and measure them."""
    from gateway.edge.server import uvicorn_flags

    redis_url = settings.redis_url
    env = {
        "GATEWAY_DATA_DIR": str(data),
        "GATEWAY_SAMPLE_DATA": "false",
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_STAC_URL": "",
        "GDAL_CACHEMAX": "256",
    }
    port = free_port()
    command = uvicorn("bench.bench_tiles:gateway_app", port, args.workers) + uvicorn_flags()
    # As ``cdse-gateway serve`` runs it.
    gateway = launch(servers, Server("gateway", command, port, env), "/healthz")
    first = httpx.get(gateway.url + rest_path(CACHED_TILE), timeout=60)
    assert first.status_code == 200 and first.headers["x-cache"] == "miss", first.headers
    key = tile_key(settings, CACHED_TILE, {"TIME": DAY})
    port = free_port()
    floor = Server(
        "floor", uvicorn("bench.floor_app:create_app", port, args.workers), port,
        {**env, "FLOOR_REDIS_URL": redis_url, "FLOOR_KEY": key},
    )  # fmt: skip
    launch(servers, floor, "/")
    assert httpx.get(floor.url + "/").content == first.content, "floor serves other bytes"
    titiler = start_titiler(args.titiler_venv, data, args.workers, servers)

    cached_cases = {
        "cached tile, gateway WMTS REST (Redis)": gateway.url + rest_path(CACHED_TILE),
        "cached tile, gateway WMTS KVP (Redis)": gateway.url + kvp_path(CACHED_TILE),
        "cached tile, bare ASGI floor (same Redis key)": floor.url + "/",
    }
    rounds = 0 if args.skip_cached else args.rounds
    rows = cached_rows(cached_cases, rounds, args.duration)
    return rows + uncached_rows(gateway, titiler, redis_port)


def print_rows(rows: list[Row], args: argparse.Namespace) -> None:
    print(
        f"\n{args.workers} uvicorn workers each; wrk -t2, {args.duration} s per run; cached rows:"
        f" median of {args.rounds} interleaved runs, wrk -c32; uncached rows: every tile asked"
        f" once over 4 connections\n"
    )
    print(f"{'case':56} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'CPU ms':>7}")
    for name, r in rows:
        cpu = f"{r.cpu_ms:7.1f}" if r.cpu_ms is not None else f"{'':7}"
        print(
            f"{name:56} {r.requests_per_s:8.1f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} {r.errors:8d} {cpu}"
        )


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None or shutil.which("redis-server") is None:
        sys.exit("wrk and redis-server are needed (apt-get install wrk redis-server)")

    from gateway.settings import Settings

    data = sample_archive(args.data)
    redis_port = free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    redis_server = start_redis(redis_port)
    settings = Settings(
        data_dir=data, sample_data=False, redis_url=redis_url, stac_url=None, storage="local"
    )
    servers: list[Server] = []
    try:
        time.sleep(0.5)
        rows = run_cases(args, data, settings, redis_port, servers)
    finally:
        for server in servers:
            server.stop()
        redis_server.send_signal(signal.SIGTERM)
        redis_server.wait(timeout=20)

    print_rows(rows, args)
    if args.metatiles:
        single, meta = metatile_timings(settings)
        print(f"\nin process, per 256 px z15 NDVI tile: one by one {single * 1000:.1f} ms, "
              f"cut from a 512 px metatile {meta * 1000:.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
