"""Many users at once: a map service's mixed load from 64 clients, one gateway process and two.

    python -m bench.bench_load [--data DIR] [--duration 600] [--clients 64] [--workers 2]
                               [--processes 1 2] [--seed 1] [--pin]

Each phase starts gateway processes (every door, ``gateway.app:create_app`` as ``cdse-gateway
serve`` runs it, ``--workers`` uvicorn workers each) sharing one private redis-server, warms a
pool of tiles, then lets ``--clients`` clients ask for ``--duration`` seconds, each one request
after another without pause, drawn from this mix:

- 70 % cached tiles: WMTS REST tiles of the warmed pool (NDVI and TRUE_COLOR, z12-z16);
- 20 % uncached tiles: WMTS REST tiles of metatile blocks nobody has asked for yet, z8-z16 in
  turn, of 8 layers (NDVI, TRUE_COLOR, other indices, SCL) on the 4 sample dates, two tiles
  of each block one after the other (as a map view asks for neighbours);
- 5 % WMS GetMap: 512-1024 px PNG maps of 2-80 km at random places;
- 5 % coverages and OGC API, in turn: a WCS 2.0.1 GetCoverage (512 px float32 GeoTIFF), an OGC
  API coverage (GeoTIFF), an OGC API map (PNG) and an OGC API Features page.

The clients are asyncio tasks in this process (uvloop), each with one keep-alive connection per
gateway process (bench/load_client.py: a tenth of httpx's CPU per request); the generator's CPU
time is printed with the servers' (on a 2-core machine they share the cores). Any answer but a 200
counts as an error (a sample is printed). The resident memory of each gateway process tree (the
uvicorn supervisor and its workers) is sampled every ``--sample-every`` seconds. Every tile and
block render is counted from Redis's keyspace notifications: a block's render sets its metatile
key once, so a key set twice is a block rendered twice (its lock failed across processes).

With two processes the clients' requests alternate between them, the uncached tiles too, so the
two tiles of a block are asked of both processes at once. ``--pin`` runs gateway process i on
core i only, so that one process has one core and two have two (on a 2-core machine one
unpinned process takes both, and a second one can add no throughput). Each phase starts with
Redis flushed and no COG copies: the gateway reads a private folder of links to ``--data`` (its
COG copies go there, never into the archive).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import resource
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx
import morecantile
import redis
import redis.asyncio
import uvloop

from bench.bench_tiles import (
    Server,
    cpu_seconds,
    flush_redis,
    free_port,
    launch,
    process_tree,
    rest_path,
    sample_archive,
    start_redis,
    uvicorn,
)
from bench.load_client import Connection

MIX = {"cached": 0.70, "uncached": 0.20, "wms": 0.05, "coverage": 0.05}
LAYERS = ("NDVI", "TRUE_COLOR")
DAYS = ("2025-06-13", "2025-06-23")
# Uncached tiles: any of these layers on any sample date (the small sample's area has too few
# blocks for 10 minutes of NDVI and TRUE_COLOR on two dates).
UNCACHED_LAYERS = ("NDVI", "TRUE_COLOR", "FALSE_COLOR", "NDWI", "NDMI", "EVI", "SAVI", "SCL")
DAYS_ALL = ("2025-05-29", "2025-06-03", "2025-06-13", "2025-06-23")
POOL_ZOOMS = range(12, 17)
UNCACHED_ZOOMS = range(8, 17)
COVERAGE_KINDS = ("wcs", "ogcapi-coverage", "ogcapi-map", "ogcapi-items")
EARTH_RADIUS = 6378137.0
Tile = tuple[int, int, int]
Bounds = tuple[float, float, float, float]


# -- the workload --------------------------------------------------------------------------


def data_area(archive: Path) -> Bounds:
    """The lon/lat box around the archive's Sentinel-2 L2A scenes."""
    from tests.support.expected import load_items

    boxes = [item["bbox"] for item in load_items(archive, "sentinel-2-l2a")]
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


@dataclass(frozen=True)
class Block:
    """A metatile block of one layer on one day, and the tiles of it inside the area."""

    layer: str
    day: str
    z: int
    origin: tuple[int, int]
    tiles: tuple[Tile, ...]


def blocks(area: Bounds, z: int, layer: str, day: str) -> list[Block]:
    """The metatile blocks (the gateway's, ``block_side``) of zoom ``z`` touching ``area``."""
    from gateway.core.tiles.grids import TileGrids
    from gateway.core.tiles.service import block_side

    tms = morecantile.tms.get("WebMercatorQuad")
    side = block_side(TileGrids()["WebMercatorQuad"], z)
    west, south, east, north = area
    top_left, bottom_right = tms.tile(west, north, z), tms.tile(east, south, z)
    xs, ys = range(top_left.x, bottom_right.x + 1), range(top_left.y, bottom_right.y + 1)
    found = []
    for x0 in range(xs.start - xs.start % side, xs.stop, side):
        for y0 in range(ys.start - ys.start % side, ys.stop, side):
            tiles = tuple(
                (z, x, y)
                for y in range(y0, y0 + side)
                for x in range(x0, x0 + side)
                if x in xs and y in ys
            )
            found.append(Block(layer, day, z, (x0, y0), tiles))
    return found


def pool_blocks(area: Bounds, rng: random.Random, per_zoom: int) -> list[Block]:
    """The blocks warmed before a run: ``per_zoom`` full ones per zoom and layer, on DAYS[0]."""
    chosen = []
    for z in POOL_ZOOMS:
        for layer in LAYERS:
            candidates = blocks(area, z, layer, DAYS[0])
            full = max(len(b.tiles) for b in candidates)
            whole = [b for b in candidates if len(b.tiles) == full]
            chosen += rng.sample(whole, min(per_zoom, len(whole)))
    return chosen


def zoom_blocks(
    area: Bounds, z: int, rng: random.Random, taken: set[tuple[str, str, int, tuple[int, int]]]
) -> Iterator[Block]:
    """The blocks of zoom ``z`` not ``taken``, of one layer and day after another (in random
    order: every layer of UNCACHED_LAYERS on every day of DAYS_ALL), each in random order."""
    combos = [(layer, day) for layer in UNCACHED_LAYERS for day in DAYS_ALL]
    rng.shuffle(combos)
    shapes = blocks(area, z, combos[0][0], combos[0][1])
    for layer, day in combos:
        rng.shuffle(shapes)
        for shape in shapes:
            if (layer, day, z, shape.origin) not in taken:
                yield Block(layer, day, z, shape.origin, shape.tiles)


def uncached_tiles(
    area: Bounds, rng: random.Random, exclude: list[Block]
) -> Iterator[tuple[str, int]]:
    """Paths of tiles of blocks never asked before with their block's number, two tiles of
    each block in a row, the zooms in turn (z8, z9, ..., z16, z8...) while they have blocks
    left."""
    taken = {(b.layer, b.day, b.z, b.origin) for b in exclude}
    zooms = [zoom_blocks(area, z, rng, taken) for z in UNCACHED_ZOOMS]
    number = 0
    while zooms:
        for zoom in list(zooms):
            block = next(zoom, None)
            if block is None:
                zooms.remove(zoom)
                continue
            number += 1
            for tile in rng.sample(block.tiles, min(2, len(block.tiles))):
                yield rest_path(tile, block.day, block.layer), number
    raise RuntimeError("no uncached block left: a larger area or a shorter --duration")


def mercator(lon: float, lat: float) -> tuple[float, float]:
    return (
        EARTH_RADIUS * math.radians(lon),
        EARTH_RADIUS * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)),
    )


class Workload:
    """The paths of each request class, drawn as the clients ask."""

    def __init__(
        self, area: Bounds, seed: int, pool_per_zoom: int, mix: dict[str, float] = MIX
    ) -> None:
        self.area = area
        self.mix = mix
        self.rng = random.Random(seed)
        self.pool = pool_blocks(area, self.rng, pool_per_zoom)
        self.cached = [rest_path(t, b.day, b.layer) for b in self.pool for t in b.tiles]
        self._uncached = uncached_tiles(area, self.rng, self.pool)
        self.uncached_asked = 0  # tiles
        self.uncached_blocks = 0  # blocks they belong to
        self._coverage = 0

    def draw(self) -> str:
        return self.rng.choices(list(self.mix), weights=list(self.mix.values()))[0]

    def path(self, kind: str) -> tuple[str, int]:
        """A path of class ``kind`` and its sequence number in that class."""
        if kind == "cached":
            return self.rng.choice(self.cached), 0
        if kind == "uncached":
            self.uncached_asked += 1
            path, self.uncached_blocks = next(self._uncached)
            return path, self.uncached_asked
        if kind == "wms":
            return self._getmap(), 0
        self._coverage += 1
        return self._coverage_path(COVERAGE_KINDS[self._coverage % len(COVERAGE_KINDS)]), 0

    def _place(self, min_deg: float, max_deg: float) -> Bounds:
        """A lon/lat box of random size (log-uniform width) centred in the area."""
        west, south, east, north = self.area
        width = math.exp(self.rng.uniform(math.log(min_deg), math.log(max_deg)))
        height = width * self.rng.uniform(0.5, 1.0) * math.cos(math.radians(north))
        lon, lat = self.rng.uniform(west, east), self.rng.uniform(south, north)
        return (lon - width / 2, lat - height / 2, lon + width / 2, lat + height / 2)

    def _getmap(self) -> str:
        width = self.rng.choice((512, 768, 1024))
        west, south, east, _ = self._place(0.03, 1.2)  # ~2-80 km
        x0, y0 = mercator(west, south)
        x1 = mercator(east, south)[0]
        y1 = y0 + (x1 - x0) * 512 / width
        query = {
            "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap",
            "LAYERS": self.rng.choice(LAYERS), "STYLES": "", "CRS": "EPSG:3857",
            "BBOX": f"{x0:.1f},{y0:.1f},{x1:.1f},{y1:.1f}", "WIDTH": width, "HEIGHT": 512,
            "FORMAT": "image/png", "TIME": self.rng.choice(DAYS),
        }  # fmt: skip
        return "/wms?" + urlencode(query)

    def _coverage_path(self, kind: str) -> str:
        west, south, east, north = self._place(0.02, 0.3)
        bbox = f"{west:.5f},{south:.5f},{east:.5f},{north:.5f}"
        day, layer = self.rng.choice(DAYS), self.rng.choice(LAYERS)
        if kind == "wcs":
            pairs = [
                ("SERVICE", "WCS"), ("VERSION", "2.0.1"), ("REQUEST", "GetCoverage"),
                ("COVERAGEID", "sentinel-2-l2a__NDVI"), ("SUBSET", f"Long({west:.5f},{east:.5f})"),
                ("SUBSET", f"Lat({south:.5f},{north:.5f})"), ("SUBSET", f'ansi("{day}")'),
                ("SCALESIZE", "i(512),j(512)"), ("FORMAT", "image/tiff"),
            ]  # fmt: skip
            return "/wcs?" + urlencode(pairs)
        query: dict[str, str | int]
        if kind == "ogcapi-coverage":
            query = {"bbox": bbox, "datetime": day, "width": 512, "height": 512, "f": "GTiff"}
            return "/ogcapi/collections/NDVI/coverage?" + urlencode(query)
        if kind == "ogcapi-map":
            query = {"bbox": bbox, "datetime": day, "width": 512, "height": 512, "f": "png"}
            return f"/ogcapi/collections/{layer}/map?" + urlencode(query)
        query = {"bbox": bbox, "datetime": "2025-06-01T00:00:00Z/2025-06-30T23:59:59Z"}
        return "/ogcapi/collections/sentinel-2-l2a/items?" + urlencode({**query, "limit": 20})


# -- measuring ----------------------------------------------------------------------------


@dataclass
class ClassFigures:
    latencies: list[float] = field(default_factory=list)
    started: list[float] = field(default_factory=list)  # seconds into the run
    errors: int = 0
    cache: Counter[str] = field(default_factory=Counter)


@dataclass
class Machine:
    """CPU seconds of the servers, Redis and this process, and the machine's busy share."""

    servers: float
    redis: float
    generator: float
    busy: float
    total: float

    @classmethod
    def now(cls, servers: list[Server], redis_pid: int) -> Machine:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        idle = fields[3] + fields[4]
        ticks = os.sysconf("SC_CLK_TCK")
        return cls(
            sum(cpu_seconds(s.process.pid) for s in servers),
            cpu_seconds(redis_pid),
            usage.ru_utime + usage.ru_stime,
            (sum(fields) - idle) / ticks,
            sum(fields) / ticks,
        )

    def minus(self, other: Machine) -> Machine:
        return Machine(
            self.servers - other.servers,
            self.redis - other.redis,
            self.generator - other.generator,
            self.busy - other.busy,
            self.total - other.total,
        )


def rss_mb(pid: int, seen: set[int]) -> float:
    """Resident memory of ``pid`` and its descendants, MB (their ids added to ``seen``)."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    members = process_tree(pid)
    seen.update(members)
    for member in members:
        try:
            total += int(Path(f"/proc/{member}/statm").read_text().split()[1]) * page
        except (OSError, IndexError):
            continue
    return total / 2**20


class SetCounter:
    """How often each tile and metatile key was set, from Redis keyspace notifications."""

    PATTERNS = ("map:*", "metatile:*")

    def __init__(self, url: str) -> None:
        self.url = url
        self.sets: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        client = redis.asyncio.Redis.from_url(self.url)
        await client.config_set("notify-keyspace-events", "K$")
        self._pubsub = client.pubsub()
        await self._pubsub.psubscribe(*(f"__keyspace@0__:cdsegw:v1:{p}" for p in self.PATTERNS))
        self._client = client
        self._task = asyncio.create_task(self._listen())

    async def _listen(self) -> None:
        async for message in self._pubsub.listen():
            if message["type"] == "pmessage" and message["data"] == b"set":
                self.sets[message["channel"].decode().split(":", 1)[1]] += 1

    async def stop(self) -> None:
        await asyncio.sleep(1.0)  # the last notifications
        if self._task is not None:
            self._task.cancel()
        await self._pubsub.aclose()
        await self._client.aclose()

    def renders(self, namespace: str) -> tuple[int, int]:
        """Keys of ``namespace`` (``map``, not their stamps; ``metatile``) set, and those set
        more than once."""
        keys = [
            k
            for k in self.sets
            if k.startswith(f"cdsegw:v1:{namespace}:") and not k.endswith(":stamp")
        ]
        return len(keys), sum(self.sets[k] > 1 for k in keys)


@dataclass
class Phase:
    processes: int
    duration: float
    figures: dict[str, ClassFigures]
    machine: Machine
    rss: list[tuple[float, list[float]]]  # seconds since start, MB per process tree
    load: tuple[tuple[float, ...], tuple[float, ...]]  # loadavg before and after
    blocks: tuple[int, int]  # metatile keys set, set twice
    tiles: tuple[int, int]  # tile and map keys set, set twice
    uncached_blocks_asked: int
    error_sample: list[str]
    processes_started: int  # gateway processes that appeared during the run (restarts)
    resent: int  # GETs sent again: the server had closed the idle kept-alive connection


async def run_clients(
    workload: Workload,
    servers: list[Server],
    clients: int,
    duration: float,
    sample_every: float,
    redis_url: str,
) -> Run:
    """``clients`` closed-loop clients for ``duration`` seconds."""
    figures = {kind: ClassFigures() for kind in MIX}
    errors: list[str] = []
    rss: list[tuple[float, list[float]]] = []
    first: set[int] = set()
    seen: set[int] = set()
    resent = [0]
    for server in servers:
        rss_mb(server.process.pid, first)
    counter = SetCounter(redis_url)
    await counter.start()
    start = time.monotonic()
    origin = time.perf_counter()
    end = start + duration
    turn = 0

    async def sample() -> None:
        while True:
            rss.append((time.monotonic() - start, [rss_mb(s.process.pid, seen) for s in servers]))
            await asyncio.sleep(sample_every)

    async def client() -> None:
        nonlocal turn
        connections = [Connection("127.0.0.1", s.port) for s in servers]
        while time.monotonic() < end:
            kind = workload.draw()
            path, number = workload.path(kind)
            turn += 1
            # Uncached tiles alternate by their order (the two of a block: both processes).
            server = (number if kind == "uncached" else turn) % len(servers)
            began = time.perf_counter()
            try:
                answer = await connections[server].get(path)
                status, text = answer.status, answer.body[:200]
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
                status, text, answer = 0, f"{type(exc).__name__}: {exc}".encode(), None
            record = figures[kind]
            record.latencies.append(time.perf_counter() - began)
            record.started.append(began - origin)
            if answer is not None:
                record.cache[answer.headers.get(b"x-cache", b"-").decode()] += 1
            if status != 200:
                record.errors += 1
                if len(errors) < 8:
                    errors.append(f"{kind} {status} {path[:160]}: {text!r}")
        for connection in connections:
            resent[0] += connection.resent
            await connection.close()

    sampler = asyncio.create_task(sample())
    await asyncio.gather(*(client() for _ in range(clients)))
    sampler.cancel()
    rss.append((time.monotonic() - start, [rss_mb(s.process.pid, seen) for s in servers]))
    await counter.stop()
    return Run(figures, rss, counter, errors, len(seen - first), resent[0])


@dataclass
class Run:
    """What the clients of one phase saw: figures per class, the RSS series, the key sets,
    a sample of errors and the gateway processes started during the run."""

    figures: dict[str, ClassFigures]
    rss: list[tuple[float, list[float]]]
    counter: SetCounter
    errors: list[str]
    started: int
    resent: int  # requests sent again on a new connection (the kept-alive one had closed)


# -- servers ------------------------------------------------------------------------------


def private_view(data: Path) -> Path:
    """A folder of links to ``data``'s entries (not its COG copies): the gateway writes its
    own COG copies there, never into the shared archive."""
    view = Path(tempfile.mkdtemp(prefix="bench-load-data-"))
    for entry in data.iterdir():
        if entry.name != "cog-cache" and not entry.name.startswith("."):
            (view / entry.name).symlink_to(entry.resolve())
    return view


def start_gateways(
    count: int, workers: int, view: Path, redis_url: str, servers: list[Server], pin: bool = False
) -> list[Server]:
    """``count`` gateway processes (every door, ``workers`` workers each) on one Redis;
    ``pin``: process i (its workers too) on core i only (``taskset``)."""
    from gateway.edge.server import uvicorn_flags

    started = []
    for index in range(count):
        metrics = tempfile.mkdtemp(prefix="bench-load-metrics-")
        env = {
            "GATEWAY_DATA_DIR": str(view),
            "GATEWAY_SAMPLE_DATA": "false",
            "GATEWAY_REDIS_URL": redis_url,
            "GATEWAY_STAC_URL": "",
            "GDAL_CACHEMAX": "256",
            "PROMETHEUS_MULTIPROC_DIR": metrics,
        }
        port = free_port()
        command = uvicorn("gateway.app:create_app", port, workers) + uvicorn_flags()
        if pin:
            command = ["taskset", "-c", str(index % (os.cpu_count() or 1)), *command]
        started.append(launch(servers, Server("gateway", command, port, env), "/healthz"))
    return started


async def warm(workload: Workload, servers: list[Server]) -> None:
    """Render every pool block (one tile of each), then check that each pool tile is a hit."""
    async with httpx.AsyncClient(timeout=300) as http:
        for index, block in enumerate(workload.pool):
            server = servers[index % len(servers)]
            path = rest_path(block.tiles[0], block.day, block.layer)
            response = await http.get(server.url + path)
            assert response.status_code == 200, (path, response.status_code, response.text[:300])
        for index, path in enumerate(workload.cached):
            response = await http.get(servers[index % len(servers)].url + path)
            assert response.headers.get("x-cache") == "hit", (path, dict(response.headers))


def run_phase(args: argparse.Namespace, data: Path, processes: int) -> Phase:
    """One phase: ``processes`` gateways on a fresh Redis and a fresh private data folder."""
    redis_port = free_port()
    redis_server = start_redis(redis_port)
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    view = private_view(data)
    servers: list[Server] = []
    try:
        time.sleep(0.5)
        flush_redis(redis_port)
        gateways = start_gateways(processes, args.workers, view, redis_url, servers, args.pin)
        area = data_area(data)
        workload = Workload(area, args.seed, args.pool_per_zoom, args.mix)
        started = time.monotonic()
        asyncio.run(warm(workload, gateways))
        print(
            f"  {processes} process(es): warmed {len(workload.cached)} tiles of "
            f"{len(workload.pool)} blocks in {time.monotonic() - started:.0f} s",
            file=sys.stderr,
        )
        load_before = os.getloadavg()
        before = Machine.now(gateways, redis_server.pid)
        began = time.monotonic()
        run = uvloop.run(
            run_clients(workload, gateways, args.clients, args.duration, args.sample_every,
                        redis_url),
        )  # fmt: skip
        wall = time.monotonic() - began
        machine = Machine.now(gateways, redis_server.pid).minus(before)
        return Phase(
            processes=processes,
            duration=wall,
            figures=run.figures,
            machine=machine,
            rss=run.rss,
            load=(load_before, os.getloadavg()),
            blocks=run.counter.renders("metatile"),
            tiles=run.counter.renders("map"),
            uncached_blocks_asked=workload.uncached_blocks,
            error_sample=run.errors + log_trouble(servers),
            processes_started=run.started,
            resent=run.resent,
        )
    finally:
        for server in servers:
            server.stop()
        redis_server.send_signal(signal.SIGTERM)
        redis_server.wait(timeout=20)
        shutil.rmtree(view, ignore_errors=True)


def log_trouble(servers: list[Server]) -> list[str]:
    """Error lines and tracebacks the servers logged (the first few)."""
    found = []
    for server in servers:
        for line in server.log.read_text(errors="replace").splitlines():
            if line.startswith(("ERROR", "CRITICAL", "Traceback")) or " ERROR " in line:
                found.append(f"log :{server.port}: {line[:200]}")
    return found[:6]


# -- the report ---------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else math.nan


def print_phase(phase: Phase, args: argparse.Namespace) -> None:
    total = sum(len(f.latencies) for f in phase.figures.values())
    print(
        f"\n{phase.processes} gateway process(es) x {args.workers} uvicorn workers, one Redis; "
        f"{args.clients} clients for {phase.duration:.0f} s; load average before "
        f"{phase.load[0][0]:.2f}, after {phase.load[1][0]:.2f} (1 min)"
    )
    print(f"{'class':10} {'share':>6} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
          f" {'max ms':>8} {'non-200':>8}")  # fmt: skip
    rows = list(phase.figures.items())
    everything = ClassFigures(
        [x for _, f in rows for x in f.latencies], errors=sum(f.errors for _, f in rows)
    )
    for kind, f in [*rows, ("all", everything)]:
        count = len(f.latencies)
        print(
            f"{kind:10} {100 * count / max(total, 1):5.1f}% {count:9d} "
            f"{count / phase.duration:8.1f} {1000 * percentile(f.latencies, 0.5):8.1f} "
            f"{1000 * percentile(f.latencies, 0.99):8.1f} "
            f"{1000 * max(f.latencies, default=math.nan):8.0f} {f.errors:8d}"
        )
    cached = phase.figures["cached"]
    parts = by_part(cached, phase.duration, 6)
    print("cached p50/p99 ms by sixth of the run: " + ", ".join(
        f"{1000 * percentile(part, 0.5):.0f}/{1000 * percentile(part, 0.99):.0f}" for part in parts
    ))  # fmt: skip
    uncached = phase.figures["uncached"]
    blocks, twice = phase.blocks
    tiles, tiles_twice = phase.tiles
    print(
        f"uncached tiles: {len(uncached.latencies)} asked (X-Cache {dict(uncached.cache)}); "
        f"blocks asked {phase.uncached_blocks_asked}, rendered {blocks} "
        f"({blocks / phase.duration:.1f}/s), rendered twice {twice}; "
        f"tile and map keys set {tiles}, set twice {tiles_twice}"
    )
    m = phase.machine
    print(
        f"CPU (cores busy): gateways {m.servers / phase.duration:.2f}, Redis "
        f"{m.redis / phase.duration:.2f}, load generator {m.generator / phase.duration:.2f}; "
        f"the machine {100 * m.busy / m.total:.0f} % busy ({os.cpu_count()} cores); gateway CPU "
        f"per request {1000 * m.servers / max(total, 1):.1f} ms"
    )
    print_rss(phase, args)
    print(
        f"gateway processes started during the run (restarts): {phase.processes_started}; "
        f"GETs sent again on a new connection (an idle kept-alive one closed): {phase.resent}"
    )
    if phase.error_sample:
        print("errors (sample):")
        for line in phase.error_sample:
            print(f"  {line}")


def by_part(figures: ClassFigures, duration: float, parts: int) -> list[list[float]]:
    """The latencies of requests started in each of ``parts`` equal parts of the run."""
    found: list[list[float]] = [[] for _ in range(parts)]
    for began, latency in zip(figures.started, figures.latencies, strict=True):
        found[min(parts - 1, int(parts * began / duration))].append(latency)
    return found


def dump(phase: Phase, folder: Path) -> None:
    """Every request's class, start (s into the run) and latency (s), as CSV."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"requests-{phase.processes}.csv").open("w") as out:
        out.write("class,started,latency\n")
        for kind, f in phase.figures.items():
            for began, latency in zip(f.started, f.latencies, strict=True):
                out.write(f"{kind},{began:.3f},{latency:.4f}\n")


def rss_change(phase: Phase, warmup: float) -> list[tuple[float, float]]:
    """Per process: % change of RSS from the end of warm-up to the end, and its peak after."""
    after = [(t, mb) for t, mb in phase.rss if t >= warmup]
    if not after:
        return []
    first, last = after[0][1], after[-1][1]
    return [
        (100 * (last[i] / first[i] - 1), 100 * (max(mb[i] for _, mb in after) / first[i] - 1))
        for i in range(len(first))
    ]


def print_rss(phase: Phase, args: argparse.Namespace) -> None:
    step = max(1, len(phase.rss) // 12)
    shown = phase.rss[::step] + ([phase.rss[-1]] if (len(phase.rss) - 1) % step else [])
    for i in range(phase.processes):
        series = ", ".join(f"{t:.0f}s {mb[i]:.0f}" for t, mb in shown)
        print(f"RSS MB, process {i + 1} (supervisor + workers): {series}")
    for i, (change, peak) in enumerate(rss_change(phase, warmup(args))):
        print(
            f"RSS after warm-up ({warmup(args):.0f} s) to the end, process {i + 1}: "
            f"{change:+.1f} % (peak {peak:+.1f} %)"
        )


def warmup(args: argparse.Namespace) -> float:
    return args.warmup if args.warmup is not None else 0.2 * args.duration


def print_comparison(phases: list[Phase], args: argparse.Namespace) -> None:
    if len(phases) < 2:
        return
    print(f"\n{'side by side':34}" + "".join(f"{p.processes:>10} proc" for p in phases))

    def row(name: str, values: list[str]) -> None:
        print(f"{name:34}" + "".join(f"{v:>15}" for v in values))

    row("requests/s, all", [f"{_count(p) / p.duration:.1f}" for p in phases])
    row("uncached tiles/s", [f"{len(p.figures['uncached'].latencies) / p.duration:.1f}"
                             for p in phases])  # fmt: skip
    row("blocks rendered/s", [f"{p.blocks[0] / p.duration:.2f}" for p in phases])
    row("cached p99 ms", [f"{1000 * percentile(p.figures['cached'].latencies, 0.99):.1f}"
                          for p in phases])  # fmt: skip
    row("non-200", [str(sum(f.errors for f in p.figures.values())) for p in phases])
    row("blocks rendered twice", [str(p.blocks[1]) for p in phases])
    row("gateway CPU cores", [f"{p.machine.servers / p.duration:.2f}" for p in phases])
    row("blocks rendered per CPU s", [f"{p.blocks[0] / max(p.machine.servers, 1e-9):.2f}"
                                      for p in phases])  # fmt: skip
    row("RSS change after warm-up, max %",
        [f"{max((c for c, _ in rss_change(p, warmup(args))), default=math.nan):+.1f}"
         for p in phases])  # fmt: skip
    first = phases[0]
    for p in phases[1:]:
        ratio = (p.blocks[0] / p.duration) / max(first.blocks[0] / first.duration, 1e-9)
        print(f"blocks rendered/s, {p.processes} processes / {first.processes}: {ratio:.2f}x")


def _count(phase: Phase) -> int:
    return sum(len(f.latencies) for f in phase.figures.values())


def parse_mix(text: str) -> dict[str, float]:
    """``cached=70,uncached=20`` -> weights by class (diagnostic runs of a few classes)."""
    mix = {name: float(weight) for name, _, weight in (p.partition("=") for p in text.split(","))}
    if not set(mix) <= set(MIX):
        raise argparse.ArgumentTypeError(f"classes are {', '.join(MIX)}")
    return mix


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, help="a sample archive (the small one is written if absent)"
    )
    parser.add_argument("--duration", type=float, default=600, help="seconds per phase")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers per process")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pool-per-zoom", type=int, default=2, help="warmed blocks per zoom")
    parser.add_argument("--sample-every", type=float, default=5.0, help="RSS sampling, s")
    parser.add_argument("--dump", type=Path, help="a folder for every request's latency (CSV)")
    parser.add_argument(
        "--mix", type=parse_mix, default=MIX, help="class=weight,... (default: the real mix)"
    )
    parser.add_argument("--warmup", type=float, help="seconds (default: 20 %% of --duration)")
    parser.add_argument(
        "--pin",
        action="store_true",
        help="gateway process i on core i only: one process gets one core, two get two",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if shutil.which("redis-server") is None:
        sys.exit("redis-server is needed (apt-get install redis-server)")
    data = args.data if args.data is not None else sample_archive(None)
    phases = []
    for processes in args.processes:
        phase = run_phase(args, data, processes)
        print_phase(phase, args)
        if args.dump is not None:
            dump(phase, args.dump)
        phases.append(phase)
    print_comparison(phases, args)
    print(f"\nuptime load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
