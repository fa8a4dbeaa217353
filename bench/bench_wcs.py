"""WCS GetCoverage of a 2048 x 2048 two-band window vs. gdal_translate of the same window.

Both sides read the same JPEG 2000 files (B04_10m and B08_10m of one T31UFU scene of the sample
archive), cover the same 12 km UTM 31N window, resample it to 2048 x 2048 bilinearly and write
a DEFLATE float32 GeoTIFF of reflectance (DN x scale + offset, NaN/nodata where DN is 0):

- ``gateway``: ``GET /wcs?...&SUBSET=E(..)&SUBSET=N(..)&RANGESUBSET=B04,B08&SCALESIZE=...``
  on a live uvicorn server (1 worker), uncached (each run changes MAXCC by a hair, which
  changes the cache key and not the scenes);
- ``gateway, cached``: the same request again (served from the tile cache);
- ``engine in-process``: the same ``RenderRequest`` straight into ``engine.render`` (no HTTP,
  no WCS parsing, no server thread), uncached;
- ``gdal_translate``: Debian's ``gdal_translate`` on a VRT stacking the two JP2s with their
  scale/offset (``-unscale -ot Float32 -outsize 2048 2048 -r bilinear``), process start
  included.

    python -m bench.bench_wcs [--data DIR] [--runs 3]

Without --data the small sample archive is written into a temporary folder first.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import rasterio
import uvicorn

from gateway.runtime import Runtime
from tests.support.ports import free_port

SIZE = 2048
TILE, DAY = "31UFU", "2025-06-13"
WCS_DOOR = ("gateway.ows.wcs.door:build_door",)
Bounds = tuple[float, float, float, float]  # west, south, east, north in the scene's CRS


def _item(data: Path) -> dict:
    folder = data / "stac" / "collections" / "sentinel-2-l2a"
    for line in (folder / "items.ndjson").read_text().splitlines():
        item = json.loads(line)
        props = item["properties"]
        if props["grid:code"] == f"MGRS-{TILE}" and props["datetime"].startswith(DAY):
            return item
    raise SystemExit(f"no {TILE} scene on {DAY} in {data}")


def _path(data: Path, item: dict, key: str) -> Path:
    return data / "eodata" / item["assets"][key]["href"].removeprefix("s3://eodata/")


def _vrt(data: Path, item: dict, folder: Path) -> tuple[Path, Bounds]:
    """A two-band VRT (B04, B08) with each asset's raster:scale/offset and nodata."""
    bands = []
    with rasterio.open(_path(data, item, "B04_10m")) as src:
        width, height, transform, crs = src.width, src.height, src.transform, src.crs
    for index, key in enumerate(("B04_10m", "B08_10m"), start=1):
        asset = item["assets"][key]
        bands.append(
            f'<VRTRasterBand dataType="UInt16" band="{index}">'
            f"<NoDataValue>{asset.get('nodata', 0)}</NoDataValue>"
            f"<Offset>{asset.get('raster:offset', 0.0)}</Offset>"
            f"<Scale>{asset.get('raster:scale', 1.0)}</Scale>"
            f'<SimpleSource><SourceFilename relativeToVRT="0">{_path(data, item, key)}'
            f"</SourceFilename><SourceBand>1</SourceBand></SimpleSource></VRTRasterBand>"
        )
    gt = ", ".join(repr(v) for v in transform.to_gdal())
    vrt = folder / "b04_b08.vrt"
    vrt.write_text(
        f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">'
        f"<SRS>{crs.to_wkt()}</SRS><GeoTransform>{gt}</GeoTransform>{''.join(bands)}</VRTDataset>"
    )
    bounds = (transform.c, transform.f + height * transform.e, transform.c + width * transform.a,
              transform.f)  # fmt: skip
    return vrt, bounds


def _serve(data: Path) -> tuple[str, uvicorn.Server]:
    from gateway.app import create_app
    from gateway.settings import Settings

    settings = Settings(data_dir=data, sample_data=False, storage="local", stac_url=None,
                        redis_url=None)  # fmt: skip
    port = free_port()
    app = create_app(settings, doors=WCS_DOOR)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(f"{url}/healthz", timeout=1)
            return url, server
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("gateway did not start")


def _coverage(url: str, bounds: Bounds, maxcc: float) -> bytes:
    params = (
        ("service", "WCS"), ("version", "2.0.1"), ("request", "GetCoverage"),
        ("coverageId", "sentinel-2-l2a"), ("subsettingCrs", "EPSG:32631"),
        ("subset", f"E({bounds[0]},{bounds[2]})"), ("subset", f"N({bounds[1]},{bounds[3]})"),
        ("subset", f'time("{DAY}")'), ("rangeSubset", "B04,B08"),
        ("scaleSize", f"i({SIZE}),j({SIZE})"), ("interpolation", "linear"),
        ("format", "image/tiff"), ("maxcc", f"{maxcc:.4f}"),
    )  # fmt: skip
    response = httpx.get(f"{url}/wcs", params=params, timeout=300)
    response.raise_for_status()
    return response.content


_RUNTIMES: dict[Path, Runtime] = {}


def _in_process(data: Path, bounds: Bounds, maxcc: float) -> bytes:
    """The same request straight into engine.render (no HTTP, no WCS parsing), uncached."""
    from gateway.core.request import build_request
    from gateway.runtime import build_runtime
    from gateway.settings import Settings

    if data not in _RUNTIMES:
        settings = Settings(
            data_dir=data, sample_data=False, storage="local", stac_url=None, redis_url=None
        )
        _RUNTIMES[data] = build_runtime(settings)
    runtime = _RUNTIMES[data]
    request = build_request(
        runtime.config, collection="sentinel-2-l2a", expression="B04;B08", bbox=bounds,
        crs="EPSG:32631", width=SIZE, height=SIZE, time=DAY, maxcc=maxcc, format="tiff",
        resampling="bilinear",
    )  # fmt: skip
    return runtime.engine.render(request).content


def _gdal_translate(vrt: Path, out: Path) -> None:
    subprocess.run(
        ["gdal_translate", "-q", "-unscale", "-ot", "Float32", "-outsize", str(SIZE), str(SIZE),
         "-r", "bilinear", "-co", "COMPRESS=DEFLATE", "-co", "PREDICTOR=3", "-co", "TILED=YES",
         str(vrt), str(out)],
        check=True,
    )  # fmt: skip


def _timed(action, runs: int) -> tuple[float, list[float]]:
    times = []
    for run in range(runs):
        start = time.perf_counter()
        action(run)
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def _summary(content: bytes) -> tuple[tuple[int, ...], float]:
    with rasterio.MemoryFile(content) as memory, memory.open() as src:
        data = src.read(masked=True).astype(np.float64)
        return (src.count, src.height, src.width), float(np.ma.mean(data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("gdal_translate") is None:
        raise SystemExit("gdal_translate not found: apt-get install gdal-bin")
    with tempfile.TemporaryDirectory(prefix="bench-wcs-") as tmp:
        folder = Path(tmp)
        data = args.data
        if data is None:
            from gateway.sample import write_sample_archive

            data = folder / "sample"
            write_sample_archive(data, "small")
        item = _item(data)
        vrt, bounds = _vrt(data, item, folder)
        url, server = _serve(data)
        try:
            _coverage(url, bounds, 100.0)  # warm-up: imports, catalog, GDAL drivers
            contents: list[bytes] = []
            gateway, g_all = _timed(
                lambda run: contents.append(_coverage(url, bounds, 99.9 - run * 0.001)), args.runs
            )
            cached, c_all = _timed(lambda run: _coverage(url, bounds, 99.9), args.runs)
        finally:
            server.should_exit = True
        engine, e_all = _timed(lambda run: _in_process(data, bounds, 98.9 - run * 0.001), args.runs)
        out = folder / "gdal.tif"
        gdal, d_all = _timed(lambda run: _gdal_translate(vrt, out), args.runs)
        start = time.perf_counter()
        subprocess.run(["gdal_translate", "--version"], check=True, capture_output=True)
        startup = time.perf_counter() - start
        shape_g, mean_g = _summary(contents[-1])
        shape_d, mean_d = _summary(out.read_bytes())
    print(f"GetCoverage vs gdal_translate: {SIZE} x {SIZE}, B04+B08 float32 reflectance, "
          f"{TILE} {DAY}, median of {args.runs}")  # fmt: skip
    print(f"{'':22}{'median s':>10}  runs (s)               shape          mean")
    rows = [
        ("gateway (uncached)", gateway, g_all, shape_g, mean_g),
        ("gateway (cached)", cached, c_all, shape_g, mean_g),
        ("engine in-process", engine, e_all, shape_g, mean_g),
        ("gdal_translate", gdal, d_all, shape_d, mean_d),
    ]
    for name, median, runs, shape, mean in rows:
        listed = " ".join(f"{t:.3f}" for t in runs)
        print(f"{name:22}{median:10.3f}  {listed:22} {shape!s:14} {mean:.5f}")
    print(f"(gdal_translate process start alone: {startup:.3f} s)")


if __name__ == "__main__":
    main()
