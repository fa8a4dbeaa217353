"""NDVI render of 256 x 256 WebMercatorQuad tiles from the sample archive, JP2 and COG side by side.

Reports per collection and zoom: tiles/s, p50/p95 latency and CPU ms per tile (this process's
CPU time, which holds when other jobs load the machine), over every tile of the sample area at
that zoom (uncached: the engine runs without a tile cache; the search cache is warm after the
first tile, as in a burst of map tiles).

    python -m bench.bench_render [--data DIR] [--zooms 11,12,13,14] [--max-tiles 40]
                                 [--mmap-kb 0 128 --rounds 5]

Without --data the small sample archive is written into a temporary folder first. The process
bounds its memory as a gateway worker does (``gateway.memory``: GDAL's block cache
``GATEWAY_GDAL_CACHE_MB``, glibc's mmap threshold ``GATEWAY_MALLOC_MMAP_THRESHOLD_KB``).
``--mmap-kb`` compares mmap thresholds (0: glibc's dynamic one) instead: each round runs every
value in a fresh process, one after the other, and the table gives each value's median over
the rounds side by side (CPU ms a tile is the figure that holds on a loaded machine).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import morecantile

from gateway.config import load_config
from gateway.core.cogcache import CogCache
from gateway.core.engine import Engine
from gateway.core.reader import SceneReader
from gateway.core.request import build_request
from gateway.core.spliced import TilePartIndexes
from gateway.memory import bound_process_memory
from gateway.runtime import make_catalog, make_storage
from gateway.settings import Settings

# The sample area (both tile windows), lon/lat.
AREA = (5.93, 52.56, 6.21, 52.67)
TMS = morecantile.tms.get("WebMercatorQuad")


def make_engine(
    settings: Settings,
    cog_cache: CogCache | None = None,
    reader: type[SceneReader] = SceneReader,
    indexes: TilePartIndexes | None = None,
    *,
    index_later: bool = False,
    index_workers: int = 1,
) -> Engine:
    """An engine without a tile cache (every render reads), its reader on ``settings``'
    storage (``cog_cache`` None: the default one beside the data folder; ``indexes`` None: no
    JPEG 2000 tile-part indexes; ``index_later``: those not made yet are made in the
    background, ``index_workers`` at once)."""
    storage = make_storage(settings)
    read = reader(
        storage, cog_cache, indexes=indexes, index_later=index_later, index_workers=index_workers
    )
    return Engine(load_config(), make_catalog(settings), read)


def quantile(values: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _tiles(zoom: int, limit: int) -> list[morecantile.Tile]:
    tiles = list(TMS.tiles(*AREA, zooms=[zoom]))
    step = max(1, len(tiles) // limit)
    return tiles[::step][:limit]


def bench(engine: Engine, layer: str, zoom: int, limit: int) -> dict[str, float]:
    config = engine.config
    times: list[float] = []
    cpu = 0.0
    tiles = _tiles(zoom, limit)
    for tile in tiles:
        b = TMS.xy_bounds(tile)
        request = build_request(
            config, layer=layer, bbox=(b.left, b.bottom, b.right, b.top), crs="EPSG:3857",
            width=256, height=256,
            time="2025-06" if layer == "NDVI" else None,
        )  # fmt: skip
        start, start_cpu = time.perf_counter(), time.process_time()
        engine.render(request)
        times.append(time.perf_counter() - start)
        cpu += time.process_time() - start_cpu
    times_ms = [t * 1000 for t in times]
    return {
        "tiles": len(times),
        "tiles_per_s": len(times) / sum(times),
        "p50_ms": statistics.median(times_ms),
        "p95_ms": quantile(times_ms, 0.95),
        "cpu_ms": cpu * 1000 / len(times),
    }


def run(data: Path, zooms: list[int], max_tiles: int, mmap_kb: int | None) -> list[dict]:
    """Every zoom and format in this process, its memory bounded as a worker's."""
    settings = Settings(data_dir=data, storage="local", stac_url=None, redis_url=None)
    threshold = settings.malloc_mmap_threshold_kb if mmap_kb is None else mmap_kb
    bound_process_memory(settings.gdal_cache_mb, threshold)
    engine = make_engine(settings)
    return [
        {"zoom": zoom, "format": label, **bench(engine, layer, zoom, max_tiles)}
        for zoom in zooms
        for label, layer in (("JP2", "NDVI"), ("COG", "MOSAIC_NDVI"))
    ]


def compare_mmap(args: argparse.Namespace, data: Path) -> None:
    """Each round, every ``--mmap-kb`` value in a fresh process; medians side by side."""
    runs: dict[int, list[list[dict]]] = {kb: [] for kb in args.mmap_kb}
    for round_ in range(args.rounds):
        for kb in args.mmap_kb:
            command = [
                sys.executable, "-m", "bench.bench_render", "--data", str(data),
                "--zooms", args.zooms, "--max-tiles", str(args.max_tiles), "--child", str(kb),
            ]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            runs[kb].append(json.loads(done.stdout.splitlines()[-1]))
            print(f"  round {round_ + 1}: mmap threshold {kb} kB done", flush=True)
    names = [f"{kb} kB" if kb else "dynamic" for kb in args.mmap_kb]
    print(f"{'zoom':>4} {'format':>6} " + " ".join(f"{n + ': CPU ms, p50 ms':>26}" for n in names))
    for index, row in enumerate(runs[args.mmap_kb[0]][0]):
        cells = []
        for kb in args.mmap_kb:
            cpu = statistics.median(r[index]["cpu_ms"] for r in runs[kb])
            p50 = statistics.median(r[index]["p50_ms"] for r in runs[kb])
            cells.append(f"{cpu:>17.1f}, {p50:>6.1f}")
        print(f"{row['zoom']:>4} {row['format']:>6} " + " ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path)
    parser.add_argument("--zooms", default="11,12,13,14")
    parser.add_argument("--max-tiles", type=int, default=40)
    parser.add_argument("--mmap-kb", type=int, nargs="+", help="mmap thresholds to compare")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of --mmap-kb")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    zooms = [int(z) for z in args.zooms.split(",")]
    if args.child is not None:
        print(json.dumps(run(args.data, zooms, args.max_tiles, args.child)))
        return
    with tempfile.TemporaryDirectory() as scratch:
        data = args.data
        if data is None:
            from gateway.sample import write_sample_archive

            data = Path(scratch)
            write_sample_archive(data, "small")
        if args.mmap_kb:
            compare_mmap(args, data)
            return
        print(
            f"{'zoom':>4} {'format':>6} {'tiles':>5} {'tiles/s':>8} {'p50 ms':>7} {'p95 ms':>7}"
            f" {'CPU ms':>7}"
        )
        for r in run(data, zooms, args.max_tiles, None):
            print(
                f"{r['zoom']:>4} {r['format']:>6} {r['tiles']:>5} {r['tiles_per_s']:>8.1f}"
                f" {r['p50_ms']:>7.1f} {r['p95_ms']:>7.1f} {r['cpu_ms']:>7.1f}"
            )


if __name__ == "__main__":
    main()
