"""Feature pages of CDSE-shaped items: time and gateway memory, this code against another.

``python -m bench.bench_feature_pages [--items 3000] [--before DIR]`` starts the tests' STAC
API stand-in (stac-fastapi-pgstac on a private PostgreSQL cluster) with the sample and
``--items`` generated Sentinel-2 L2A items (``bench/catalog_items.py``: the CDSE fixture
item field for field, 43 assets, ~65 kB, newest day 2025-06-30 first), then a gateway on it
(one worker) per code tree: this checkout, and ``--before`` (a folder holding another
``gateway`` package, e.g. ``git archive <commit> gateway | tar -x -C DIR``). Each asks for
every scene of the newest day through OGC API Features (``limit=1000``) and WFS GetFeature
(GML and GeoJSON, ``COUNT=1000``), and prints seconds, bytes and the gateway's resident
memory (after start-up, peak, after; a fresh gateway per request) side by side.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench import catalog_items
from bench.bench_catalog import NEWEST, _sample_box
from bench.bench_tiles import Server, free_port, uvicorn
from bench.catalog_measure import RssSampler
from tests.support.stac_api import start_stac_api

REPO = Path(__file__).resolve().parents[1]
L2A = "sentinel-2-l2a"
DAY = NEWEST.date().isoformat()
WHEN = f"{DAY}T00:00:00Z/{DAY}T23:59:59Z"
REQUESTS = {
    "OGC API items limit=1000": (
        f"/ogcapi/collections/{L2A}/items",
        {"datetime": WHEN, "limit": "1000", "f": "json"},
    ),
    "WFS GetFeature GML COUNT=1000": (
        "/wfs",
        {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature",
         "TYPENAMES": f"cdse:{L2A}", "COUNT": "1000", "TIME": WHEN},
    ),
    "WFS GetFeature GeoJSON COUNT=1000": (
        "/wfs",
        {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature",
         "TYPENAMES": f"cdse:{L2A}", "COUNT": "1000", "TIME": WHEN,
         "OUTPUTFORMAT": "application/geo+json"},
    ),
}  # fmt: skip


class CodeServer(Server):
    """A gateway whose ``gateway`` package is the one in ``code`` (its working directory)."""

    def __init__(self, code: Path, port: int, env: dict[str, str]) -> None:
        self.name, self.port = "gateway", port
        self.log = Path(tempfile.gettempdir()) / f"bench-gateway-{port}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                uvicorn("gateway.app:create_app", port, 1),
                env={**_environ(), **env, "PYTHONPATH": str(code)},
                cwd=code,
                stdout=out,
                stderr=subprocess.STDOUT,
            )


def _environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def load(stac, data: Path, count: int, folder: Path) -> None:
    path = folder / "items.ndjson"
    with path.open("w") as out:
        for line in catalog_items.items(count, NEWEST, avoid=_sample_box(data)):
            out.write(line + "\n")
    started = time.monotonic()
    stac.load("items", path)
    print(f"loaded {count:,} items in {time.monotonic() - started:.0f} s", flush=True)


def _features(answer: httpx.Response) -> int:
    if "json" in answer.headers.get("content-type", ""):
        return len(answer.json().get("features") or [])
    return answer.content.count(b"<wfs:member>")


def measure(code: Path, data: Path, stac_url: str) -> dict[str, str]:
    """Each request on a fresh gateway of ``code`` (no search cache shared between them):
    seconds, features, bytes, and its RSS after start-up, at peak and after."""
    settings = {
        "GATEWAY_DATA_DIR": str(data), "GATEWAY_SAMPLE_DATA": "false",
        "GATEWAY_STORAGE": "local", "GATEWAY_STAC_URL": stac_url,
        "GATEWAY_STAC_TIMEOUT_S": "300",
    }  # fmt: skip
    rows: dict[str, str] = {}
    for name, (path, params) in REQUESTS.items():
        server = CodeServer(code, free_port(), settings)
        try:
            server.wait("/healthz", timeout=600)
            rss = RssSampler(server.process.pid).start()
            base = rss.now_mb()
            with httpx.Client(base_url=server.url, timeout=1800) as client:
                started = time.monotonic()
                answer = client.get(path, params=params)
                took = time.monotonic() - started
            peak = rss.peak_between(started, time.monotonic())
            rows[name] = (
                f"{answer.status_code}: {_features(answer)} features,"
                f" {len(answer.content) / 1e6:.1f} MB in {took:.1f} s;"
                f" RSS {base:.0f} → peak {peak:.0f} → {rss.now_mb():.0f} MB"
            )
            rss.stop()
        finally:
            server.stop()
        print(f"{code}: {name}: {rows[name]}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=3000, help="generated L2A items")
    parser.add_argument("--data", type=Path, required=True, help="a sample archive")
    parser.add_argument("--before", type=Path, help="a folder with another gateway package")
    args = parser.parse_args()
    stac = start_stac_api(args.data / "stac")
    try:
        with tempfile.TemporaryDirectory() as folder:
            load(stac, args.data, args.items, Path(folder))
        trees = {"this checkout": REPO}
        if args.before is not None:
            trees = {"before": args.before, **trees}
        results = {name: measure(code, args.data, stac.url) for name, code in trees.items()}
    finally:
        stac.stop()
    names = list(results)
    print("| measure | " + " | ".join(names) + " |")
    print("| --- | " + " | ".join("---" for _ in names) + " |")
    for row in next(iter(results.values())):
        print(f"| {row} | " + " | ".join(results[n].get(row, "") for n in names) + " |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
