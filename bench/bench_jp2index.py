"""Windows of a remote JPEG 2000 band without a TLM marker: OpenJPEG's own walk through its
tile-part headers against the gateway's tile-part index (``gateway/core/jp2index.py``).

A 10,980 px band of 1,024 px tiles (121 tile-parts, like Sentinel-2's 10 m bands before
processing baseline 05.12) is written lossless and put on the moto S3 stand-in behind the
counting proxy. A 256 px window in the first, the middle and the last JPEG 2000 tile is
read cold (a process of its own, nothing cached in GDAL), once through the file as it is and
once through its index; the index's own cost (made once for every process sharing Redis) is
printed beside them. GETs are what CDSE's 2,000 requests a minute per key count; seconds
are moto's on 127.0.0.1 (CDSE adds tens of ms a GET).

    python -m bench.bench_jp2index [--side 10980] [--product]

``--product`` also indexes what ``cdse-gateway index`` indexes of one L2A product for the
default layers (four 10 m files and six 20 m files: copies of the band and of a band half
its side) through ``SceneReader.make_indexes``, the files one after the other and then side by
side as the command reads them, and once more with the indexes known.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil

from gateway.core.cache import MemoryCache
from gateway.core.reader import SceneReader
from gateway.core.spliced import TilePartIndexes
from gateway.core.storage import Storage
from tests.support.request_counts import cost_of
from tests.support.s3_server import ACCESS_KEY, REGION, SECRET_KEY, start_s3

TILE = 1024

_READ = """
import sys, time
import rasterio
from rasterio.windows import Window
from gateway.core.spliced import TilePartIndexes
from gateway.core.cache import MemoryCache
from gateway.core.reader import SceneReader
from gateway.core.storage import Storage

endpoint, path, spliced, col, row = sys.argv[1:6]
storage = Storage(mode="s3", s3_endpoint=endpoint, access_key_id="test",
                  secret_access_key="test", https=False, region="us-east-1")
cache = MemoryCache()
indexes = TilePartIndexes(cache)
opened = path
if spliced != "-":
    cache.set(indexes.cache_key(path), bytes.fromhex(open(spliced).read()), 60_000)
    opened = indexes.opened(path)
started = time.perf_counter()
with rasterio.Env(session=storage.gdal_session(), **storage.gdal_options()):
    with rasterio.open(opened) as src:
        src.read(1, window=Window(int(col), int(row), 256, 256))
print(time.perf_counter() - started)
"""


def _band(path: Path, side: int) -> None:
    rng = np.random.default_rng(3)
    coarse = rng.integers(0, 4000, (side // 60 + 1, side // 60 + 1)).astype(np.uint16)
    data = np.kron(coarse, np.ones((60, 60), np.uint16))[:side, :side]
    data += rng.integers(0, 30, (side, side)).astype(np.uint16)
    profile = dict(driver="GTiff", width=side, height=side, count=1, dtype="uint16")
    with rasterio.MemoryFile() as memory, memory.open(**profile) as mem:
        mem.write(data, 1)
        rasterio.shutil.copy(
            mem, str(path), driver="JP2OpenJPEG", QUALITY="100", REVERSIBLE="YES",
            BLOCKXSIZE=str(TILE), BLOCKYSIZE=str(TILE), RESOLUTIONS="5",
        )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=10980)
    parser.add_argument("--product", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        eodata = folder / "eodata"
        eodata.mkdir()
        started = time.perf_counter()
        _band(eodata / "band.jp2", args.side)
        size = (eodata / "band.jp2").stat().st_size
        took = time.perf_counter() - started
        print(f"band {args.side} px, {size / 1e6:.1f} MB, written in {took:.0f} s")
        product = _product(eodata, args.side) if args.product else []
        server = start_s3(eodata, folder / "moto")
        try:
            _measure(server, folder, args.side)
            if product:
                _index_product(server, product)
        finally:
            server.stop()


def _product(eodata: Path, side: int) -> list[str]:
    """An L2A product's files for the default layers: 10 m B02, B03, B04, B08 (copies of the
    band) and 20 m B02, B03, B04, B11, B12, SCL (copies of a band half its side)."""
    _band(eodata / "half.jp2", side // 2)
    names = [f"{b}_10m.jp2" for b in ("B02", "B03", "B04", "B08")]
    names += [f"{b}_20m.jp2" for b in ("B02", "B03", "B04", "B11", "B12", "SCL")]
    for name in names:
        source = eodata / ("band.jp2" if name.endswith("_10m.jp2") else "half.jp2")
        (eodata / "product").mkdir(exist_ok=True)
        (eodata / "product" / name).write_bytes(source.read_bytes())
    return [f"/vsis3/eodata/product/{name}" for name in names]


def _index_product(server, paths: list[str]) -> None:  # type: ignore[no-untyped-def]
    storage = Storage(
        mode="s3", s3_endpoint=server.endpoint, access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY, https=False, region=REGION,
    )  # fmt: skip
    print(f"| a product's {len(paths)} files (cdse-gateway index) | GETs | s |")
    print("| --- | ---: | ---: |")
    shared = MemoryCache()
    runs = (
        ("one after the other", MemoryCache(), [[path] for path in paths]),
        ("side by side, 4 at a time (as the command)", shared, [paths]),
        ("again, the indexes known", shared, [paths]),
    )
    for name, cache, batches in runs:
        reader = SceneReader(storage, indexes=TilePartIndexes(cache))
        server.proxy.reset()
        started = time.perf_counter()
        for batch in batches:
            opened = reader.make_indexes(batch)
            assert all(opened[path] != path for path in batch), opened
        took = time.perf_counter() - started
        print(f"| {name} | {cost_of(server.proxy.hits()).requests} | {took:.1f} |")


def _measure(server, folder: Path, side: int) -> None:  # type: ignore[no-untyped-def]
    path = "/vsis3/eodata/band.jp2"
    storage = Storage(
        mode="s3", s3_endpoint=server.endpoint, access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY, https=False, region=REGION,
    )  # fmt: skip
    cache = MemoryCache()
    indexes = TilePartIndexes(cache)
    server.proxy.reset()
    started = time.perf_counter()
    indexes.make(path, storage.range_reader(path))
    took = time.perf_counter() - started
    made = cost_of(server.proxy.hits())
    print(f"index (once for all processes): {made.requests} GETs, {made.bytes} bytes, {took:.2f} s")
    value = cache.get(indexes.cache_key(path))
    assert value is not None
    spliced = folder / "splice.hex"
    spliced.write_text(value.hex())
    tiles = -(-side // TILE)
    print("| window in tile | as it is: GETs, MB, s | with the index: GETs, MB, s |")
    print("| ---: | ---: | ---: |")
    for name, tile in (("first", 0), ("middle", tiles // 2), ("last", tiles - 1)):
        col = row = tile * TILE + 100
        figures = []
        for how in ("-", str(spliced)):
            server.proxy.reset()
            answer = subprocess.run(
                [sys.executable, "-c", _READ, server.endpoint, path, how, str(col), str(row)],
                capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1],
            )  # fmt: skip
            cost = cost_of(server.proxy.hits())
            seconds = float(answer.stdout.strip())
            figures.append(f"{cost.requests}, {cost.bytes / 1e6:.2f}, {seconds:.2f}")
        print(f"| {name} ({tile}, {tile}) | {figures[0]} | {figures[1]} |")


if __name__ == "__main__":
    main()
