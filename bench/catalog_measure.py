"""What ``bench/bench_catalog.py`` measures on the million-scene catalog, each against its target.

The gateway runs as its own process (its resident memory sampled all along) on
stac-fastapi-pgstac; catalog searches are also timed in this process through the gateway's own
catalog classes, with and without the search cache, for the queries uncached tiles make.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import morecantile

L2A = "sentinel-2-l2a"
TMS = morecantile.tms.get("WebMercatorQuad")
# Map views over Europe: (lon, lat) centres, each seen as a 1280 x 800 map (5 x 4 tiles).
PLACES = {
    "Paris": (2.35, 48.86),
    "Berlin": (13.40, 52.52),
    "Madrid": (-3.70, 40.42),
    "Stockholm": (18.07, 59.33),
    "Warsaw": (21.01, 52.23),
    "Rome": (12.50, 41.90),
}
SAMPLE_DAYS = ("2025-05-29", "2025-06-03", "2025-06-13", "2025-06-23")
SAMPLE_AREA = (5.93, 52.575, 6.05, 52.665)


@dataclass
class Row:
    """One line of the results table."""

    what: str
    measured: str
    target: str = ""
    ok: bool | None = None


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)

    def add(self, what: str, measured: str, target: str = "", ok: bool | None = None) -> None:
        self.rows.append(Row(what, measured, target, ok))
        mark = "" if ok is None else (" ok" if ok else " MISSED")
        print(f"  {what}: {measured} (target {target or '-'}){mark}", flush=True)

    def table(self) -> str:
        lines = ["| measure | measured | target | met |", "| --- | --- | --- | --- |"]
        for r in self.rows:
            met = "" if r.ok is None else ("yes" if r.ok else "**no**")
            lines.append(f"| {r.what} | {r.measured} | {r.target} | {met} |")
        return "\n".join(lines)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def view_tiles(lon: float, lat: float, zoom: int) -> list[tuple[int, int, int]]:
    """The 5 x 4 tiles of a 1280 x 800 map centred on (lon, lat)."""
    centre = TMS.tile(lon, lat, zoom)
    return [(zoom, centre.x + dx, centre.y + dy) for dy in range(-2, 2) for dx in range(-2, 3)]


def tile_bounds(tile: tuple[int, int, int]) -> tuple[float, float, float, float]:
    z, x, y = tile
    b = TMS.bounds(morecantile.Tile(x, y, z))
    return (b.left, b.bottom, b.right, b.top)


class RssSampler:
    """The resident memory of a process, sampled every ``every_s`` seconds in a thread."""

    def __init__(self, pid: int, every_s: float = 0.2) -> None:
        self.pid, self.every_s = pid, every_s
        self.samples: list[tuple[float, float]] = []  # (monotonic, MB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def now_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.samples.append((time.monotonic(), self.now_mb()))
            except OSError:
                return

    def peak_between(self, start: float, end: float) -> float:
        inside = [mb for t, mb in self.samples if start <= t <= end]
        return max(inside) if inside else self.now_mb()


@dataclass
class Timed:
    seconds: float
    status: int
    body: bytes


def get(client: httpx.Client, url: str, **params: str) -> Timed:
    started = time.perf_counter()
    answer = client.get(url, params=params or None)
    return Timed(time.perf_counter() - started, answer.status_code, answer.content)


def repeat(call: Callable[[], Timed], times: int) -> list[Timed]:
    return [call() for _ in range(times)]


def newest_period(newest: datetime, days: int = 31) -> tuple[datetime, datetime]:
    """The gateway's default period: ``days`` whole days up to the newest acquisition."""
    end = datetime.combine(newest.date(), datetime.min.time(), UTC) + timedelta(days=1)
    return end - timedelta(days=days), end - timedelta(microseconds=1)


def timings(values: list[float]) -> str:
    return (
        f"p50 {1000 * statistics.median(values):.0f} ms, "
        f"p95 {1000 * percentile(values, 0.95):.0f} ms (n={len(values)})"
    )
