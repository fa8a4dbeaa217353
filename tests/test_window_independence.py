"""A pixel's value does not depend on the window asked (issue #11 item 5).

QGIS and GDAL read a coverage block by block, tiles come one by one or cut from metatiles: for
one output grid, every aligned sub-window must give the values of the same part of the whole,
per band within 1e-4 reflectance (1 DN of the source), with the same pixels valid. Here at the
engine (``engine.mosaic`` on sub-grids), for nearest, bilinear and cubic, on the L2A JPEG 2000
bands and the mosaics' COGs, zoomed in (OpenCV's kernel), at about the source's resolution in
EPSG:4326 (GDAL's kernels, downsampling along latitude) and zoomed out (file levels), over
both MGRS tiles (UTM 31 and 32) and past every edge of their files.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from rasterio.crs import CRS
from rasterio.warp import transform_bounds

from gateway.core.grid import Grid
from gateway.core.request import build_request

L2A = "sentinel-2-l2a"
MOSAICS = "sentinel-2-global-mosaics"
BANDS = ("B04", "B08")
TOLERANCE = 1e-4  # reflectance: 1 DN of the source
WGS84 = CRS.from_epsg(4326)
WEB_MERCATOR = CRS.from_epsg(3857)
AREA_3857 = transform_bounds(WGS84, WEB_MERCATOR, 5.9, 52.55, 6.24, 52.69)

# name -> (grid, block width, block height). Block origins are the grid's, which lies on no
# 256 px lattice of its CRS, so blocks cut the cells the engine computes in every way.
GRIDS = {
    # 3.4 x 5.6 m pixels across both tiles' overlap and T31UFU's east edge: OpenCV's kernels,
    # in blocks that are not the pieces it warps.
    "zoomed-in": (Grid(WGS84, (6.0217, 52.6003, 6.1117, 52.6303), 1800, 600), 300, 200),
    # 13.5 x 22 m pixels (the 10 m files; bilinear downsamples along latitude: GDAL's kernel)
    # over the whole sample and past all its files' edges, in QGIS's 500 px blocks; its edges
    # lie half-way between multiples of its resolution.
    "native": (Grid(WGS84, (5.9001, 52.5501, 6.2401, 52.6901), 1700, 700), 500, 500),
    # 3.4 x 5.6 m pixels by T32ULD's swath edge (nodata inside its file): OpenCV's kernels
    # with the nodata pixels left out, in blocks with and without nodata near.
    "swath-edge": (Grid(WGS84, (6.1417, 52.5703, 6.2317, 52.6003), 1800, 600), 300, 200),
    # 60 m pixels: the 60 m files, 20 m files' and 10 m files' coarser levels, COG overviews.
    "zoomed-out": (Grid(WEB_MERCATOR, AREA_3857, 630, 430), 200, 150),
    # 240 m pixels, 3 to 6 source pixels each: GDAL's kernels reach far beyond each block.
    "far-out": (Grid(WEB_MERCATOR, AREA_3857, 158, 108), 40, 30),
}


def window(grid: Grid, col: int, row: int, width: int, height: int) -> Grid:
    """The sub-grid of ``grid`` at pixel (``col``, ``row``), as a client computes it."""
    minx, _, _, maxy = grid.bounds
    rx, ry = grid.resolution
    left, top = minx + col * rx, maxy - row * ry
    return Grid(grid.crs, (left, top - height * ry, left + width * rx, top), width, height)


def blocks(grid: Grid, width: int, height: int) -> list[tuple[int, int, int, int]]:
    """GDAL's block layout: (col, row, width, height) from the top left, cut at the edges."""
    return [
        (col, row, min(width, grid.width - col), min(height, grid.height - row))
        for row in range(0, grid.height, height)
        for col in range(0, grid.width, width)
    ]


def differences(engine, request, layout) -> tuple[float, float, int]:
    """The largest difference, the share of pixels that differ (by more than float32
    rounding) and the pixels valid in one but not the other, over every block of ``layout``
    against the same part of the whole grid."""
    whole = engine.mosaic(request, BANDS).data
    assert np.isfinite(whole).mean() > 0.3  # the grid really holds data
    worst, differing, compared, mismatched = 0.0, 0, 0, 0
    for col, row, width, height in layout:
        sub = replace(request, grid=window(request.grid, col, row, width, height))
        part = engine.mosaic(sub, BANDS).data
        same_part = whole[:, row : row + height, col : col + width]
        mismatched += int((np.isfinite(part) != np.isfinite(same_part)).sum())
        both = np.isfinite(part) & np.isfinite(same_part)
        error = np.abs(part - same_part)[both]
        if error.size:
            worst = max(worst, float(error.max()))
            differing += int((error > 1e-6).sum())
            compared += error.size
    return worst, differing / max(compared, 1), mismatched


def _request(runtime, collection: str, grid: Grid, resampling: str):
    request = build_request(
        runtime.config, collection=collection, expression=";".join(BANDS), bbox=grid.bounds,
        crs="EPSG:4326" if grid.crs == WGS84 else "EPSG:3857", width=grid.width,
        height=grid.height, resampling=resampling,
        time="2025-06-13" if collection == L2A else None,
    )  # fmt: skip
    return replace(request, grid=grid)


@pytest.mark.parametrize("collection", [L2A, MOSAICS], ids=["jp2", "cog"])
@pytest.mark.parametrize("resampling", ["nearest", "bilinear", "cubic"])
@pytest.mark.parametrize("name", list(GRIDS))
def test_blocks_give_the_values_of_the_whole(runtime, name, resampling, collection):
    grid, width, height = GRIDS[name]
    request = _request(runtime, collection, grid, resampling)
    worst, share, mismatched = differences(runtime.engine, request, blocks(grid, width, height))
    assert mismatched == 0, f"{mismatched} pixels valid in a block but not in the whole"
    assert worst <= TOLERANCE, f"up to {worst * 1e4:.1f} DN off, {share:.0%} of pixels differ"


def test_the_l2a_scenes_have_their_nodata_and_both_zones_in_the_grids(runtime):
    """What the cases above cross: T32ULD's swath edge (nodata zeros inside the file), the
    outer edges of both tiles' files, and pixels from both UTM zones."""
    grid = GRIDS["native"][0]
    raster = runtime.engine.mosaic(_request(runtime, L2A, grid, "nearest"), BANDS)
    zones = {scene.id.split("_")[5][1:3] for scene in raster.scenes}
    assert zones == {"31", "32"}
    assert not raster.valid[:, :20].any() and not raster.valid[:, -20:].any()  # past the files
    assert not raster.valid[:20].any() and not raster.valid[-20:].any()
    assert 0.3 < raster.valid.mean() < 0.95
