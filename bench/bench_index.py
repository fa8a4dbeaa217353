"""``cdse-gateway index`` on full-size products: a day's Sentinel-2 L2A products served by the
S3 stand-in, their files for the default layers indexed as the command indexes them, then
again with the indexes known.

    python -m bench.bench_index --data /work/sample-full [--day 2025-06-13]

``--data`` is an archive ``cdse-gateway sample-data DIR --profile full`` wrote (10,980 px
products, JPEG 2000 without TLM markers); that day's files are served by moto behind the
counting proxy (as ``bench_scale --s3``), the catalog is the archive's static one. Printed:
scenes, files, GETs (what CDSE's 2,000 requests a minute per key count) and seconds, each
file's walk one GET after another, four files of a scene side by side.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.bench_scale import DAY, storage_settings
from gateway.core.cache import MemoryCache
from gateway.core.dates import parse_time
from gateway.core.indexing import bands_to_index, index_scenes, scene_query
from gateway.core.reader import SceneReader
from gateway.core.spliced import TilePartIndexes
from gateway.runtime import build_runtime
from tests.support.request_counts import cost_of

L2A = "sentinel-2-l2a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a --profile full archive")
    parser.add_argument("--day", default=DAY)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="bench-index-") as tmp,
        storage_settings(args.data, True, args.day, Path(tmp)) as (settings, proxy),
    ):
        runtime = build_runtime(settings)
        catalog = runtime.engine.catalog
        bands = bands_to_index(runtime.config, L2A, ())
        query = scene_query(L2A, None, parse_time(args.day))
        shared = MemoryCache()  # Redis between the command and the servers
        print(f"bands of the default layers: {','.join(bands)}")
        print("| run | scenes | files | indexed | GETs | s |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for name in ("first", "again, the indexes known"):
            reader = SceneReader(runtime.engine.reader.storage, indexes=TilePartIndexes(shared))
            proxy.reset()  # type: ignore[attr-defined]
            started = time.perf_counter()
            result = index_scenes(catalog, reader, query, bands, max_scenes=100)
            took = time.perf_counter() - started
            gets = cost_of(proxy.hits()).requests  # type: ignore[attr-defined]
            print(
                f"| {name} | {result.scenes} | {result.files} | {result.indexed} | {gets} "
                f"| {took:.1f} |"
            )
        runtime.close()


if __name__ == "__main__":
    main()
