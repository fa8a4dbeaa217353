"""The full-size first view of a map from S3 under CDSE's per-key limits: bytes, requests, time.

A 1280 x 800 map's first view (20 WebMercatorQuad tiles, 5 x 4, around 5.55 E 52.75 N,
TIME=2025-06-13) at zoom 9-13, NDVI and TRUE_COLOR, rendered cold by the engine (no tile
cache, no open datasets, no GDAL HTTP cache; two tiles at a time, as the tile service's two
render threads do) from the moto S3 stand-in, through the counting proxy enforcing CDSE's
``eodata`` limits per key (4 connections, 20 MB/s per connection, 2,000 requests per minute;
``--scale`` multiplies the bandwidth and rate), with the gateway's own quota set to the same.
JPEG 2000 windows are read from S3 as they are (no COG copies).

Each view is read three ways, side by side:

- ``files``: the product's own files only (the layers' overview source removed): R20m/R60m
  where a band has them, B08 from its 10 m JPEG 2000;
- ``overview``: the configuration as shipped, the layers' overview source (the quarterly
  mosaics' COGs beyond 40 m a pixel);
- ``PREVIEW=0``: ``files`` with ``preview.full_max_m`` at ``--zoom-in-m`` (a deployment that
  answers "zoom in" rather than spend its key on zoomed-out JPEG 2000 views).

    python -m bench.bench_bandwidth --data /work/sample-full [--zooms 9,10,11,12,13]
        [--ranges-from-files] [--first-byte-ms 20]

``--ranges-from-files`` makes the proxy answer byte-range GETs from the files themselves, as
CDSE answers them (moto copies the whole object for each: about 50 ms a GET of a 10 m band);
``--first-byte-ms`` makes it answer each request that much later, as a store farther away
than 127.0.0.1 does.

The archive must be the full profile (``cdse-gateway sample-data DIR --profile full``); only
the files the views read are uploaded to the stand-in.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from morecantile import Tile
from pydantic import SecretStr

from gateway.config import GatewayConfig, load_config
from gateway.core.cogcache import CogCache
from gateway.core.datasets import OpenDatasets
from gateway.core.engine import Engine
from gateway.core.grid import Grid
from gateway.core.preview import WEB_MERCATOR as WEB_MERCATOR_CRS
from gateway.core.preview import ZoomIn, ground_resolution
from gateway.core.reader import SceneReader
from gateway.core.request import RenderRequest
from gateway.core.tiles.service import tile_key
from gateway.runtime import Runtime, build_runtime
from gateway.settings import Settings
from tests.support.counting_proxy import Limits
from tests.support.request_counts import (
    WEB_MERCATOR,
    clear_gdal_http_cache,
    cost_of,
    tile_request,
)
from tests.support.s3_server import S3Server, start_s3

CENTRE = (5.55, 52.75)
DAY = "2025-06-13"
VIEW_TILES = (5, 4)  # columns, rows: 1280 x 800 px of 256 px tiles
LAYERS = ("NDVI", "TRUE_COLOR")
RENDER_THREADS = 2  # gateway.core.tiles.service.RENDER_THREADS
# CDSE eodata, per key (docs/cdse-quotas.md)
CONNECTIONS = 4
BYTES_PER_S = 20 * 10**6
REQUESTS_PER_MINUTE = 2000
BANDS = ("B02", "B03", "B04", "B08", "SCL")


@dataclass(frozen=True)
class View:
    """What one cold first view cost."""

    requests: int
    bytes: int
    refused: int  # answered 503 SlowDown by the proxy
    seconds: float
    slowest: float  # the slowest tile, seconds
    errors: str  # the gateway errors of tiles that failed ("" when none)


def view_tiles(lon: float, lat: float, zoom: int) -> list[tuple[float, float, float, float]]:
    """EPSG:3857 bounds of the 5 x 4 tiles of a 1280 x 800 view around (lon, lat)."""
    centre = WEB_MERCATOR.tile(lon, lat, zoom)
    columns, rows = VIEW_TILES
    bounds = []
    for row in range(centre.y - rows // 2, centre.y + math.ceil(rows / 2)):
        for column in range(centre.x - columns // 2, centre.x + math.ceil(columns / 2)):
            b = WEB_MERCATOR.xy_bounds(Tile(column, row, zoom))
            bounds.append((b.left, b.bottom, b.right, b.top))
    return bounds


def needed(day: str) -> Callable[[str], bool]:
    """Which of the archive's files a view of ``day`` may read: that day's L2A bands and the
    mosaics' bands."""
    compact = day.replace("-", "")

    def wanted(key: str) -> bool:
        name = key.rsplit("/", 1)[-1]
        if key.startswith("Global-Mosaics/"):
            return name in {f"{band}.tif" for band in BANDS}
        return compact in key and any(f"_{band}_" in name for band in BANDS)

    return wanted


def cold() -> None:
    """Forget every open dataset (in every thread) and GDAL's cached HTTP blocks."""
    OpenDatasets.close_all_pools()
    clear_gdal_http_cache()


def render_tiles(engine: Engine, requests: list[RenderRequest]) -> tuple[float, list[float], str]:
    """Render a view's tiles cold, two at a time: the view's seconds, each tile's, and the
    gateway errors of tiles that failed ("" when none)."""
    cold()
    errors: list[str] = []

    def one(request: RenderRequest) -> float:
        started = time.monotonic()
        try:
            engine.render(request)
        except Exception as exc:  # a tile's failure is a figure here, not the end of the run
            errors.append(getattr(exc, "code", type(exc).__name__))
        return time.monotonic() - started

    started = time.monotonic()
    with ThreadPoolExecutor(RENDER_THREADS) as pool:
        took = list(pool.map(one, requests))
    summary = ", ".join(f"{errors.count(e)} {e}" for e in sorted(set(errors)))
    return time.monotonic() - started, took, summary


def render_view(s3: S3Server, engine: Engine, requests: list[RenderRequest]) -> View:
    """Render a view's tiles cold, two at a time; what the proxy saw and how long it took."""
    refused_before = s3.proxy.gate.refused
    s3.proxy.reset()
    seconds, took, errors = render_tiles(engine, requests)
    cost = cost_of(s3.proxy.hits())
    return View(
        cost.requests,
        cost.bytes,
        s3.proxy.gate.refused - refused_before,
        seconds,
        max(took),
        errors,
    )


def without_overview(config: GatewayConfig) -> GatewayConfig:
    """The configuration with no layer's overview source."""
    layers = tuple(layer.model_copy(update={"overview": None}) for layer in config.layers)
    return config.model_copy(update={"layers": layers})


def zoom_in_beyond(config: GatewayConfig, metres: float) -> GatewayConfig:
    """``config`` whose PREVIEW=0 reads scenes up to ``metres`` a pixel only."""
    preview = config.preview.model_copy(update={"full_max_m": metres})
    return config.model_copy(update={"preview": preview})


Variant = tuple[str, GatewayConfig, str | None]  # name, configuration, PREVIEW


def variants(zoom_in_m: float) -> list[Variant]:
    shipped = load_config()
    files = without_overview(shipped)
    return [
        ("files", files, None),
        ("overview", shipped, None),
        ("PREVIEW=0", zoom_in_beyond(files, zoom_in_m), "0"),
    ]


def engine_for(base: Engine, config: GatewayConfig) -> Engine:
    """An engine on ``base``'s catalog and reader with ``config`` and no tile cache."""
    return Engine(config, base.catalog, base.reader)


def direct_reads(runtime: Runtime, scratch: Path) -> Engine:
    """The runtime's engine, its reader making no COG copies (a copy would land beside the
    archive and serve the next views locally; the request path is to make none, #14.1)."""
    reader = runtime.engine.reader
    never = CogCache(scratch / "never", min_coverage=float("inf"))
    direct = SceneReader(reader.storage, never, reader.quota, tally=reader.tally)
    return Engine(runtime.config, runtime.engine.catalog, direct)


def settings_for(data: Path, s3: S3Server, scale: float) -> Settings:
    return Settings(
        data_dir=data, stac_url=None, redis_url=None, sample_data=False,
        storage="s3", s3_endpoint=s3.endpoint, s3_https=False,
        s3_access_key_id="test", s3_secret_access_key=SecretStr("test"),
        s3_region="us-east-1", s3_max_connections=CONNECTIONS,
        s3_requests_per_minute=round(REQUESTS_PER_MINUTE * scale), quota_wait_s=120.0,
    )  # fmt: skip


def cdse_limits(scale: float = 1.0, first_byte_s: float = 0.0) -> Limits:
    """CDSE's ``eodata`` limits per key, bandwidth and request rate times ``scale``; each
    answer ``first_byte_s`` late."""
    return Limits(
        connections=CONNECTIONS,
        requests_per_minute=round(REQUESTS_PER_MINUTE * scale),
        bytes_per_s=round(BYTES_PER_S * scale),
        first_byte_s=first_byte_s,
    )


def _mb(nbytes: int) -> str:
    return f"{nbytes / 1e6:8.1f}"


def view_requests(
    config: GatewayConfig, layer: str, zoom: int, preview: str | None, day: str
) -> list[RenderRequest] | None:
    """The view's tile requests, or None when PREVIEW answers "zoom in" to them."""
    try:
        return [
            tile_request(config, bounds, layer=layer, time=day, preview=preview)
            for bounds in view_tiles(*CENTRE, zoom)
        ]
    except ZoomIn:
        return None


def metres(zoom: int) -> float:
    """Ground metres of a pixel of the view's centre tile."""
    columns, rows = VIEW_TILES
    bounds = view_tiles(*CENTRE, zoom)[rows // 2 * columns + columns // 2]
    return ground_resolution(Grid(WEB_MERCATOR_CRS, bounds, 256, 256))


COLUMN = f"{'MB':>8} {'GETs':>5} {'s':>6} {'max':>5} {'503':>4}"


def run(s3: S3Server, base: Engine, zooms: list[int], zoom_in_m: float, day: str) -> None:
    """Print one row per layer and zoom, one column group per variant."""
    chosen = variants(zoom_in_m)
    print(f"{'layer':10} {'zoom':>4} {'m/px':>5}  " + "  ".join(f"{n:^34}" for n, _, _ in chosen))
    print(f"{'':10} {'':>4} {'':>5}  " + "  ".join(COLUMN for _ in chosen))
    for layer in LAYERS:
        for zoom in zooms:
            cells = []
            seen: dict[tuple[str, ...], str] = {}  # tiles' keys of a variant read -> its name
            for name, config, preview in chosen:
                requests = view_requests(config, layer, zoom, preview, day)
                if requests is None:
                    cells.append(f"{'zoom in: nothing read':^34}")
                    continue
                same = tuple(tile_key(r) for r in requests)
                if same in seen:  # the same reads as an earlier variant: not read again
                    cells.append(f"{'as ' + seen[same]:^34}")
                    continue
                seen[same] = name
                view = render_view(s3, engine_for(base, config), requests)
                note = f" ({view.errors})" if view.errors else ""
                cells.append(
                    f"{_mb(view.bytes)} {view.requests:5d} {view.seconds:6.1f} "
                    f"{view.slowest:5.1f} {view.refused:4d}{note}"
                )
            print(f"{layer:10} {zoom:4d} {metres(zoom):5.0f}  " + "  ".join(cells), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a full-profile sample archive")
    parser.add_argument("--zooms", default="9,10,11,12,13", help="comma-separated zoom levels")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply the bandwidth and request rate"
    )
    parser.add_argument(
        "--zoom-in-m", type=float, default=60.0, help="PREVIEW=0 column: zoom in beyond this"
    )
    parser.add_argument("--day", default=DAY, help="the view's TIME (a day of the archive)")
    parser.add_argument(
        "--ranges-from-files",
        action="store_true",
        help="the proxy answers byte-range GETs from the files (moto copies the whole object "
        "for each)",
    )
    parser.add_argument(
        "--first-byte-ms", type=float, default=0.0, help="the proxy answers each request this late"
    )
    args = parser.parse_args()
    zooms = [int(z) for z in args.zooms.split(",")]
    limits = cdse_limits(args.scale, args.first_byte_ms / 1000)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        s3 = start_s3(
            args.data / "eodata",
            Path(tmp) / "moto",
            limits=limits,
            include=needed(args.day),
            ranges_from_files=args.ranges_from_files,
        )
        print(f"moto S3 stand-in up and loaded in {time.monotonic() - started:.1f} s")
        assert limits.bytes_per_s is not None  # cdse_limits sets every limit
        print(
            f"proxy limits: {limits.connections} connections, "
            f"{limits.bytes_per_s / 1e6:.0f} MB/s per connection, "
            f"{limits.requests_per_minute} requests per minute\n"
        )
        try:
            runtime = build_runtime(settings_for(args.data, s3, args.scale))
            try:
                print("per view of 20 tiles: MB and GETs at the proxy, seconds, slowest tile")
                print("(s), GETs refused with 503 SlowDown\n")
                run(s3, direct_reads(runtime, Path(tmp)), zooms, args.zoom_in_m, args.day)
            finally:
                runtime.close()
        finally:
            s3.stop()


if __name__ == "__main__":
    main()
