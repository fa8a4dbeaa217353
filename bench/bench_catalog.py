"""A catalog the size of CDSE's (#14.4): a million Sentinel-2 L2A items in the STAC API stand-in.

``--load N`` makes a fresh database (``bench_stac`` on the machine's PostgreSQL, never the tests'
clusters), installs pgstac, adds the sample's collections and real scenes, then streams ``N``
generated items over Europe (``bench/catalog_items.py``) through pypgstac's bulk loader.
Without ``--load`` the existing database is measured: stac-fastapi-pgstac is started on it and
the gateway (``GATEWAY_STAC_URL`` pointing at it) is timed; the table prints measured vs target.
``--full DIR`` (an archive of ``cdse-gateway sample-data --profile full``) also times uncached
tiles of full-size products, from the folder and from S3 at CDSE's per-key limits, and sets the
catalog's p95 against theirs (an uncached tile at real scale), beside the small sample's tile.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import catalog_items
from bench.bench_tiles import Server, free_port, uvicorn

REPO = Path(__file__).resolve().parents[1]
STAC_VENV = REPO / ".venv-stac"
DATABASE = "bench_stac"
NEWEST = datetime(2025, 6, 30, tzinfo=UTC)
L2A = "sentinel-2-l2a"


def pg_env(database: str = DATABASE) -> dict[str, str]:
    """The environment psql, pypgstac and stac-fastapi read: the local server, trust auth."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "POSTGRES"))}
    host, port = os.environ.get("BENCH_PG", "127.0.0.1:5432").split(":")
    env.update(PGHOST=host, PGPORT=port, PGUSER="postgres", PGDATABASE=database, PGPASSWORD="")
    return env


def dsn(database: str = DATABASE) -> str:
    env = pg_env(database)
    return f"postgresql://postgres@{env['PGHOST']}:{env['PGPORT']}/{database}"


def _psql(sql: str, database: str = DATABASE) -> str:
    env = {**pg_env(database), "PGOPTIONS": "-c search_path=pgstac,public"}
    done = subprocess.run(
        ["psql", "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"psql failed: {done.stderr[-2000:]}")
    return done.stdout


def _pypgstac(*args: str, stdin: bytes | None = None) -> None:
    command = [str(STAC_VENV / "bin" / "pypgstac"), *args, "--dsn", dsn()]
    subprocess.run(command, env=pg_env(), input=stdin, check=True)


def _collection(data: Path, collection: str) -> dict:
    return json.loads((data / "stac" / "collections" / collection / "collection.json").read_text())


def _sample_box(data: Path) -> tuple[float, float, float, float]:
    """Where the sample's real L2A scenes are (lon/lat), padded by a little."""
    boxes = [json.loads(line)["bbox"] for line in _sample_lines(data, L2A)]
    return (
        min(b[0] for b in boxes) - 0.02,
        min(b[1] for b in boxes) - 0.02,
        max(b[2] for b in boxes) + 0.02,
        max(b[3] for b in boxes) + 0.02,
    )


def _sample_lines(data: Path, collection: str) -> list[str]:
    path = data / "stac" / "collections" / collection / "items.ndjson"
    return [line for line in path.read_text().splitlines() if line.strip()]


def create_database(data: Path) -> None:
    """A fresh ``bench_stac``: PostGIS, pgstac, the queryable, the sample's collections and
    scenes; L2A partitioned by month like a production pgstac."""
    from tests.support.stac_api import SETTINGS_SQL

    _psql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)", "postgres")
    _psql(f"CREATE DATABASE {DATABASE}", "postgres")
    _psql("CREATE EXTENSION postgis")
    _pypgstac("migrate")
    _psql(SETTINGS_SQL)
    collections = []
    for collection in sorted(p.name for p in (data / "stac" / "collections").iterdir()):
        record = _collection(data, collection)
        if collection == L2A:
            west, south, east, north = catalog_items.EUROPE
            record["extent"]["spatial"]["bbox"] = [[west - 3, south - 1, east + 3, north + 1]]
            record["extent"]["temporal"]["interval"] = [["2015-06-27T10:25:31Z", None]]
        collections.append(json.dumps(record))
    _pypgstac("load", "collections", "stdin", stdin="\n".join(collections).encode())
    _psql(f"UPDATE collections SET partition_trunc = 'month' WHERE id = '{L2A}'")
    # Bulk-load settings: partition statistics queued (run once at the end), LZ4 TOAST.
    _psql("UPDATE pgstac_settings SET value = 'true' WHERE name = 'use_queue'")
    _psql(f"ALTER DATABASE {DATABASE} SET default_toast_compression = 'lz4'")
    for collection in sorted(p.name for p in (data / "stac" / "collections").iterdir()):
        lines = "\n".join(_sample_lines(data, collection)).encode()
        _pypgstac("load", "items", "stdin", "--method", "insert", stdin=lines)


def load_share(count: int, data: Path, chunk: int, share: tuple[int, int]) -> None:
    """Generate the ``share`` of ``count`` items and stream it into the database."""
    loader = subprocess.Popen(
        [str(STAC_VENV / "bin" / "python"), str(REPO / "bench" / "pgstac_load.py"), dsn(),
         "--chunk", str(chunk)],
        stdin=subprocess.PIPE,
        env=pg_env(),
    )  # fmt: skip
    assert loader.stdin is not None
    made = 0
    try:
        for line in catalog_items.items(count, NEWEST, avoid=_sample_box(data), share=share):
            loader.stdin.write(line.encode() + b"\n")
            made += 1
    finally:
        loader.stdin.close()
        loader.wait()
    if loader.returncode:
        raise SystemExit(f"pgstac_load exited with {loader.returncode}")


def load(count: int, data: Path, chunk: int, workers: int) -> None:
    """``count`` items through ``workers`` generator + loader pairs (each its own months), then
    the partitions' statistics pgstac queued meanwhile, then ANALYZE."""
    started = time.monotonic()
    shares = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.bench_catalog",
                "--data",
                str(data),
                "--load",
                str(count),
                "--chunk",
                str(chunk),
                "--share",
                f"{k}/{workers}",
            ],
            cwd=REPO,
        )
        for k in range(workers)
    ]
    while any(p.poll() is None for p in shares):
        time.sleep(30)
        rows = int(_psql("SELECT count(*) FROM items"))
        rate = rows / (time.monotonic() - started)
        print(f"  {rows:,} items in the database ({rate:,.0f}/s)", flush=True)
    if any(p.returncode for p in shares):
        raise SystemExit("a loader failed")
    _psql("CALL run_queued_queries()")
    _psql("ANALYZE")
    rows = int(_psql("SELECT count(*) FROM items"))
    took = time.monotonic() - started
    print(f"loaded {rows:,} items in {took:,.0f} s ({rows / took:,.0f} items/s)", flush=True)


def start_stac_api(api_hydrate: bool = False) -> Server:
    """stac-fastapi-pgstac on ``bench_stac`` (its own venv), ready; ``api_hydrate``: the
    items hydrated by the API in Python (its ``USE_API_HYDRATE``), not by pgstac in SQL."""
    port = free_port()
    command = uvicorn("stac_fastapi.pgstac.app:create_app", port, 1,
                      python=str(STAC_VENV / "bin" / "python"))  # fmt: skip
    env = {**pg_env(), "PGPASSWORD": "bench", "USE_API_HYDRATE": str(api_hydrate).lower()}
    server = Server("stac-api", command, port, env)
    server.wait("/_mgmt/ping")
    return server


def start_gateway(data: Path, stac_url: str, env: dict[str, str]) -> tuple[Server, float]:
    """The gateway (every door, one worker) on the STAC API; and its start-up seconds, which
    include listing the catalog for the capabilities."""
    port = free_port()
    settings = {
        "GATEWAY_DATA_DIR": str(data), "GATEWAY_SAMPLE_DATA": "false",
        "GATEWAY_STORAGE": "local", "GATEWAY_STAC_URL": stac_url,
        "GATEWAY_STAC_TIMEOUT_S": "120",
        **env,
    }  # fmt: skip
    started = time.monotonic()
    server = Server("gateway", uvicorn("gateway.app:create_app", port, 1), port, settings)
    server.wait("/healthz", timeout=1800)
    return server, time.monotonic() - started


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--load", type=int, metavar="N", help="make bench_stac with N items")
    parser.add_argument("--data", type=Path, help="a sample archive (else a temporary one)")
    parser.add_argument("--chunk", type=int, default=5000, help="items per pypgstac chunk")
    parser.add_argument("--workers", type=int, default=3, help="parallel loaders for --load")
    parser.add_argument("--tiles", type=int, default=6, help="map views (20 tiles) per zoom")
    parser.add_argument(
        "--searches-only", action="store_true", help="only the tiles' searches and renders"
    )
    parser.add_argument(
        "--full", type=Path, help="a --profile full archive: its uncached tiles measured too"
    )
    parser.add_argument(
        "--api-hydrate",
        action="store_true",
        help="the STAC API hydrates the items in Python (stac-fastapi-pgstac's USE_API_HYDRATE),"
        " not pgstac in SQL (its default)",
    )
    parser.add_argument("--share", help="K/N: load only this share (used by --load itself)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.share:
        k, n = (int(v) for v in args.share.split("/"))
        load_share(args.load, args.data, args.chunk, (k, n))
        return
    from bench.bench_tiles import sample_archive

    data = sample_archive(args.data)
    if args.load:
        create_database(data)
        load(args.load, data, args.chunk, args.workers)
    from bench.catalog_runs import measure

    stac = start_stac_api(args.api_hydrate)
    try:
        items = int(_psql("SELECT count(*) FROM items"))
        measure(
            data, stac.url, start_gateway, NEWEST, args.tiles, items, args.searches_only, args.full
        )
    finally:
        stac.stop()


if __name__ == "__main__":
    main()
