"""First views of a map on full-size Sentinel-2 products, zoom 8-15, cold and warm, side by side
with GDAL reading the same windows and TiTiler on the same JPEG 2000 files.

    python -m bench.bench_scale --data /work/sample-full [--zooms 8-15] [--s3] [--jp2-index]
        [--index-later [--index-workers 1,2]] [--first-byte-ms 20] [--ranges-from-files]
        [--titiler-venv /work/venvs/titiler] [--no-titiler] [--gdal NDVI,TRUE_COLOR]

The view: a 1280 x 800 map around 5.55 E 52.75 N, i.e. the 5 x 4 WebMercatorQuad 256 px tiles
around the one holding that point, TIME=2025-06-13 (``cdse-gateway sample-data DIR --profile
full`` writes its 10,980 px products). Cases, per zoom:

- gateway: the engine in this thread (GDAL decodes a local JPEG 2000 window's code-stream
  tiles on every core, a remote one's in one thread), no tile cache, no COG copies, layers NDVI
  (B04, B08 and SCL for the cloud mask) and TRUE_COLOR (B04, B03, B02) as shipped (zoomed out
  beyond 40 m a pixel both draw from their overview source, the quarterly mosaics' COGs); cold
  (every open dataset closed and GDAL's HTTP cache cleared first; that day's files are read
  once at the start, so that every case finds them in the OS page cache), warm (the same view
  again at once), and cold with the tiles asked 6 at a time as a browser asks them (threads of this
  process: each tile's latency, the view's wall-clock time, the CPU of all); where the overview
  source applies, the same cases again from the product's own files (``product files``: the
  layer without its overview source, as a layer without one reads); the process renders each
  layer once first on a tile away from every file, as TiTiler warms up below, and loads the
  compiled warp kernel as the server does before it serves (``tent.warm_up``);
- with ``--jp2-index`` the reader opens JPEG 2000 files with their tile-part index, as the
  server does (``gateway/core/spliced.py``): the cold pass makes the indexes of the files it
  reads, and one more cold pass (``tile-part indexes made``) finds them, as another process
  sharing Redis would; before both, the view cold by a reader without indexes (``no
  tile-part index``: OpenJPEG walks the tile-part headers); with ``--index-later`` too, the
  view cold by a reader that finds no index and makes them in the background, as the server
  does by default (``indexed in the background``, ``--index-workers`` files at once, a
  reader for each count: its GETs include the background's made meanwhile), the view cold
  again at once (``next view``: with the indexes made by then), and the seconds from the
  first view's start, and from the next view's end, until every index was made;
- GDAL alone (the layers in ``--gdal``, NDVI by default: it is the slowest case to run): the
  very windows the gateway's cold passes read (file, grid and kernel margin, recorded: on the
  product files, and as shipped where the layer draws from its overview source), each tile on
  its own: the file opened, its level that fits chosen and opened as a dataset, the window
  read; no catalog, no warp, no band math, no encoding; from local files also in a process of
  its own (``first reads of a process``): as the gateway's cold first view, it pays the
  process's first opens and PROJ look-ups, which GDAL alone in this process finds done;
- TiTiler (``titiler.application`` from ``--titiler-venv``, one uvicorn worker, GDAL's decoding
  threads as the gateway's storage sets them, rio-tiler's ``MAX_THREADS=1``: a mosaic's files
  one after the other, as the gateway reads them), started afresh per zoom
  and case (cold), then the view again: ``/cog/tiles`` NDVI of a VRT of the B04 and B08 JP2
  files (10 m) of T31UFU on that day (the half of the view that product covers), and
  ``/mosaicjson/tiles`` on a MosaicJSON of every product of that day around the view (a VRT
  each; the whole view, as the gateway draws it); where the layers draw from their overview
  source, ``/mosaicjson/tiles`` on a MosaicJSON of the same VRTs of the quarterly mosaics'
  B04 and B08 COGs (the files the gateway reads there).

Per case: the whole view's time (tiles one after the other, but side by side where so
asked), p50, p95 and max per tile, CPU seconds (this process's, or TiTiler's processes') and
bytes read (``rchar`` of /proc/PID/io: file reads, whether from disk or page cache; with
``--s3`` the bytes and GETs the S3 stand-in's counting proxy saw). ``--s3`` serves that day's
products from moto (tests/support/s3_server.py) instead of the folder; the catalog stays the
static one. ``--first-byte-ms`` makes its proxy answer each request that much later, as a
store farther away than 127.0.0.1 does (its connections answer side by side meanwhile);
``--ranges-from-files`` makes it answer byte-range GETs from the files themselves (moto copies
the whole object for each: about 50 ms a GET of a 10 m band).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import morecantile
import numpy as np
import rasterio
from pydantic import SecretStr
from rasterio.transform import from_bounds

from bench.bench_bandwidth import without_overview
from bench.bench_render import make_engine, quantile
from bench.bench_tiles import Server, cpu_seconds, ndvi_query, process_tree, titiler_server
from gateway.core import tent
from gateway.core.cache import MemoryCache
from gateway.core.catalog import Asset
from gateway.core.cogcache import CogCache
from gateway.core.engine import Engine
from gateway.core.grid import Grid
from gateway.core.preview import ground_resolution
from gateway.core.reader import SceneReader, read_level
from gateway.core.request import build_request
from gateway.core.spliced import TilePartIndexes
from gateway.core.storage import EODATA_PREFIX
from gateway.core.warp import SourceArray, read_window
from gateway.settings import Settings
from tests.support.request_counts import clear_gdal_http_cache, cost_of, tile_request

CENTRE = (5.55, 52.75)  # lon, lat
DAY = "2025-06-13"
LAYERS = ("NDVI", "TRUE_COLOR")
TMS = morecantile.tms.get("WebMercatorQuad")
FILES = "product files"  # the case of a layer's view without its overview source
BROWSER = 6  # tiles a browser asks for at once (its connections per host)
SIDE_BY_SIDE = f"{BROWSER} at a time"
BOTH = "every product (MosaicJSON)"  # TiTiler's case that draws the view as the gateway does
QUARTERLY = "quarterly mosaics (MosaicJSON)"  # TiTiler on the overview source's files
UNINDEXED = "no tile-part index"  # --jp2-index: the same view by a reader without indexes
INDEXED = "tile-part indexes made"  # --jp2-index: a cold pass after the one that made them
LATER = "indexed in the background"  # --index-later: a first view that queued the indexes
SHIPPED = "as shipped"  # GDAL alone on the windows of the layer as shipped, where it redraws
FIRST = "GDAL alone, first reads of a process"  # the same windows in a process of its own
TITILER_TILE = "T31UFU"  # the product TiTiler reads (the view's centre is in it)
WARM_UP = morecantile.Tile(0, 0, 2)  # far from any file of the view: first renders
# One window the gateway read: file, grid, resampling, categorical.
Window = tuple[str, Grid, str, bool]


def view_tiles(zoom: int) -> list[morecantile.Tile]:
    """The 5 x 4 tiles of a 1280 x 800 map around ``CENTRE`` (row by row)."""
    centre = TMS.tile(*CENTRE, zoom)
    return [
        morecantile.Tile(centre.x + dx, centre.y + dy, zoom)
        for dy in range(-2, 2)
        for dx in range(-2, 3)
    ]


@dataclass
class Pass:
    """One pass over a view: each tile's seconds, CPU seconds, bytes and GETs."""

    times: list[float] = field(default_factory=list)
    cpu: float = 0.0
    bytes: int = 0
    requests: int | None = None
    wall: float | None = None  # the view's, when its tiles were asked side by side

    @property
    def view(self) -> float:
        return sum(self.times) if self.wall is None else self.wall


class Meter:
    """CPU seconds, bytes read and (from S3) GETs of some work, in this process or another."""

    def __init__(self, pid: int | None = None, proxy=None) -> None:
        self.pid, self.proxy = pid, proxy

    def _cpu(self) -> float:
        return time.process_time() if self.pid is None else cpu_seconds(self.pid)

    def _rchar(self) -> int:
        pids = ["self"] if self.pid is None else process_tree(self.pid)
        total = 0
        for pid in pids:
            try:
                text = Path(f"/proc/{pid}/io").read_text()
            except OSError:
                continue
            total += int(text.split("rchar:")[1].split()[0])
        return total

    @contextmanager
    def measuring(self, result: Pass) -> Iterator[None]:
        if self.proxy is not None:
            self.proxy.reset()
        cpu, rchar = self._cpu(), self._rchar()
        yield
        result.cpu += self._cpu() - cpu
        if self.proxy is not None:
            cost = cost_of(self.proxy.hits())
            result.bytes, result.requests = cost.bytes, cost.requests
        else:
            result.bytes += self._rchar() - rchar


def timed_tiles[T](tiles: list[T], meter: Meter, one: Callable[[int, T], object]) -> Pass:
    """``one(index, tile)`` for each tile, timed."""
    result = Pass()
    with meter.measuring(result):
        for index, tile in enumerate(tiles):
            start = time.perf_counter()
            one(index, tile)
            result.times.append(time.perf_counter() - start)
    return result


class RecordingReader(SceneReader):
    """A scene reader that notes each window it reads (file, grid, resampling), per tile."""

    reads: list[Window]

    def _read(
        self,
        src: rasterio.io.DatasetReader,
        path: str,
        asset: Asset,
        grid: Grid,
        resampling: str,
        categorical: bool,
    ) -> SourceArray | None:
        self.reads.append((path, grid, resampling, categorical))
        return super()._read(src, path, asset, grid, resampling, categorical)


def gateway_passes(
    engine: Engine, layer: str, day: str, tiles: list, meter: Meter
) -> tuple[Pass, Pass, list[list[Window]]]:
    """The view cold, then warm; and the windows each tile of the cold pass read."""
    reader: RecordingReader = engine.reader  # type: ignore[assignment]
    recorded: list[list[Window]] = []

    def render(index: int, tile) -> None:
        reader.reads = []
        engine.render(
            tile_request(engine.config, tuple(TMS.xy_bounds(tile)), layer=layer, time=day)
        )
        recorded.append(reader.reads)

    clear_gdal_http_cache()
    cold = timed_tiles(tiles, meter, render)
    warm = timed_tiles(tiles, meter, render)
    return cold, warm, recorded[: len(tiles)]


def later_passes(
    settings: Settings,
    never: CogCache,
    layer: str,
    day: str,
    tiles: list,
    meter: Meter,
    workers: int = 1,
) -> tuple[Pass, Pass, float, float]:
    """A reader that finds no index (a cache of its own) and makes them in the background,
    ``workers`` files at once: the view cold, the view cold again at once, and the seconds
    from the first view's start, and from the second view's end, until the background made
    every index the views asked for."""
    indexes = TilePartIndexes(MemoryCache())
    engine = make_engine(
        settings, never, RecordingReader, indexes, index_later=True, index_workers=workers
    )
    queue = engine.reader.index_queue
    assert queue is not None

    def render(index: int, tile) -> None:
        reader: RecordingReader = engine.reader  # type: ignore[assignment]
        reader.reads = []
        engine.render(
            tile_request(engine.config, tuple(TMS.xy_bounds(tile)), layer=layer, time=day)
        )

    started = time.perf_counter()
    clear_gdal_http_cache()
    first = timed_tiles(tiles, meter, render)
    clear_gdal_http_cache()
    following = timed_tiles(tiles, meter, render)
    viewed = time.perf_counter()
    queue.close()  # waits for the indexes queued
    done = time.perf_counter()
    return first, following, done - started, done - viewed


def side_by_side_pass(engine: Engine, layer: str, day: str, tiles: list, meter: Meter) -> Pass:
    """The view cold, its tiles asked ``BROWSER`` at a time as a browser asks them: each
    tile's latency, the whole view's wall-clock time, the CPU of all."""

    def render(tile) -> float:
        started = time.perf_counter()
        engine.render(
            tile_request(engine.config, tuple(TMS.xy_bounds(tile)), layer=layer, time=day)
        )
        return time.perf_counter() - started

    clear_gdal_http_cache()
    result = Pass()
    with meter.measuring(result), ThreadPoolExecutor(BROWSER) as pool:
        started = time.perf_counter()
        result.times = list(pool.map(render, tiles))
        result.wall = time.perf_counter() - started
    return result


def draws_from_overview(engine: Engine, layer: str, tile: morecantile.Tile) -> bool:
    """Whether ``layer`` draws ``tile`` from its overview source (as shipped: the quarterly
    mosaics' COGs beyond 40 m a pixel)."""
    config = engine.config.layer(layer)
    overview = config.overview if config is not None else None
    grid = tile_request(engine.config, tuple(TMS.xy_bounds(tile)), layer=layer).grid
    return overview is not None and ground_resolution(grid) > overview.beyond_m


def read_alone(index: int, reads: list[Window]) -> None:
    """GDAL alone on one tile's recorded windows: each file opened, its level that fits
    chosen and opened as a dataset, the window read."""
    for path, grid, resampling, categorical in reads:
        with rasterio.open(path) as src:
            level = read_level(src, grid, categorical=categorical)
            if level is None:
                read_window(src, grid, nodata=None, resampling=resampling)
                continue
        with rasterio.open(path, overview_level=level) as src:
            read_window(src, grid, nodata=None, resampling=resampling)


def gdal_pass(engine: Engine, windows: list[list[Window]], meter: Meter) -> Pass:
    """GDAL alone on the recorded windows, each tile on its own (datasets opened per tile)."""
    storage = engine.reader.storage
    clear_gdal_http_cache()
    with rasterio.Env(session=storage.gdal_session(), **storage.gdal_options()):
        return timed_tiles(windows, meter, read_alone)


def gdal_first_pass(engine: Engine, windows: list[list[Window]], scratch: Path) -> Pass:
    """GDAL alone on the recorded windows (local files) in a process of its own, its first
    reads: as the gateway's cold pass, it pays the process's first opens and PROJ look-ups
    (GDAL alone in this process finds them done by the gateway's passes)."""
    recorded = scratch / "windows.pickle"
    recorded.write_bytes(pickle.dumps(windows))
    options = json.dumps(engine.reader.storage.gdal_options())
    command = [sys.executable, "-m", "bench.bench_scale", "--gdal-first", str(recorded), options]
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=repo)
    return Pass(**json.loads(done.stdout.splitlines()[-1]))


def _gdal_first(recorded: Path, options: dict[str, Any]) -> None:
    """``--gdal-first``: the pass of ``gdal_first_pass``, printed as JSON."""
    windows = pickle.loads(recorded.read_bytes())
    with rasterio.Env(**options):
        result = timed_tiles(windows, Meter(), read_alone)
    print(json.dumps({"times": result.times, "cpu": result.cpu, "bytes": result.bytes}))


def write_vrt(paths: list[str], target: Path) -> Path:
    """A VRT stacking band 1 of each of ``paths`` (same grid) as its bands."""
    with rasterio.open(paths[0]) as first:
        width, height, crs = first.width, first.height, first.crs.to_wkt()
        transform = first.transform.to_gdal()
        dtype = {"uint16": "UInt16", "uint8": "Byte", "int16": "Int16"}[first.dtypes[0]]
        nodata = "" if first.nodata is None else f"<NoDataValue>{first.nodata:g}</NoDataValue>"
    bands = "".join(
        f'<VRTRasterBand dataType="{dtype}" band="{i}">{nodata}<SimpleSource>'
        f'<SourceFilename relativeToVRT="0">{path}</SourceFilename><SourceBand>1</SourceBand>'
        f"</SimpleSource></VRTRasterBand>"
        for i, path in enumerate(paths, start=1)
    )
    target.write_text(
        f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}"><SRS>{crs}</SRS>'
        f"<GeoTransform>{', '.join(map(repr, transform))}</GeoTransform>{bands}</VRTDataset>"
    )
    return target


@dataclass(frozen=True)
class TiTilerSources:
    """What TiTiler reads: a VRT of B04 and B08 (10 m) per product of the view's day, the
    MosaicJSON of them all, the MosaicJSON of the same VRTs of the quarterly mosaics that the
    layers draw from zoomed out (None without them), and a small local GeoTIFF of none of
    their files, to warm TiTiler's imports on (a tile of a view's file would fetch the JPEG
    2000 tile-part headers its first tile reads: from S3 most of that view's GETs)."""

    vrt: Path  # TITILER_TILE's
    mosaic: Path
    quarterly: Path | None
    warm: Path


def write_warm_up(target: Path) -> Path:
    """A 256 px two-band GeoTIFF on the WebMercatorQuad tile ``WARM_UP`` (random DN)."""
    bounds = TMS.xy_bounds(WARM_UP)
    data = np.random.default_rng(0).integers(1, 10000, (2, 256, 256), dtype=np.uint16)
    profile = dict(driver="GTiff", width=256, height=256, count=2, dtype="uint16")
    transform = from_bounds(*bounds, 256, 256)
    with rasterio.open(target, "w", crs="EPSG:3857", transform=transform, **profile) as dst:
        dst.write(data)
    return target


MOSAIC_SCRIPT = """
import sys
from cogeo_mosaic.mosaic import MosaicJSON
mosaic = MosaicJSON.from_urls(sys.argv[2:], minzoom=8, maxzoom=15, quiet=True)
open(sys.argv[1], "w").write(mosaic.model_dump_json(exclude_none=True))
"""


def titiler_sources(
    engine: Engine, day: str, folder: Path, venv: Path, env: dict[str, str], eodata: Path
) -> TiTilerSources:
    """A VRT per product of ``day`` around the view (the files are GDAL paths) and their
    MosaicJSON, the same of the quarterly mosaics under ``eodata`` that hold ``day``, written
    by ``venv``'s cogeo-mosaic (with ``env``: the S3 stand-in's keys)."""
    lon, lat = CENTRE
    around = (lon - 1, lat - 1, lon + 1, lat + 1)
    request = build_request(
        engine.config, layer="NDVI", bbox=around, crs="EPSG:4326", width=256, height=256, time=day
    )
    storage = engine.reader.storage
    vrts: dict[str, Path] = {}
    with rasterio.Env(session=storage.gdal_session(), **storage.gdal_options()):
        for scene in engine.search(request):
            paths = [
                storage.gdal_path(next(a for a in scene.assets if a.key == key).href)
                for key in ("B04_10m", "B08_10m")
            ]
            vrts[scene.id] = write_vrt(paths, folder / f"{scene.id}.vrt")
        quarterly_vrts = [
            write_vrt(
                [storage.gdal_path(EODATA_PREFIX + str(path.relative_to(eodata))) for path in pair],
                folder / f"{pair[0].parent.name}.vrt",
            )
            for pair in quarterly_bands(eodata, day, ("B04", "B08"))
        ]
    ours = next(path for scene_id, path in vrts.items() if TITILER_TILE in scene_id)

    def mosaic_json(name: str, paths: list[Path]) -> Path:
        target = folder / name
        subprocess.run(
            [str(venv / "bin" / "python"), "-c", MOSAIC_SCRIPT, str(target), *map(str, paths)],
            check=True,
            env={**os.environ, **env},
        )
        return target

    quarterly = mosaic_json("quarterly.json", quarterly_vrts) if quarterly_vrts else None
    return TiTilerSources(
        ours,
        mosaic_json("mosaic.json", list(vrts.values())),
        quarterly,
        write_warm_up(folder / "warm-up.tif"),
    )


def titiler_passes(
    venv: Path,
    sources: TiTilerSources,
    url: Path,
    tiles: list,
    env: dict[str, str],
    proxy: object,
) -> tuple[Pass, Pass]:
    """TiTiler started afresh: the view cold, then again (over one keep-alive connection: a
    new httpx client per request costs 0.2 s on a loaded machine); ``/cog/tiles`` on a VRT
    ``url``, ``/mosaicjson/tiles`` on a MosaicJSON. ``env`` holds the gateway's
    ``GDAL_NUM_THREADS``; rio-tiler's ``MAX_THREADS=1`` reads a mosaic's files one after the
    other, stopping once the tile is filled, as the gateway does."""
    servers: list[Server] = []
    try:
        server = titiler_server(venv, 1, servers, {"MAX_THREADS": "1", **env})
        assert server is not None
        endpoint = "cog" if url.suffix == ".vrt" else "mosaicjson"
        query = ndvi_query(str(url))
        meter = Meter(server.process.pid, proxy)
        client = httpx.Client(base_url=server.url, timeout=300)

        def get(index: int, tile, endpoint: str = endpoint, query: str = query) -> None:
            path = f"/{endpoint}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png?{query}"
            response = client.get(path)
            assert response.status_code in (200, 204, 404), response.text[:300]

        get(0, WARM_UP, "cog", ndvi_query(str(sources.warm)))  # its imports, none of the files
        try:
            return timed_tiles(tiles, meter, get), timed_tiles(tiles, meter, get)
        finally:
            client.close()
    finally:
        for running in servers:
            running.stop()


HEADER = (
    f"{'zoom':>4} {'case':34} {'view s':>7} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7}"
    f" {'CPU s':>6} {'MB read':>8} {'GETs':>5}"
)


def row(zoom: int, name: str, result: Pass) -> str:
    ms = [t * 1000 for t in result.times]
    gets = "" if result.requests is None else str(result.requests)
    return (
        f"{zoom:>4} {name:34} {result.view:7.2f} {quantile(ms, 0.5):7.0f} {quantile(ms, 0.95):7.0f}"
        f" {max(ms):7.0f} {result.cpu:6.2f} {result.bytes / 1e6:8.1f} {gets:>5}"
    )


def zooms(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def day_files(eodata: Path, day: str) -> list[Path]:
    """The files of the products acquired on ``day`` (YYYY-MM-DD) under ``eodata``, and of the
    quarterly mosaics that hold that day (the layers' overview source)."""
    stamp = day.replace("-", "")
    return [
        p
        for p in eodata.rglob("*")
        if p.is_file() and (stamp in str(p.relative_to(eodata)) or _quarterly_name(day) in str(p))
    ]


def _quarterly_name(day: str) -> str:
    year, month = day.split("-")[:2]
    return f"Sentinel-2_mosaic_{year}_Q{(int(month) - 1) // 3 + 1}_"


def quarterly_bands(eodata: Path, day: str, bands: tuple[str, ...]) -> list[list[Path]]:
    """Per quarterly mosaic holding ``day`` under ``eodata``: its files of ``bands``."""
    folders = sorted(p for p in eodata.rglob(f"{_quarterly_name(day)}*") if p.is_dir())
    return [[folder / f"{band}.tif" for band in bands] for folder in folders]


def into_page_cache(files: list[Path]) -> int:
    """Read ``files`` once, so that no case pays for the disk (as in the issue's figures: the
    files in the OS page cache); returns the bytes read."""
    total = 0
    for path in files:
        with path.open("rb") as stream:
            while chunk := stream.read(2**24):
                total += len(chunk)
    return total


@contextmanager
def storage_settings(
    data: Path,
    s3: bool,
    day: str,
    scratch: Path,
    first_byte_s: float = 0.0,
    ranges_from_files: bool = False,
) -> Iterator[tuple[Settings, object]]:
    """Settings reading ``data`` from its folder, or (``s3``) that day's products from moto,
    with the S3 stand-in's proxy (None for the folder), each answer ``first_byte_s`` late
    (``ranges_from_files``: the proxy answers byte ranges from the files)."""
    base: dict[str, Any] = dict(data_dir=data, stac_url=None, redis_url=None, sample_data=False)
    if not s3:
        yield Settings(storage="local", **base), None
        return
    from tests.support.counting_proxy import Limits
    from tests.support.s3_server import start_s3

    eodata = data / "eodata"
    subset = scratch / "eodata"
    for path in day_files(eodata, day):  # that day's files only: moto holds what it is given
        link = subset / path.relative_to(eodata)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(path)
    started = time.monotonic()
    server = start_s3(
        subset,
        scratch / "moto",
        limits=Limits(first_byte_s=first_byte_s),
        ranges_from_files=ranges_from_files,
    )
    print(f"moto S3 stand-in loaded in {time.monotonic() - started:.0f} s")
    try:
        yield (
            Settings(
                storage="s3", s3_endpoint=server.endpoint, s3_https=False,
                s3_access_key_id="test", s3_secret_access_key=SecretStr("test"),
                s3_region="us-east-1", **base,
            ),
            server.proxy,
        )  # fmt: skip
    finally:
        server.stop()


def main() -> None:
    if sys.argv[1:2] == ["--gdal-first"]:
        _gdal_first(Path(sys.argv[2]), json.loads(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="a --profile full archive")
    parser.add_argument("--zooms", default="8-15", help="a zoom or a range, e.g. 8-15")
    parser.add_argument("--day", default=DAY)
    parser.add_argument("--s3", action="store_true", help="read from the moto S3 stand-in")
    parser.add_argument("--titiler-venv", type=Path, default=Path("/work/venvs/titiler"))
    parser.add_argument("--no-titiler", action="store_true")
    parser.add_argument(
        "--as-shipped",
        action="store_true",
        help="where the layers draw from their overview source, only their views as shipped "
        "and TiTiler on the files those read (from S3 the product files' cases take an hour)",
    )
    parser.add_argument(
        "--gdal", default="NDVI", help="layers whose windows GDAL reads alone ('' for none)"
    )
    parser.add_argument(
        "--jp2-index",
        action="store_true",
        help="JPEG 2000 files opened with their tile-part index, as the server does (the "
        "cold pass makes the indexes; one more cold pass then finds them, as another process)",
    )
    parser.add_argument(
        "--index-later",
        action="store_true",
        help="with --jp2-index: also the first view of a reader that makes the indexes in the "
        "background (as the server does by default), and the next view at once",
    )
    parser.add_argument(
        "--index-workers",
        default="1",
        help="with --index-later: files indexed at once in the background, or several to "
        "compare (e.g. 1,2,4)",
    )
    parser.add_argument(
        "--first-byte-ms",
        type=float,
        default=0.0,
        help="with --s3: the stand-in answers each request this late (a round trip to a "
        "store farther than 127.0.0.1)",
    )
    parser.add_argument(
        "--ranges-from-files",
        action="store_true",
        help="with --s3: the stand-in's proxy answers byte-range GETs from the files, side by "
        "side and in a time that does not grow with the file (moto copies the whole object "
        "for each, one at a time)",
    )
    args = parser.parse_args()
    workers = [int(n) for n in args.index_workers.split(",")]
    with (
        tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp,
        storage_settings(
            args.data,
            args.s3,
            args.day,
            Path(tmp),
            args.first_byte_ms / 1000,
            args.ranges_from_files,
        ) as (settings, proxy),
    ):
        never = CogCache(Path(tmp) / "no-copies", min_coverage=float("inf"))
        indexes = TilePartIndexes(MemoryCache()) if args.jp2_index else None
        engine = make_engine(settings, never, RecordingReader, indexes)
        unindexed = make_engine(settings, never, RecordingReader) if args.jp2_index else None
        files = Engine(without_overview(engine.config), engine.catalog, engine.reader)
        meter = Meter(proxy=proxy)
        storage_options = engine.reader.storage.gdal_options()
        options = {"GDAL_NUM_THREADS": storage_options["GDAL_NUM_THREADS"]}
        if proxy is not None:
            options.update({**storage_options, **_keys()})
        titiler_env = {k: str(v) for k, v in options.items()}
        titiler = None
        if not args.no_titiler and args.titiler_venv.exists():
            titiler = titiler_sources(
                files, args.day, Path(tmp), args.titiler_venv, titiler_env, args.data / "eodata"
            )
        started = time.monotonic()
        warmed = into_page_cache(day_files(args.data / "eodata", args.day))
        print(f"{warmed / 1e9:.1f} GB of that day read in {time.monotonic() - started:.0f} s")
        for layer in LAYERS:  # the process's first renders, away from every file (as TiTiler's)
            engine.render(tile_request(engine.config, tuple(TMS.xy_bounds(WARM_UP)), layer=layer))
        tent.warm_up()  # as the server does before it serves
        results: dict[tuple[int, str], Pass] = {}
        print(HEADER)
        for zoom in zooms(args.zooms):
            tiles = view_tiles(zoom)
            overview = False
            for layer in LAYERS:
                if unindexed is not None:  # first: no index made yet
                    results[zoom, f"gateway {layer} cold, {UNINDEXED}"] = gateway_passes(
                        unindexed, layer, args.day, tiles, meter
                    )[0]
                cold, warm, windows = gateway_passes(engine, layer, args.day, tiles, meter)
                results[zoom, f"gateway {layer} cold"] = cold
                results[zoom, f"gateway {layer} warm"] = warm
                if indexes is not None:
                    results[zoom, f"gateway {layer} cold, {INDEXED}"] = gateway_passes(
                        engine, layer, args.day, tiles, meter
                    )[0]
                for count in workers if args.index_later and indexes is not None else ():
                    first, following, done, after = later_passes(
                        settings, never, layer, args.day, tiles, meter, count
                    )
                    case = f"gateway {layer} cold, {LATER}, {count} at once"
                    results[zoom, case] = first
                    results[zoom, f"{case}, next view"] = following
                    print(
                        f"z{zoom} {layer}: indexes made {count} at once {done:.1f} s after the"
                        f" first view began, {after:.1f} s after the next view ended"
                    )
                results[zoom, f"gateway {layer} cold, {SIDE_BY_SIDE}"] = side_by_side_pass(
                    engine, layer, args.day, tiles, meter
                )
                shipped = draws_from_overview(engine, layer, tiles[0])
                overview |= shipped
                gdal = layer in args.gdal.split(",")
                if shipped and gdal:
                    results[zoom, f"GDAL alone, {layer}'s windows, {SHIPPED}"] = gdal_pass(
                        engine, windows, meter
                    )
                if gdal and proxy is None:
                    case = f"{FIRST}, {layer}'s windows" + (f", {SHIPPED}" if shipped else "")
                    results[zoom, case] = gdal_first_pass(engine, windows, Path(tmp))
                if shipped and not args.as_shipped:
                    # The product's own files, as a layer without an overview source reads.
                    cold, warm, windows = gateway_passes(files, layer, args.day, tiles, meter)
                    results[zoom, f"gateway {layer} cold, {FILES}"] = cold
                    results[zoom, f"gateway {layer} warm, {FILES}"] = warm
                    results[zoom, f"gateway {layer} cold, {FILES}, {SIDE_BY_SIDE}"] = (
                        side_by_side_pass(files, layer, args.day, tiles, meter)
                    )
                if gdal and not (shipped and args.as_shipped):
                    results[zoom, f"GDAL alone, {layer}'s windows"] = gdal_pass(
                        engine, windows, meter
                    )
            if titiler is not None:
                cases = []
                if not (overview and args.as_shipped):
                    cases = [(titiler.vrt, ""), (titiler.mosaic, f", {BOTH}")]
                if titiler.quarterly is not None and overview:
                    cases.append((titiler.quarterly, f", {QUARTERLY}"))
                for url, name in cases:
                    first, again = titiler_passes(
                        args.titiler_venv, titiler, url, tiles, titiler_env, proxy
                    )
                    results[zoom, f"TiTiler NDVI cold{name}"] = first
                    results[zoom, f"TiTiler NDVI again{name}"] = again
            for (at, name), result in results.items():
                if at == zoom:
                    print(row(zoom, name, result), flush=True)
        print_ratios(results)


def print_ratios(results: dict[tuple[int, str], Pass]) -> None:
    """Per zoom: each cold first view of the gateway against GDAL's read of the windows it
    read, against TiTiler's view of ``TITILER_TILE``, of every product, and (where the layer
    draws from its overview source) of the quarterly mosaics it reads, in wall-clock time and
    in CPU time; where a layer draws from its overview source, the view from the product's own
    files too."""
    print("\ncold first views: gateway / comparison, wall clock (CPU)")
    pairs = [
        ("NDVI", "GDAL alone, NDVI's windows"),
        ("TRUE_COLOR", "GDAL alone, TRUE_COLOR's windows"),
        ("NDVI", f"{FIRST}, NDVI's windows"),
        ("TRUE_COLOR", f"{FIRST}, TRUE_COLOR's windows"),
        ("NDVI", "TiTiler NDVI cold"),
        ("NDVI", f"TiTiler NDVI cold, {BOTH}"),
        ("NDVI", f"TiTiler NDVI cold, {QUARTERLY}"),
    ]
    titles = [
        "NDVI / GDAL",
        "TRUE_COLOR / GDAL",
        "NDVI / GDAL first",
        "TRUE_COLOR / GDAL first",
        f"NDVI / TiTiler {TITILER_TILE}",
        "NDVI / TiTiler all",
        "NDVI / TiTiler quarterly",
    ]
    print(f"{'zoom':>4} {'case':18} " + " ".join(f"{title:>24}" for title in titles))
    for zoom in sorted({z for z, _ in results}):
        for case, suffix in ((SHIPPED, ""), (FILES, f", {FILES}")):
            cells = []
            for layer, other in pairs:
                ours = results.get((zoom, f"gateway {layer} cold{suffix}"))
                redrawn = (zoom, f"gateway {layer} cold, {FILES}") in results
                if ours is None and suffix:  # no overview source there: the same view
                    ours = results.get((zoom, f"gateway {layer} cold"))
                theirs = results.get((zoom, other))
                shipped = results.get((zoom, f"{other}, {SHIPPED}"))
                if not suffix and shipped is not None:
                    theirs = shipped  # GDAL on the windows read as shipped
                elif redrawn and not suffix and other.startswith("GDAL"):
                    theirs = None  # it read the product files' windows
                if suffix and other.endswith(QUARTERLY):
                    theirs = None  # the product files against the mosaics' files
                if ours is None or theirs is None or not theirs.view or not theirs.cpu:
                    cells.append("")
                    continue
                cells.append(f"{ours.view / theirs.view:.2f} ({ours.cpu / theirs.cpu:.2f})")
            print(f"{zoom:>4} {case:18} " + " ".join(f"{cell:>24}" for cell in cells))


def _keys() -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


if __name__ == "__main__":
    main()
