"""A pixel's value does not depend on the window asked (issue #11 item 5, and #13's tiles).

QGIS and GDAL read a coverage block by block, tiles come one by one or cut from metatiles: for
one output grid, every aligned sub-window must give the values of the same part of the whole,
per band within 1e-4 reflectance (1 DN of the source), with the same pixels valid. Here at the
engine (``engine.mosaic`` on sub-grids), for nearest, bilinear and cubic, on the L2A JPEG 2000
bands and the mosaics' COGs, zoomed in (OpenCV's kernel), at about the source's resolution in
EPSG:4326 (GDAL's kernels, downsampling along latitude) and zoomed out (file levels), over
both MGRS tiles (UTM 31 and 32) and past every edge of their files; then a WMTS tile alone
against the same tile cut from its metatile, and the OGC API tile against the WMTS one,
whichever door renders first: the same bytes; and GDAL's WCS driver reading a coverage in
blocks against one GetCoverage of the whole.
"""

from __future__ import annotations

from dataclasses import replace

import morecantile
import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from gateway.core.grid import Grid
from gateway.core.request import build_request
from gateway.core.tiles.grids import TileAddress
from gateway.core.tiles.service import TileParams
from gateway.runtime import build_runtime
from tests.support.counting_proxy import CountingProxy
from tests.support.ows_live import live_gateway
from tests.support.pictures import rgba, tile_alone_and_from_metatile
from tests.support.wcs_checks import geotiff, get
from tests.test_ogcapi_runtime import MAPPROXY, OGCAPI, _ogcapi_tile, _wmts_tile

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


# --- a tile alone and cut from its metatile; the OGC API and WMTS doors -----------------------

# (tile matrix set, z, lon, lat, layer): zoomed in (4 x 4 blocks; OpenCV's kernels) and out
# (2 x 2 blocks; file levels, GDAL's downsampling kernels), JP2 (with the SCL cloud mask) and
# COG, by T32ULD's swath edge (nodata in the block, not in the tile), over T31UFU's east file
# edge and both UTM zones; no tile is its block's first.
TILES = [
    ("WebMercatorQuad", 15, 6.1950, 52.6200, "NDVI"),
    ("WebMercatorQuad", 14, 6.1027, 52.6120, "NDVI"),
    ("WebMercatorQuad", 12, 6.0400, 52.6200, "NDVI"),
    ("WorldCRS84Quad", 14, 6.0100, 52.6150, "MOSAIC_NDVI"),
    ("WorldCRS84Quad", 11, 6.0500, 52.6400, "MOSAIC_NDVI"),
]


def _address(scheme: str, z: int, lon: float, lat: float, layer: str) -> TileAddress:
    tile = morecantile.tms.get(scheme).tile(lon, lat, z)
    return TileAddress(layer, scheme, z, tile.x, tile.y, "png")


@pytest.mark.parametrize(("scheme", "z", "lon", "lat", "layer"), TILES)
def test_a_tile_alone_is_the_tile_cut_from_its_metatile(
    sample_settings, scheme, z, lon, lat, layer
):
    """Each in a fresh cache: the tile rendered alone, then its block rendered for it."""
    address = _address(scheme, z, lon, lat, layer)
    params = TileParams(time="2025-06-13" if layer == "NDVI" else "2025-04")
    runtime = build_runtime(sample_settings)
    try:  # the tile service renders blocks of 4 x 4 tiles (2 x 2 below zoom 14)
        assert len(runtime.tiles._block(address)) == (16 if z >= 14 else 4)
    finally:
        runtime.close()
    alone, cut = tile_alone_and_from_metatile(sample_settings, address, params)
    picture = rgba(cut)
    assert (picture[..., 3] == 255).mean() > 0.05  # the tile shows data
    assert alone == cut


@pytest.mark.parametrize(("scheme", "z", "lon", "lat", "layer"), TILES[:3:2])
def test_ogcapi_and_wmts_tiles_are_the_same_whichever_door_renders_first(
    sample_settings, scheme, z, lon, lat, layer
):
    """Two gateways, each with its own fresh tile cache: the OGC API door renders first in
    one, the WMTS door in the other."""
    tile = morecantile.tms.get(scheme).tile(lon, lat, z)
    answers = []
    for fetchers in ((_ogcapi_tile, _wmts_tile), (_wmts_tile, _ogcapi_tile)):
        with live_gateway(sample_settings, doors=(OGCAPI, MAPPROXY)) as url:
            for fetch in fetchers:
                answer = fetch(url, scheme, tile)
                assert answer.status_code == 200, answer.text[:300]
                answers.append(answer.content)
    assert (rgba(answers[0])[..., 3] == 255).mean() > 0.05  # the tile shows data
    assert all(content == answers[0] for content in answers)


# --- GDAL's WCS driver reading a coverage block by block ------------------------------------


@pytest.fixture(scope="module")
def wcs_through_proxy(sample_settings):
    """The WCS door behind a proxy that records each request GDAL makes."""
    with live_gateway(sample_settings) as url:
        proxy = CountingProxy(("127.0.0.1", int(url.rsplit(":", 1)[1]))).start()
        try:
            yield f"http://{proxy.address}/wcs", proxy
        finally:
            proxy.stop()


@pytest.mark.parametrize(
    ("coverage", "interpolation"),
    [(L2A, "nearest"), (L2A, "linear"), (L2A, "cubic"), (MOSAICS, "linear")],
)
def test_gdal_reading_blocks_gets_one_getcoverage_of_the_whole(
    wcs_through_proxy, tmp_path, coverage, interpolation
):
    """GDAL reads 200 x 150 blocks of the coverage grid (each one GetCoverage), from its
    north-west corner (the files' west and north edges) across 6 degrees east (UTM 31 | 32)
    into T32ULD; they must hold the values of one GetCoverage of the whole area."""
    url, proxy = wcs_through_proxy
    bands = "B04,B08"
    source = f"WCS:{url}?version=2.0.1&coverage={coverage}&rangesubset={bands}"
    options = {"CACHE": str(tmp_path), "BlockXSize": "200", "BlockYSize": "150"}
    with rasterio.open(source, Interpolation=interpolation, **options) as ds:
        assert ds.block_shapes == [(150, 200)] * 2 and ds.transform.a == pytest.approx(1e-4)
        area = Window(0, 0, 7 * 200, 4 * 150)
        bounds = ds.window_bounds(area)
        proxy.reset()
        blocks = np.full((2, area.height, area.width), np.nan, dtype=np.float32)
        for row in range(0, area.height, 150):
            for col in range(0, area.width, 200):
                blocks[:, row : row + 150, col : col + 200] = ds.read(
                    window=Window(col, row, 200, 150)
                )
    requests = [h for h in proxy.hits() if "GetCoverage" in h.query]
    assert len(requests) == 28  # one per block
    whole, _, transform, _ = geotiff(
        get(
            url, SERVICE="WCS", VERSION="2.0.1", REQUEST="GetCoverage", COVERAGEID=coverage,
            SUBSET=[f"Long({bounds[0]!r},{bounds[2]!r})", f"Lat({bounds[1]!r},{bounds[3]!r})"],
            RANGESUBSET=bands, INTERPOLATION=interpolation, FORMAT="image/tiff",
        ).content
    )  # fmt: skip
    assert whole.shape == blocks.shape
    assert transform.almost_equals(ds.window_transform(area))
    assert np.isfinite(whole).mean() > 0.5
    assert np.array_equal(np.isfinite(blocks), np.isfinite(whole))
    error = np.abs(blocks - whole)[np.isfinite(whole)]
    assert error.max() <= TOLERANCE, f"{(error > 1e-6).mean():.0%} differ, up to {error.max()}"
