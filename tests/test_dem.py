"""The Copernicus DEM through the doors: heights as float32, slope and hillshade checked
against an independent numpy Horn (ellipsoid distances written out here) and ``gdaldem``,
and the same pixels whichever window asks for them (WCS blocks, WMS maps, WMTS tiles).

The heights a terrain layer starts from are fetched through the same door (the ELEVATION
coverage on the grid grown by one pixel); the references never call ``gateway.core.terrain``.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import morecantile
import numpy as np
import pytest
import rasterio
from owslib.wms import WebMapService
from PIL import Image
from rasterio.crs import CRS
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from gateway.core.grid import Grid
from gateway.core.request import build_request
from gateway.core.tiles.grids import TileAddress
from gateway.core.tiles.service import TileParams
from tests.support.ogr import feature_count
from tests.support.ows_live import OWS_DOORS, live_gateway
from tests.support.pictures import tile_alone_and_from_metatile
from tests.support.wcs_checks import geotiff, get

GLO30, GLO90 = "cop-dem-glo-30-dged-cog", "cop-dem-glo-90-dged-cog"
OGCAPI = "gateway.ogcapi.door:build_door"
MAPPROXY = "gateway.ows.mapproxy.door:build_door"
A, E2 = 6378137.0, 0.00669437999014  # WGS84 semi-major axis, first eccentricity squared
SUN_AZIMUTH, SUN_ALTITUDE = 315.0, 45.0
TOLERANCE = 1e-4  # degrees of slope, hillshade levels (1-255)


def _web_mercator_grid(step: float) -> Grid:
    """A Web Mercator grid of ``step`` m pixels over the hills, edges on multiples of it."""
    bounds = transform_bounds(4326, 3857, 5.96, 52.585, 6.14, 52.655)
    minx, miny, maxx, maxy = (round(v / step) * step for v in bounds)
    width, height = round((maxx - minx) / step), round((maxy - miny) / step)
    return Grid(CRS.from_epsg(3857), (minx, miny, maxx, maxy), width, height)


# Grids over the sample's hills (GLO-30 is read: pixels finer than 90 m).
GRIDS = {
    # 25 m Web Mercator pixels (~15 m on the ground at 52.6° N).
    "3857": _web_mercator_grid(25.0),
    # 0.0004° x 0.00025° (27 x 28 m).
    "4326": Grid(CRS.from_epsg(4326), (5.96, 52.59, 6.12, 52.65), 400, 240),
    # 30 m UTM 31N pixels: the grid gdaldem is given.
    "32631": Grid(CRS.from_epsg(32631), (700020.0, 5828010.0, 709020.0, 5835510.0), 300, 250),
}


def padded(grid: Grid) -> Grid:
    minx, miny, maxx, maxy = grid.bounds
    rx, ry = grid.resolution
    return Grid(
        grid.crs, (minx - rx, miny - ry, maxx + rx, maxy + ry), grid.width + 2, grid.height + 2
    )


@pytest.fixture(scope="module")
def server(sample_settings):
    with live_gateway(sample_settings, doors=(*OWS_DOORS, OGCAPI, MAPPROXY)) as url:
        yield url


def coverage(url: str, layer: str, grid: Grid, interpolation: str = "linear") -> np.ndarray:
    """One GetCoverage (WCS 2.0.1, GeoTIFF) of ``layer``'s coverage on ``grid``, band 1."""
    epsg = grid.crs.to_epsg()
    minx, miny, maxx, maxy = grid.bounds
    crs = f"http://www.opengis.net/def/crs/EPSG/0/{epsg}"
    if epsg == 4326:
        subsets = [f"Long({minx!r},{maxx!r})", f"Lat({miny!r},{maxy!r})"]
    else:
        subsets = [f"E({minx!r},{maxx!r})", f"N({miny!r},{maxy!r})"]
    coverage_id = layer if layer in (GLO30, GLO90) else f"{GLO30}__{layer}"
    answer = get(
        f"{url}/wcs", SERVICE="WCS", VERSION="2.0.1", REQUEST="GetCoverage",
        COVERAGEID=coverage_id, SUBSET=subsets, SUBSETTINGCRS=crs, OUTPUTCRS=crs,
        SCALESIZE=f"i({grid.width}),j({grid.height})", INTERPOLATION=interpolation,
        FORMAT="image/tiff",
    )  # fmt: skip
    assert answer.status_code == 200, answer.text[:500]
    data, out_crs, transform, _ = geotiff(answer.content)
    assert data.dtype == np.float32 and out_crs.to_epsg() == epsg
    assert data.shape == (1, grid.height, grid.width)
    assert transform.c == pytest.approx(minx) and transform.f == pytest.approx(maxy)
    return data[0]


# --- the independent reference --------------------------------------------------------------


def ground_steps(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Ground metres of one column and one row at each row's pixel centres, from the
    ellipsoid's radii of curvature (written out, no pyproj): (h, 1) arrays."""
    _, _, _, maxy = grid.bounds
    rx, ry = grid.resolution
    y = maxy - (np.arange(grid.height) + 0.5) * ry
    epsg = grid.crs.to_epsg()
    if epsg == 3857:
        lat = np.pi / 2 - 2 * np.arctan(np.exp(-y / A))
        dlon, dlat = rx / A, ry * np.cos(lat) / A
    else:
        assert epsg == 4326
        lat = np.radians(y)
        dlon, dlat = np.radians(rx), np.radians(ry)
    w = 1 - E2 * np.sin(lat) ** 2
    east = A / np.sqrt(w) * np.cos(lat) * dlon  # prime vertical radius x cos(lat)
    south = A * (1 - E2) / w**1.5 * dlat  # meridian radius
    return east[:, None], south[:, None]


def horn(z: np.ndarray, east, south) -> tuple[np.ndarray, np.ndarray]:
    """dz/dx (east) and dz/dy (north) of the inside of ``z`` with Horn's kernels."""
    kx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)
    ky = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], dtype=np.float64)
    h, w = z.shape[0] - 2, z.shape[1] - 2
    gx = sum(kx[r, c] * z[r : r + h, c : c + w] for r in range(3) for c in range(3))
    gy = sum(ky[r, c] * z[r : r + h, c : c + w] for r in range(3) for c in range(3))
    return gx / (8 * east), gy / (8 * south)


def reference(kind: str, heights: np.ndarray, grid: Grid) -> np.ndarray:
    """Slope (degrees) or hillshade (1-255) of ``grid`` from the heights of its padded grid."""
    east, south = ground_steps(grid)
    p, q = horn(heights.astype(np.float64), east, south)
    if kind == "SLOPE":
        return np.degrees(np.arctan(np.sqrt(p * p + q * q)))
    az, alt = math.radians(SUN_AZIMUTH), math.radians(SUN_ALTITUDE)
    sun = np.array([math.sin(az) * math.cos(alt), math.cos(az) * math.cos(alt), math.sin(alt)])
    normal = np.stack([-p, -q, np.ones_like(p)]) / np.sqrt(1 + p * p + q * q)
    lit = np.tensordot(sun, normal, axes=1)
    return 1 + 254 * np.clip(lit, 0, None)


# --- heights ---------------------------------------------------------------------------------


def test_elevation_is_the_files_float32_heights(server, sample_archive: Path):
    """On the GLO-30 file's own grid, nearest: exactly the file's pixels, in metres."""
    name = "Copernicus_DSM_COG_10_N52_00_E006_00_DEM"
    path = sample_archive / "eodata/auxdata/CopDEM_COG/copernicus-dem-30m" / name / f"{name}.tif"
    with rasterio.open(path) as src:
        window = Window(100, 1000, 240, 180)
        expected = src.read(1, window=window)
        bounds = src.window_bounds(window)
    for layer in (GLO30, "ELEVATION"):
        got = coverage(server, layer, Grid(CRS.from_epsg(4326), bounds, 240, 180), "nearest")
        assert np.array_equal(got, expected)
    described = get(
        f"{server}/wcs", SERVICE="WCS", VERSION="2.0.1", REQUEST="DescribeCoverage",
        COVERAGEID=f"{GLO30}__ELEVATION",
    ).text  # fmt: skip
    assert 'code="m"' in described


def test_zoomed_out_elevation_reads_glo90(server, runtime, sample_archive: Path):
    """Pixels of ~110 m read GLO-90: nearest picks its pixels."""
    grid = Grid(CRS.from_epsg(4326), (5.9, 52.55, 6.3, 52.7), 240, 135)
    request = build_request(
        runtime.config, bbox=grid.bounds, crs="EPSG:4326", width=240, height=135,
        layer="ELEVATION", format="tiff",
    )  # fmt: skip
    assert request.collection == GLO90
    got = coverage(server, "ELEVATION", grid, "nearest")
    rx, ry = grid.resolution
    lon = grid.bounds[0] + (np.arange(grid.width) + 0.5) * rx
    lat = grid.bounds[3] - (np.arange(grid.height) + 0.5) * ry
    expected = np.full(got.shape, np.nan, dtype=np.float32)
    for cell in ("E005", "E006"):
        name = f"Copernicus_DSM_COG_30_N52_00_{cell}_00_DEM"
        path = (
            sample_archive / "eodata/auxdata/CopDEM_COG/copernicus-dem-90m" / name / f"{name}.tif"
        )
        with rasterio.open(path) as src:
            rows = np.floor((src.bounds.top - lat) / src.res[1]).astype(int)
            cols = np.floor((lon - src.bounds.left) / src.res[0]).astype(int)
            inside = (cols >= 0) & (cols < src.width)
            z = src.read(1)
            expected[:, inside] = z[np.ix_(rows, cols[inside])]
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("collection", [GLO30, GLO90])
@pytest.mark.parametrize("rim", ["north", "west"])
def test_the_files_half_pixel_rim_beyond_the_cell_is_read(runtime, sample_archive, collection, rim):
    """Items' footprints are the whole-degree cell, N52E006's file reaches half a pixel north
    and west of it: a request lying wholly in that rim (north of 53°, where no cell is; west
    of 6°, in N52E005's cell) still reads the file (``footprint_pad``), its pixels by nearest."""
    folder = "copernicus-dem-30m" if collection == GLO30 else "copernicus-dem-90m"
    name = f"Copernicus_DSM_COG_{'10' if collection == GLO30 else '30'}_N52_00_E006_00_DEM"
    with rasterio.open(
        sample_archive / "eodata/auxdata/CopDEM_COG" / folder / name / f"{name}.tif"
    ) as src:
        z, (dx, dy), (west, top) = src.read(1), src.res, (src.bounds.left, src.bounds.top)
    quarter = (top - 53.0) / 2  # a quarter pixel: the rim is two quarters wide
    if rim == "north":  # 8 x 1 pixels in the rim's middle, over columns 360..367
        bounds, width, height = (
            (west + 360 * dx, 53 + quarter / 2, west + 368 * dx, top - quarter / 2),
            8,
            1,
        )
    else:  # 1 x 8 pixels over rows 600..607
        bounds, width, height = (
            (west + quarter / 2, top - 608 * dy, 6.0 - quarter / 2, top - 600 * dy),
            1,
            8,
        )
    request = build_request(
        runtime.config, bbox=bounds, crs="EPSG:4326", width=width, height=height,
        collection=collection, expression="DEM", format="tiff", resampling="nearest",
    )  # fmt: skip
    got, *_ = geotiff(runtime.engine.render(request).content)
    expected = z[0, 360:368][None] if rim == "north" else z[600:608, 0][:, None]
    assert np.array_equal(got[0], expected)


# --- slope and hillshade -----------------------------------------------------------------------


@pytest.mark.parametrize("crs", ["3857", "4326"])
@pytest.mark.parametrize("kind", ["SLOPE", "HILLSHADE"])
def test_terrain_equals_numpy_horn_on_ground_distances(server, crs, kind):
    grid = GRIDS[crs]
    heights = coverage(server, "ELEVATION", padded(grid))
    assert np.isfinite(heights).all()
    got = coverage(server, kind, grid)
    expected = reference(kind, heights, grid)
    tolerance = 1e-3 if kind == "SLOPE" else 1e-2  # degrees; hillshade on 1-255
    assert np.abs(got - expected).max() < tolerance
    spread = (got.min(), got.max())
    assert spread[1] - spread[0] > (8 if kind == "SLOPE" else 40), spread  # real relief


def _gdaldem() -> str:
    found = shutil.which("gdaldem")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("gdaldem (gdal-bin) is missing")
        pytest.skip("gdaldem (gdal-bin) is not installed")
    return found


@pytest.mark.parametrize(
    ("kind", "args"),
    [("SLOPE", ["slope"]), ("HILLSHADE", ["hillshade", "-az", "315", "-alt", "45"])],
)
def test_terrain_equals_gdaldem_on_a_utm_grid(server, tmp_path: Path, kind, args):
    """UTM metres are ground metres within the projection's scale (1.0001 here)."""
    gdaldem = _gdaldem()
    grid = GRIDS["32631"]
    outer = padded(grid)
    heights = coverage(server, "ELEVATION", outer)
    source = tmp_path / "dem.tif"
    with rasterio.open(
        source, "w", driver="GTiff", width=outer.width, height=outer.height, count=1,
        dtype="float32", crs=outer.crs, transform=outer.transform,
    ) as dst:  # fmt: skip
        dst.write(heights, 1)
    target = tmp_path / "out.tif"
    subprocess.run([gdaldem, *args, str(source), str(target), "-q"], check=True)
    with rasterio.open(target) as src:
        expected = src.read(1).astype(np.float64)[1:-1, 1:-1]
    got = coverage(server, kind, grid)
    if kind == "SLOPE":
        assert np.abs(got - expected).max() < 0.02
    else:  # gdaldem writes bytes
        assert np.abs(got - expected).max() <= 1.0
        assert (np.abs(got - expected) <= 0.5).mean() > 0.99


# --- the same pixels whichever window asks ----------------------------------------------------


@pytest.mark.parametrize("crs", ["3857", "4326"])
@pytest.mark.parametrize("kind", ["SLOPE", "HILLSHADE"])
def test_blocks_hold_the_values_of_the_whole(server, crs, kind):
    """Blocks of 137 x 91 pixels, each its own GetCoverage, hold the values of one GetCoverage
    of the whole, edges and corners included: within float32 rounding (a block's bounds are
    the whole's plus a multiple of the resolution, so pixel centres move by ~1e-15)."""
    grid = GRIDS[crs]
    whole = coverage(server, kind, grid)
    for row in (0, 91):
        for col in (0, 137, 274):
            block = coverage(server, kind, grid_window(grid, col, row, 137, 91))
            cut = whole[row : row + 91, col : col + 137]  # the last block runs past it
            error = np.abs(block[: cut.shape[0], : cut.shape[1]] - cut)
            assert error.max() <= TOLERANCE, (row, col, error.max())


def grid_window(grid: Grid, col: int, row: int, width: int, height: int) -> Grid:
    minx, _, _, maxy = grid.bounds
    rx, ry = grid.resolution
    left, top = minx + col * rx, maxy - row * ry
    return Grid(grid.crs, (left, top - height * ry, left + width * rx, top), width, height)


def _picture(content: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(content)).convert("RGBA"))


@pytest.mark.parametrize("layer", ["HILLSHADE", "SLOPE", "ELEVATION"])
def test_owslib_wms_quarters_are_the_whole_map(server, layer):
    """OWSLib's GetMap of a 512 px map and of its four quarters: the same pixels."""
    wms = WebMapService(f"{server}/wms", version="1.3.0")
    assert layer in wms.contents
    minx, _, _, maxy = GRIDS["3857"].bounds
    size, half, step = 512, 256, 256 * 20.0  # 20 m pixels

    def getmap(left: float, top: float, width: int) -> np.ndarray:
        bbox = (left, top - width * 20.0, left + width * 20.0, top)
        answer = wms.getmap(
            layers=[layer], styles=[""], srs="EPSG:3857", bbox=bbox, size=(width, width),
            format="image/png", transparent=True,
        )  # fmt: skip
        return _picture(answer.read())

    whole = getmap(minx, maxy, size)
    assert (whole[..., 3] == 255).all()
    assert len(np.unique(whole.reshape(-1, 4), axis=0)) > 20  # shaded, not flat
    for i in range(2):
        for j in range(2):
            quarter = getmap(minx + j * step, maxy - i * step, half)
            cut = whole[i * half : (i + 1) * half, j * half : (j + 1) * half]
            assert np.array_equal(quarter, cut), (i, j)


@pytest.mark.parametrize("scheme", ["WebMercatorQuad", "WorldCRS84Quad"])
def test_a_terrain_tile_alone_is_the_tile_cut_from_its_metatile(sample_settings, scheme):
    tile = morecantile.tms.get(scheme).tile(6.05, 52.62, 13)
    address = TileAddress("HILLSHADE", scheme, tile.z, tile.x, tile.y, "png")
    alone, cut = tile_alone_and_from_metatile(sample_settings, address, TileParams())
    assert (_picture(cut)[..., 3] == 255).all()
    assert alone == cut


def test_ogcapi_tile_and_coverage(server):
    """OGC API Tiles serves the WMTS tile's bytes; OGC API Coverages the WCS values."""
    tile = morecantile.tms.get("WebMercatorQuad").tile(6.05, 52.62, 13)
    ogc = httpx.get(
        f"{server}/ogcapi/collections/SLOPE/tiles/WebMercatorQuad/{tile.z}/{tile.y}/{tile.x}",
        params={"f": "png"}, timeout=60,
    )  # fmt: skip
    wmts = httpx.get(
        f"{server}/wmts/1.0.0/SLOPE/WebMercatorQuad/default/{tile.z}/{tile.x}/{tile.y}.png",
        timeout=60,
    )
    assert ogc.status_code == 200 and wmts.status_code == 200, (ogc.text[:300], wmts.text[:300])
    assert ogc.content == wmts.content
    grid = GRIDS["4326"]
    bbox = ",".join(repr(v) for v in grid.bounds)
    answer = httpx.get(
        f"{server}/ogcapi/collections/SLOPE/coverage",
        params={"f": "GTiff", "bbox": bbox, "scale-size": f"Lon({grid.width}),Lat({grid.height})"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text[:300]
    data, crs, _, _ = geotiff(answer.content)
    assert data.shape == (1, grid.height, grid.width)
    assert np.array_equal(data[0], coverage(server, "SLOPE", grid))
    assert crs.to_epsg() == 4326


# --- OGC API Processes --------------------------------------------------------------------------


def _execute(server: str, process: str, inputs: dict) -> httpx.Response:
    answer = httpx.post(
        f"{server}/ogcapi/processes/{process}/execution", json={"inputs": inputs}, timeout=300
    )
    assert answer.status_code == 200, answer.text[:500]
    return answer


def test_band_math_on_the_dem_band_is_float32_metres(server):
    """band-math on DEM in EPSG:32631: a float32 GeoTIFF of the ELEVATION coverage's values."""
    grid = GRIDS["32631"]
    inputs = {
        "expression": "DEM - 10", "collection": GLO30, "bbox": list(grid.bounds),
        "crs": "EPSG:32631", "resolution": 30, "format": "cog",
    }  # fmt: skip
    data, crs, transform, _ = geotiff(_execute(server, "band-math", inputs).content)
    assert crs.to_epsg() == 32631 and data.dtype == np.float32
    assert data.shape == (1, grid.height, grid.width)
    assert transform.almost_equals(grid.transform)
    expected = coverage(server, "ELEVATION", grid) - np.float32(10)
    assert np.abs(data[0] - expected).max() < 1e-4


def test_statistics_of_slope_match_the_coverage(server):
    """statistics of SLOPE (a terrain layer) over a UTM box: numpy on the SLOPE coverage."""
    grid = GRIDS["32631"]
    inputs = {
        "expression": "SLOPE", "bbox": list(grid.bounds), "crs": "EPSG:32631",
        "resolution": 30, "percentiles": [50],
    }  # fmt: skip
    rows = _execute(server, "statistics", inputs).json()["data"]
    assert rows  # the default period's months: each reads the same (timeless) heights
    expected = coverage(server, "SLOPE", grid).astype(np.float64)
    for row in rows:
        stats = row["outputs"]["SLOPE"]["stats"]
        assert row["validCount"] == expected.size
        for key, value in (
            ("min", expected.min()),
            ("max", expected.max()),
            ("mean", expected.mean()),
        ):
            assert stats[key] == pytest.approx(value, abs=1e-4), key
        assert stats["percentiles"]["50"] == pytest.approx(np.median(expected), abs=1e-3)


# --- TIME and GDAL's WCS driver ------------------------------------------------------------------


def test_time_is_not_read_for_the_dem(server, runtime):
    """The DEM is timeless: a TIME of the Sentinel-2 days (or any) reads the same heights."""
    grid = GRIDS["4326"]
    pictures = []
    for time in (None, "2025-06-13", "2019-01-01/2019-02-01"):
        answer = get(
            f"{server}/wms", SERVICE="WMS", VERSION="1.3.0", REQUEST="GetMap", LAYERS="HILLSHADE",
            STYLES="", CRS="EPSG:4326", BBOX="52.59,5.96,52.65,6.12", WIDTH="400", HEIGHT="150",
            FORMAT="image/png", **({"TIME": time} if time else {}),
        )  # fmt: skip
        assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
        pictures.append(_picture(answer.content))
    assert (pictures[0][..., 3] == 255).all()
    assert all(np.array_equal(p, pictures[0]) for p in pictures)
    request = build_request(
        runtime.config, bbox=grid.bounds, crs="EPSG:4326", width=40, height=24, layer="SLOPE",
        time="2025-06-13", times=runtime.times, format="tiff",
    )  # fmt: skip
    assert runtime.engine.compute(request).valid.all()


def test_gdal_wcs_driver_reads_slope_in_blocks_like_one_getcoverage(server, tmp_path: Path):
    """GDAL's WCS 2.0.1 driver reads SLOPE in 200 x 150 blocks (one GetCoverage each): the
    values of one GetCoverage of the whole area."""
    coverage_id = f"{GLO30}__SLOPE"
    source = f"WCS:{server}/wcs?version=2.0.1&coverage={coverage_id}"
    options = {"CACHE": str(tmp_path), "BlockXSize": "200", "BlockYSize": "150"}
    with rasterio.open(source, **options) as ds:
        assert ds.crs.to_epsg() == 4326 and ds.dtypes[0] == "float32"
        col, row = ds.index(5.97, 52.64)[::-1]
        col, row = col // 200 * 200, row // 150 * 150
        area = Window(col, row, 3 * 200, 2 * 150)
        blocks = np.stack(
            [
                np.concatenate(
                    [ds.read(1, window=Window(c, r, 200, 150)) for c in range(col, col + 600, 200)],
                    axis=1,
                )
                for r in range(row, row + 300, 150)
            ]
        ).reshape(300, 600)
        bounds = ds.window_bounds(area)
    whole = coverage(server, "SLOPE", Grid(CRS.from_epsg(4326), bounds, 600, 300))
    assert np.isfinite(whole).all() and whole.max() > 2
    assert np.abs(blocks - whole).max() <= TOLERANCE


# --- the items: WFS (ogrinfo) and OGC API Features -------------------------------------------


def _dem_items(archive: Path, collection: str) -> list[dict]:
    path = archive / "stac" / "collections" / collection / "items.ndjson"
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("collection", [GLO30, GLO90])
def test_ogrinfo_lists_and_counts_the_dem_tiles(server, sample_archive: Path, collection):
    """GDAL's WFS driver counts the collection's 1° tiles, and the one west of 6° E alone."""
    items = _dem_items(sample_archive, collection)
    source, layer = f"WFS:{server}/wfs", f"cdse:{collection}"
    assert feature_count(source, layer) == len(items) == 2
    west = [i for i in items if i["bbox"][2] <= 6.0]  # the cell 5°-6° E (its footprint)
    assert feature_count(source, layer, "-spat", "5.2", "52.2", "5.5", "52.5") == len(west) == 1


@pytest.mark.parametrize("collection", [GLO30, GLO90])
def test_ogcapi_items_page_is_the_dem_tiles(server, sample_archive: Path, collection):
    items = {item["id"]: item for item in _dem_items(sample_archive, collection)}
    answer = httpx.get(
        f"{server}/ogcapi/collections/{collection}/items", params={"f": "json"}, timeout=60
    )
    assert answer.status_code == 200, answer.text[:300]
    page = answer.json()
    assert page["numberMatched"] == page["numberReturned"] == len(items) == 2
    for feature in page["features"]:
        item = items[feature["id"]]
        assert feature["geometry"] == item["geometry"]
        assert feature["properties"]["assets"]["data"] == item["assets"]["data"]["href"]
        assert feature["properties"]["datetime"][:19] == item["properties"]["datetime"][:19]
