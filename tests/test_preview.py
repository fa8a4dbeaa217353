"""Which source a map reads by the size of its pixels (gateway.core.preview): the layers'
overview source, checked pixel by pixel against plain rasterio reads of the file chosen, and
Sentinel Hub's PREVIEW modes."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
import rasterio

from gateway.config import GatewayConfig, load_config
from gateway.core.engine import Engine
from gateway.core.grid import Grid
from gateway.core.preview import WEB_MERCATOR, ZoomIn, ground_resolution, parse_preview
from gateway.core.request import build_request
from gateway.errors import InvalidParameterValue
from tests.support.expected import asset_path, load_items, ndvi, pixel_centres
from tests.support.request_counts import tile_bounds
from tests.support.wcs_checks import same

L2A = "sentinel-2-l2a"
MOSAICS = "sentinel-2-global-mosaics"
# T31UFU's 12 km sample window (the mosaic's whole file) at 120 m a pixel: coarser than the
# layers' 40 m threshold; each output pixel's centre is the centre of a 40 m overview pixel.
WINDOW = (697780.0, 5828020.0, 709780.0, 5840020.0)
COARSE = 100  # 120 m pixels
DAY = "2025-06-13"


@pytest.fixture(scope="module")
def config() -> GatewayConfig:
    return load_config()


def _request(config, *, width=COARSE, bbox=WINDOW, crs="EPSG:32631", **kwargs):
    kwargs.setdefault("layer", "NDVI")
    kwargs.setdefault("time", DAY)
    return build_request(config, bbox=bbox, crs=crs, width=width, height=width, **kwargs)


def _mosaic_item(archive) -> dict:
    return next(
        item
        for item in load_items(archive, MOSAICS)
        if item["properties"]["grid:code"] == "MGRS-31UFU"
    )


def _overview_values(archive, item, band: str, factor: int, xs, ys) -> np.ndarray:
    """Reflectance of ``band``'s overview of ``factor`` at points (nearest neighbour): the
    level of the COG the reader should choose, read with plain rasterio."""
    path = asset_path(archive, item, band)
    with rasterio.open(path) as full:
        level = full.overviews(1).index(factor)
        nodata = full.nodata
    with rasterio.open(path, overview_level=level) as src:
        dn = src.read(1).astype(np.float64)
        transform = src.transform
    cols = np.floor((xs - transform.c) / transform.a).astype(int)
    rows = np.floor((ys - transform.f) / transform.e).astype(int)
    values = dn[rows, cols] * 0.0001
    values[dn[rows, cols] == nodata] = np.nan
    return values


def test_ground_resolution_of_web_mercator_tiles():
    # z9 at 52.75 N: 305.7 m a Mercator pixel, cos(52.75) of it on the ground.
    grid = Grid(WEB_MERCATOR, tile_bounds(5.55, 52.75, 9), 256, 256)
    assert ground_resolution(grid) == pytest.approx(305.75 * np.cos(np.radians(52.75)), rel=0.02)
    utm = Grid(rasterio.crs.CRS.from_epsg(32631), WINDOW, COARSE, COARSE)
    assert ground_resolution(utm) == pytest.approx(120, rel=0.01)  # UTM: metres, near scale 1


@pytest.mark.parametrize("value", ["3", "-1", "1.5", "yes", "0x1", " 2 ", "１"])
def test_preview_values(value):
    if value.strip() in ("0", "1", "2"):
        assert parse_preview(value, 2) == int(value)
        return
    with pytest.raises(InvalidParameterValue) as caught:
        parse_preview(value, 2)
    assert caught.value.locator == "preview"


def test_zoomed_out_layer_reads_its_overview_source(config):
    coarse = _request(config)
    assert coarse.collection == MOSAICS
    assert coarse.expression == "(B08-B04)/(B08+B04)"
    assert coarse.cloud_mask is False  # the mosaic is cloud-free: no SCL to read
    assert coarse.time.end == datetime(2025, 6, 13, 23, 59, 59, 999999, tzinfo=UTC)
    assert coarse.time.start < datetime(2025, 4, 1, tzinfo=UTC)  # the quarter's mosaic
    fine = _request(config, width=400)  # 30 m pixels: under the threshold
    assert (fine.collection, fine.cloud_mask) == (L2A, True)
    # An expression of the client's own, or a collection named, is read where it was asked.
    assert _request(config, expression="B08").collection == L2A
    assert _request(config, layer=None, collection=L2A, expression="B04").collection == L2A
    # The layer's own, named again (WCS and OGC API coverages of its fields): its source.
    again = _request(config, collection=L2A, expression=" (B08-B04)/(B08+B04) ")
    assert again.collection == MOSAICS
    green = _request(config, layer="TRUE_COLOR", collection=L2A, expression="B03")
    assert (green.collection, green.expression) == (MOSAICS, "B03")
    # Layers whose configuration names no overview source keep their collection.
    assert _request(config, layer="NDWI").collection == L2A


def test_overview_pixels_are_the_mosaic_overview_level(sample_archive, runtime):
    request = _request(runtime.config, format="tiff", resampling="nearest")
    raster = runtime.engine.compute(request)
    item = _mosaic_item(sample_archive)
    xs, ys = pixel_centres(WINDOW, COARSE, COARSE)
    red = _overview_values(sample_archive, item, "B04", 4, xs, ys)
    nir = _overview_values(sample_archive, item, "B08", 4, xs, ys)
    data = np.where(raster.valid, raster.data[0], np.nan)
    assert {scene.collection for scene in raster.scenes} == {MOSAICS}
    # Where T31UFU's mosaic gave the pixel (T32ULD's shares the window's east edge).
    ids = [scene.id for scene in raster.scenes]
    mine = raster.source == ids.index(item["id"])
    assert mine.mean() > 0.6
    assert same(data[mine], ndvi(nir, red)[mine]).all()
    assert np.isfinite(data).mean() > 0.95


def test_true_colour_tile_of_the_wmts_door_is_the_mosaic(sample_archive, runtime):
    # A z11 tile (46 m pixels) through the tile service, the WMTS and OGC API doors' path.
    from gateway.core.tiles.grids import TileAddress
    from gateway.core.tiles.service import TileParams

    address = TileAddress("TRUE_COLOR", "WebMercatorQuad", 11, 1058, 670, "png")
    request = runtime.tiles.request(address, TileParams(time=DAY))
    assert request.collection == MOSAICS and request.expression == "B04;B03;B02"
    raster = runtime.engine.compute(request)
    assert {scene.collection for scene in raster.scenes} == {MOSAICS}
    assert raster.valid.mean() > 0.05


@pytest.mark.parametrize(
    ("mode", "zoom", "outcome"),
    [
        (0, 9, "zoom in"),  # 185 m: under 200 m, but the test sets 150 m
        (0, 8, "zoom in"),  # 370 m
        (1, 8, "preview"),
        (1, 5, "zoom in"),  # 2,960 m: beyond 1,500 m
        (2, 5, "last month"),
        (2, 13, "full"),
    ],
)
def test_preview_modes(config, mode, zoom, outcome):
    files = _without_overview(config)
    bounds = tile_bounds(6.0, 52.6, zoom)
    build = dict(bbox=bounds, crs="EPSG:3857", width=256, time="2025-01-01/2025-06-30")
    if zoom == 9 and mode == 0:
        files = files.model_copy(
            update={"preview": files.preview.model_copy(update={"full_max_m": 150.0})}
        )
    if outcome == "zoom in":
        with pytest.raises(ZoomIn) as caught:
            _request(files, preview=str(mode), **build)
        assert caught.value.locator == "preview" and "zoom in" in caught.value.message
        assert caught.value.code == "InvalidParameterValue"
        return
    request = _request(files, preview=str(mode), **build)
    assert request.preview is (outcome != "full")
    days = (request.time.end - request.time.start).days
    assert days == (31 if outcome == "last month" else 180)
    assert request.cloud_mask is True  # clouds stay masked in a preview


def _without_overview(config: GatewayConfig) -> GatewayConfig:
    layers = tuple(layer.model_copy(update={"overview": None}) for layer in config.layers)
    return config.model_copy(update={"layers": layers})


def test_a_preview_reads_its_first_scenes_only(runtime):
    config = runtime.config
    bounded = config.model_copy(
        update={"preview": config.preview.model_copy(update={"max_scenes": 1})}
    )
    engine = Engine(bounded, runtime.engine.catalog, runtime.engine.reader)
    # 300 m pixels over both sample tiles, a month of scenes, product files only.
    bounds = (5.9, 52.5, 6.3, 52.7)
    params = dict(bbox=bounds, crs="EPSG:4326", width=96, time="2025-06", layer="NDWI")
    preview = _request(bounded, **params)
    assert preview.preview is True
    assert len(engine.search(preview)) > 1
    assert len(engine.compute(preview).scenes) == 1
    full = _request(bounded, preview="0", **{**params, "width": 1024})  # 27 m
    assert full.preview is False
    assert len(engine.compute(full).scenes) > 1


def test_configuration_refuses_an_overview_without_the_bands(config):
    data = config.model_dump()
    ndwi = next(layer for layer in data["layers"] if layer["name"] == "NDMI")
    ndwi["overview"] = {"collection": MOSAICS, "beyond_m": 40}  # B11: not in the mosaics
    with pytest.raises(ValueError, match="overview"):
        GatewayConfig.model_validate(data)
    ndwi["overview"] = {"collection": "nowhere", "beyond_m": 40}
    with pytest.raises(ValueError, match="unknown overview"):
        GatewayConfig.model_validate(data)
