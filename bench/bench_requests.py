"""HTTP requests and bytes per uncached 256 px tile, from an S3 stand-in (moto + counting proxy).

COG (the quarterly mosaics) and JPEG 2000 (L2A), zoomed in (z15) and zoomed out (z11, one
tile over the whole sample area), each against GDAL's own ``gdal_translate -srcwin`` of the
same window, plus the effect of the GDAL options the storage sets.

    python -m bench.bench_requests [--data DIR]

Without --data the small sample archive is written into a temporary folder first. The catalog
is the static one (searches are not what is measured here); every pixel comes over HTTP.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import rasterio
from pydantic import SecretStr
from rasterio.enums import Resampling

from bench.bench_render import make_engine
from gateway.core.cogcache import CogCache
from gateway.core.engine import Engine
from gateway.core.storage import Storage
from gateway.settings import Settings
from tests.support.request_counts import (
    Cost,
    clear_gdal_http_cache,
    gdal_translate_srcwin,
    measure,
    open_headers,
    source_window,
    tile_bounds,
    tile_request,
)
from tests.support.s3_server import S3Server, start_s3

WEST = (5.96, 52.62)  # inside T31UFU only
CENTRE = (6.07, 52.62)  # the z11 tile holding it covers the whole sample area
L2A = "sentinel-2-l2a"
HEADER = (
    f"{'case':66} {'req':>4} {'bytes':>9} {'max/file':>8} {'dup':>4} {'again':>6} "
    f"{'list':>4} {'hdr':>4}"
)


def _row(name: str, cost: Cost, note: str = "") -> None:
    print(
        f"{name:66} {cost.requests:4d} {cost.bytes:9d} {cost.max_per_file:8d} "
        f"{cost.duplicate_ranges:4d} {cost.refetched_bytes:6d} {cost.listings:4d} "
        f"{cost.header_reads:4d}  {note}"
    )


def _hrefs(engine: Engine, request, bands: tuple[str, ...]) -> list[str]:
    from gateway.core.reader import pick_asset

    return [
        asset.href
        for scene in engine.search(request)
        for band in bands
        if (asset := pick_asset(scene, band, request.grid)) is not None
    ]


def _cold(s3: S3Server, work: Callable[[], object]) -> Cost:
    clear_gdal_http_cache()
    return measure(s3.proxy, work)[1]


def _read_whole(storage: Storage, href: str, options: dict | None = None) -> None:
    """Read a file at 256 px through its resolution levels (what an overview read costs)."""
    merged = {**storage.gdal_options(), **(options or {})}
    with (
        rasterio.Env(session=storage.gdal_session(), **merged),
        rasterio.open(storage.gdal_path(href)) as src,
    ):
        src.read(1, out_shape=(256, 256), resampling=Resampling.average)


def _cog_rows(s3: S3Server, engine: Engine, storage: Storage) -> None:
    for zoom, label in ((15, "zoomed in z15"), (11, "zoomed out z11, whole area")):
        centre = WEST if zoom == 15 else CENTRE
        request = tile_request(engine.config, tile_bounds(*centre, zoom), layer="MOSAIC_NDVI")
        hrefs = _hrefs(engine, request, ("B04", "B08"))
        render = partial(engine.render, request)
        _row(f"COG {label}: MOSAIC_NDVI, {len(hrefs)} files, cold", _cold(s3, render))
        clear_gdal_http_cache()
        open_headers(storage, hrefs)
        _row(f"COG {label}: header known", measure(s3.proxy, render)[1])
        _row(f"COG {label}: same tile again", measure(s3.proxy, render)[1])


def _jp2_rows(s3: S3Server, engine: Engine, storage: Storage) -> None:
    bounds = tile_bounds(*WEST, 15)
    b04 = tile_request(engine.config, bounds, collection=L2A, expression="B04", time="2025-06-13")
    (href,) = _hrefs(engine, b04, ("B04",))
    window = source_window(storage.gdal_path(href), storage, bounds, "EPSG:3857")
    compute = partial(engine.compute, b04)
    _row("JP2 zoomed in z15: B04 (1 file), gateway, cold", _cold(s3, compute))
    gdal = _cold(s3, partial(gdal_translate_srcwin, storage, href, window))
    _row(f"JP2 zoomed in z15: gdal_translate -srcwin {window.width}x{window.height}, cold", gdal)
    clear_gdal_http_cache()
    open_headers(storage, [href])
    _row("JP2 zoomed in z15: B04, header known", measure(s3.proxy, compute)[1])
    ndvi = partial(
        engine.render, tile_request(engine.config, bounds, layer="NDVI", time="2025-06-13")
    )
    _row("JP2 zoomed in z15: NDVI layer (B04, B08, SCL), cold", _cold(s3, ndvi))
    threads = _cold(s3, partial(_read_whole, storage, href, {"GDAL_NUM_THREADS": "ALL_CPUS"}))
    _row("JP2 B04_10m at 256 px, GDAL_NUM_THREADS=ALL_CPUS", threads)
    _row(
        "JP2 B04_10m at 256 px, GDAL_NUM_THREADS=1 (ours)",
        _cold(s3, partial(_read_whole, storage, href)),
    )
    for key in ("B04_20m", "B04_60m"):
        ref = href.replace("B04_10m", key).replace("/R10m/", f"/R{key[-3:]}/")
        _row(
            f"JP2 whole {key} read at 256 px (resolution levels)",
            _cold(s3, partial(_read_whole, storage, ref)),
        )


def _zoomed_out_rows(s3: S3Server, direct: Engine, cached: Engine) -> None:
    """Whole-area JP2 tiles: reading the JP2s directly, and through the COG cache."""
    first, second = tile_bounds(*CENTRE, 11), tile_bounds(6.07, 52.55, 11)
    cog_cache = cached.reader.cog_cache
    assert cog_cache is not None  # make_engine's reader always has one
    for expression in ("B04", "(B08-B04)/(B08+B04)"):
        shutil.rmtree(cog_cache.directory, ignore_errors=True)
        params = dict(collection=L2A, expression=expression, time="2025-06-13")
        request = tile_request(direct.config, first, **params)
        bands = tuple(b for b in ("B04", "B08") if b in expression)
        picked = ",".join(h.rsplit("_", 1)[-1][:3] for h in _hrefs(direct, request, bands))
        name = f"JP2 z11 whole area {expression[:9]}"
        _row(f"{name}: direct, cold", _cold(s3, partial(direct.render, request)), picked)
        started = time.monotonic()
        cost = _cold(s3, partial(cached.render, request))
        took = time.monotonic() - started
        _row(f"{name}: COG cache, 1st tile (direct read)", cost, f"{took:.2f} s")
        copies = measure(s3.proxy, cog_cache.close)[1]  # waits for the copies
        _row(f"{name}: COG cache, copies still running after", copies)
        clear_gdal_http_cache()
        south = tile_request(cached.config, second, **params)
        raster, cost = measure(s3.proxy, partial(cached.compute, south))
        note = f"{len(raster.scenes)} scenes, {raster.valid.mean():.0%} valid"
        _row(f"{name}: COG cache, next tile, no GDAL cache", cost, note)


def _option_rows(s3: S3Server, storage: Storage) -> None:
    href = (
        "s3://eodata/Global-Mosaics/Sentinel-2/S2MSI_L3__MCQ/2025/04/01/"
        "Sentinel-2_mosaic_2025_Q2_31UFU_0_0/B04.tif"
    )
    for value in ("EMPTY_DIR", "FALSE"):

        def open_once(v: str = value) -> None:
            merged = {**storage.gdal_options(), "GDAL_DISABLE_READDIR_ON_OPEN": v}
            with (
                rasterio.Env(session=storage.gdal_session(), **merged),
                rasterio.open(storage.gdal_path(href)),
            ):
                pass

        _row(f"COG open, GDAL_DISABLE_READDIR_ON_OPEN={value}", _cold(s3, open_once))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="a sample archive (written if missing)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or Path(tmp) / "sample"
        from gateway.sample import SAMPLE_MARKER, write_sample_archive

        if not (data / SAMPLE_MARKER).exists():
            write_sample_archive(data, "small")
        started = time.monotonic()
        s3 = start_s3(data / "eodata", Path(tmp) / "moto")
        print(f"moto S3 stand-in up and loaded in {time.monotonic() - started:.1f} s\n")
        try:
            settings = Settings(
                data_dir=data, stac_url=None, redis_url=None, sample_data=False,
                storage="s3", s3_endpoint=s3.endpoint, s3_https=False,
                s3_access_key_id="test", s3_secret_access_key=SecretStr("test"),
                s3_region="us-east-1",
            )  # fmt: skip
            never = CogCache(Path(tmp) / "unused", min_coverage=float("inf"))
            engine = make_engine(settings, never)
            storage = engine.reader.storage
            cached = make_engine(settings, CogCache(Path(tmp) / "cog-cache"))
            print(HEADER)
            print("(req: GETs; bytes: response bytes; max/file: GETs of the busiest file;")
            print(" dup: identical ranges asked again; again: bytes of ranges overlapping earlier")
            print(" ones; list: bucket listings; hdr: GETs from byte 0, i.e. header reads)\n")
            _cog_rows(s3, engine, storage)
            print()
            _jp2_rows(s3, engine, storage)
            print()
            _zoomed_out_rows(s3, engine, cached)
            print()
            _option_rows(s3, storage)
        finally:
            s3.stop()


if __name__ == "__main__":
    main()
