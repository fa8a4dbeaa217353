"""WMS GetMaps that ask for exactly one WMTS tile are answered from the shared tile cache.

Tiled WMS clients (OpenLayers TileWMS, QGIS tiled WMS, Leaflet ``L.tileLayer.wms``) ask
tile-sized maps on a tile grid. After a WMTS GetTile of a tile, the WMS GetMap of that tile
must be a Redis hit with the very same bytes (no new key, no render), its pixels those of
the engine's render of the tile; any other GetMap goes through MapProxy as before.
"""

from __future__ import annotations

import httpx
import morecantile
import numpy as np
import pytest

from gateway.core.request import build_request
from gateway.core.tiles.grids import TileGrids
from tests.support.mapproxy_live import CountingCompute, live_server
from tests.support.pictures import assert_same_picture, engine_tile, rgba

DAY = "2025-06-13"


@pytest.fixture(scope="module")
def live(sample_settings, redis_server):
    redis_server.start()
    with live_server(sample_settings.model_copy(update={"redis_url": redis_server.url})) as server:
        yield server


def _bbox(tms: str, z: int, x: int, y: int, axis_ne: bool = False) -> str:
    """The tile's box as a client writes it (morecantile's float arithmetic, not MapProxy's)."""
    b = morecantile.tms.get(tms).xy_bounds(x, y, z)
    values = (b.bottom, b.left, b.top, b.right) if axis_ne else (b.left, b.bottom, b.right, b.top)
    return ",".join(repr(v) for v in values)


# (client, WMS params, WMTS tile matrix set, z, x, y, engine tile matrix set, size, extra)
CASES = {
    "openlayers-130-3857-png": (
        {"VERSION": "1.3.0", "CRS": "EPSG:3857", "FORMAT": "image/png", "TRANSPARENT": "TRUE"},
        "WebMercatorQuad", 13, 4233, 2683, 256, {},
    ),
    "leaflet-111-3857-jpeg": (
        {"VERSION": "1.1.1", "SRS": "EPSG:3857", "FORMAT": "image/jpeg", "TRANSPARENT": "false"},
        "WebMercatorQuad", 13, 4232, 2683, 256, {},
    ),
    "qgis-130-4326-latlon": (
        {"VERSION": "1.3.0", "CRS": "EPSG:4326", "FORMAT": "image/png", "TRANSPARENT": "TRUE"},
        "WorldCRS84Quad", 12, 4234, 850, 256, {},
    ),
    "111-4326-512": (
        {"VERSION": "1.1.1", "SRS": "EPSG:4326", "FORMAT": "image/png", "TRANSPARENT": "TRUE"},
        "WorldCRS84Quad512", 11, 2117, 425, 512, {},
    ),
    "130-crs84-webp": (
        {"VERSION": "1.3.0", "CRS": "CRS:84", "FORMAT": "image/webp", "TRANSPARENT": "TRUE"},
        "WorldCRS84Quad", 12, 4233, 850, 256, {},
    ),
    "512-with-sentinel-hub-params": (
        {"VERSION": "1.3.0", "CRS": "EPSG:3857", "FORMAT": "image/png", "TRANSPARENT": "TRUE"},
        "WebMercatorQuad512", 12, 2116, 1341, 512,
        {"MAXCC": "50", "PRIORITY": "leastCC", "EXPRESSION": "(B03-B08)/(B03+B08)",
         "STYLES": "greyscale", "TIME": "2025-05-01/2025-06-30"},
    ),
}  # fmt: skip


def _getmap(wms: dict, tms: str, z: int, x: int, y: int, size: int, extra: dict) -> dict:
    axis_ne = wms["VERSION"] == "1.3.0" and wms.get("CRS") == "EPSG:4326"
    return {
        "SERVICE": "WMS", "REQUEST": "GetMap", "LAYERS": "NDVI", "STYLES": "", "TIME": DAY,
        "BBOX": _bbox(tms.removesuffix("512"), z, x, y, axis_ne), "WIDTH": str(size),
        "HEIGHT": str(size), **wms, **extra,
    }  # fmt: skip


def _gettile(live, tms, z, x, y, fmt, extra: dict) -> httpx.Response:
    params = {
        "SERVICE": "WMTS", "REQUEST": "GetTile", "VERSION": "1.0.0", "LAYER": "NDVI",
        "STYLE": extra.get("STYLES", "default"), "TILEMATRIXSET": tms, "TILEMATRIX": str(z),
        "TILECOL": str(x), "TILEROW": str(y), "FORMAT": fmt, "TIME": DAY,
        **{k: v for k, v in extra.items() if k != "STYLES"},
    }  # fmt: skip
    return httpx.get(f"{live.url}/wmts", params=params, timeout=60)


@pytest.mark.parametrize("case", list(CASES))
def test_tile_aligned_getmap_is_the_wmts_tile_from_the_cache(live, redis_client, case):
    wms, tms, z, x, y, size, extra = CASES[case]
    tile = _gettile(live, tms, z, x, y, wms["FORMAT"], extra)
    assert tile.status_code == 200, tile.text
    keys, stats = redis_client.dbsize(), live.runtime.cache.stats.snapshot()
    with CountingCompute(live.runtime) as counter:
        response = httpx.get(f"{live.url}/wms", params=_getmap(wms, tms, z, x, y, size, extra))
    assert response.status_code == 200, response.text
    assert counter.calls == 0
    assert response.headers["x-cache"] == "hit"
    assert response.headers["content-type"] == tile.headers["content-type"] == wms["FORMAT"]
    assert response.content == tile.content
    after = live.runtime.cache.stats.snapshot()
    assert redis_client.dbsize() == keys and after["sets"] == stats["sets"]
    assert after["hits"] > stats["hits"]
    # Its pixels are the engine's render of that tile (from a metatile: a level or so off).
    engine = {"layer": "NDVI", "time": extra.get("TIME", DAY), "format": wms["FORMAT"]}
    for name, key in (("MAXCC", "maxcc"), ("PRIORITY", "order"), ("EXPRESSION", "expression")):
        if name in extra:
            engine[key] = extra[name]
    if "STYLES" in extra:
        engine["style"] = extra["STYLES"]
    expected = engine_tile(live.runtime, tms.removesuffix("512"), z, x, y, size, **engine)
    picture = rgba(response.content)
    assert (picture[..., 3] == 255).mean() > 0.3  # there is data in it
    assert_same_picture(picture, expected)


def _engine_map(runtime, bbox, crs, size, **kwargs) -> np.ndarray:
    request = build_request(
        runtime.config, layer="NDVI", bbox=bbox, crs=crs, width=size, height=size, time=DAY,
        **kwargs,
    )  # fmt: skip
    return rgba(runtime.engine.render(request).content)


def test_other_getmaps_go_through_mapproxy_as_before(live):
    """Off the grid, not transparent, two layers: MapProxy renders (no x-cache header)."""
    base = {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "NDVI",
            "STYLES": "", "CRS": "EPSG:3857", "FORMAT": "image/png", "TRANSPARENT": "TRUE",
            "TIME": DAY, "WIDTH": "256", "HEIGHT": "256"}  # fmt: skip
    tile = morecantile.tms.get("WebMercatorQuad").xy_bounds(4233, 2683, 13)
    half = (tile.right - tile.left) / 2
    shifted = (tile.left + half, tile.bottom, tile.right + half, tile.top)
    off_grid = httpx.get(
        f"{live.url}/wms", params={**base, "BBOX": ",".join(map(repr, shifted))}, timeout=60
    )
    assert off_grid.status_code == 200 and "x-cache" not in off_grid.headers
    assert (rgba(off_grid.content) == _engine_map(live.runtime, shifted, "EPSG:3857", 256)).all()
    # STYLES reaches the engine through MapProxy too (MapProxy itself knows only the default).
    styled = httpx.get(
        f"{live.url}/wms",
        params={**base, "BBOX": ",".join(map(repr, shifted)), "STYLES": "greyscale"},
        timeout=60,
    )
    assert styled.status_code == 200 and "x-cache" not in styled.headers
    grey = _engine_map(live.runtime, shifted, "EPSG:3857", 256, style="greyscale")
    assert (rgba(styled.content) == grey).all()
    assert (grey != rgba(off_grid.content)).any()
    aligned = ",".join(map(repr, tile))
    opaque = httpx.get(
        f"{live.url}/wms", params={**base, "BBOX": aligned, "TRANSPARENT": "FALSE"}, timeout=60
    )
    assert opaque.status_code == 200 and "x-cache" not in opaque.headers
    assert (rgba(opaque.content)[..., 3] == 255).all()  # on MapProxy's white, not transparent
    two = httpx.get(
        f"{live.url}/wms", params={**base, "BBOX": aligned, "LAYERS": "NDVI,TRUE_COLOR"},
        timeout=60,
    )  # fmt: skip
    assert two.status_code == 200 and "x-cache" not in two.headers
    odd = httpx.get(
        f"{live.url}/wms", params={**base, "BBOX": aligned, "WIDTH": "300", "HEIGHT": "300"},
        timeout=60,
    )  # fmt: skip
    assert odd.status_code == 200 and "x-cache" not in odd.headers


def test_bad_tile_aligned_getmap_still_gets_the_wms_exception(live):
    params = _getmap(*CASES["openlayers-130-3857-png"][:1], "WebMercatorQuad", 13, 4233, 2683,
                     256, {"TIME": "2025-02-30"})  # fmt: skip
    response = httpx.get(f"{live.url}/wms", params=params, timeout=60)
    assert response.status_code == 400
    assert b'code="InvalidDimensionValue"' in response.content
    blank = httpx.get(f"{live.url}/wms", params={**params, "EXCEPTIONS": "BLANK"}, timeout=60)
    assert blank.status_code == 200 and blank.headers["content-type"] == "image/png"
    assert rgba(blank.content).shape == (256, 256, 4)


def test_tile_at_takes_rounded_boxes_and_nothing_else():
    grids = TileGrids()
    tile = morecantile.tms.get("WebMercatorQuad").xy_bounds(4233, 2683, 13)
    pixel = (tile.right - tile.left) / 256
    rounded = tuple(round(v, 2) for v in tile)  # a client printing centimetres
    assert grids.tile_at("EPSG:3857", rounded, (256, 256)) == ("WebMercatorQuad", 13, 4233, 2683)
    assert grids.tile_at("EPSG:3857", tuple(tile), (512, 512)) == (
        "WebMercatorQuad512", 13, 4233, 2683
    )  # fmt: skip
    assert grids.tile_at("EPSG:3857", tuple(tile), (300, 300)) is None
    shifted = (tile.left + pixel / 50, tile.bottom, tile.right + pixel / 50, tile.top)
    assert grids.tile_at("EPSG:3857", shifted, (256, 256)) is None
    assert grids.tile_at("EPSG:32631", tuple(tile), (256, 256)) is None
    geo = morecantile.tms.get("WorldCRS84Quad").xy_bounds(1, 0, 0)
    assert grids.tile_at("CRS:84", tuple(geo), (256, 256)) == ("WorldCRS84Quad", 0, 1, 0)
