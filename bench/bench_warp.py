"""The downsampling bilinear warp of zoomed-out tiles: GDAL's warper against tent.py's kernel.

    python -m bench.bench_warp --data DIR [--zooms 8-11] [--rounds 20]

For each WebMercatorQuad tile of bench_scale's view at each zoom that a quarterly mosaic of
``DIR`` holding bench_scale's day covers (a ``--profile full`` archive, or the small sample):
the B04 and B08 windows the tile reads (the COG overview that fits, as the engine picks it),
warped onto the tile both ways, in this thread: the gateway's plan with the tent kernel
(``tent``), and the same plan with GDAL's warper for those pieces instead, one call per piece
with its approximate transformer, as the gateway warped them before (``GDAL``). Per zoom: CPU
ms a tile (median over the tiles of each one's median over ``--rounds``) and the largest
difference between the two, in DN (GDAL's approximate transformer and the pieces' quadratic
maps, each within 1/500 pixel of exact, differ that much on sharp edges).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from unittest import mock

import numpy as np
import rasterio
from rasterio.crs import CRS

from bench.bench_scale import DAY, TMS, quarterly_bands, view_tiles, zooms
from gateway.core import tent
from gateway.core.grid import Grid
from gateway.core.reader import read_level
from gateway.core.warp import SourceArray, read_window, warp

WEB_MERCATOR = CRS.from_epsg(3857)


def tile_sources(data: Path, zoom: int) -> list[tuple[Grid, list[SourceArray]]]:
    """Each tile of the view at ``zoom`` with the B04 and B08 windows of the first quarterly
    mosaic that covers it."""
    mosaics = quarterly_bands(data / "eodata", DAY, ("B04", "B08"))
    found = []
    for tile in view_tiles(zoom):
        bounds = TMS.xy_bounds(tile)
        grid = Grid(WEB_MERCATOR, (bounds.left, bounds.bottom, bounds.right, bounds.top), 256, 256)
        for files in mosaics:
            sources = []
            for path in files:
                with rasterio.open(path) as whole:
                    level = read_level(whole, grid, categorical=False)
                with rasterio.open(path, overview_level=level) as src:
                    source = read_window(src, grid, nodata=src.nodata)
                if source is not None:
                    sources.append(source)
            if len(sources) == 2:
                found.append((grid, sources))
                break
    return found


def cpu_ms(grid: Grid, sources: list[SourceArray], rounds: int) -> float:
    """The median CPU milliseconds of warping ``sources`` onto ``grid``."""
    times = []
    for _ in range(rounds):
        started = time.process_time()
        warp(list(sources), grid, resampling="bilinear")
        times.append((time.process_time() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--zooms", default="8-11")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    print("zoom | tiles | span | tent CPU ms a tile | GDAL CPU ms a tile | GDAL / tent | "
          "max diff DN")  # fmt: skip
    for zoom in zooms(args.zooms):
        tiles = tile_sources(args.data, zoom)
        if not tiles:
            print(f"{zoom} | 0 | | | | |")
            continue
        ours, gdal, worst = [], [], 0.0
        for grid, sources in tiles:
            with_tent = warp(list(sources), grid, resampling="bilinear")
            ours.append(cpu_ms(grid, sources, args.rounds))
            with mock.patch.object(tent, "applies", return_value=False):
                with_gdal = warp(list(sources), grid, resampling="bilinear")
                gdal.append(cpu_ms(grid, sources, args.rounds))
            both = np.isfinite(with_tent) & np.isfinite(with_gdal)
            if both.any():
                worst = max(worst, float(np.abs(with_tent - with_gdal)[both].max()))
        span = max(tiles[0][1][0].span)
        ours_ms, gdal_ms = statistics.median(ours), statistics.median(gdal)
        print(
            f"{zoom} | {len(tiles)} | {span:.2f} | {ours_ms:.1f} | {gdal_ms:.1f} | "
            f"{gdal_ms / ours_ms:.1f} | {worst:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
