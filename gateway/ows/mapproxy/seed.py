"""Pre-render WMTS tiles of a layer into the tile cache (``cdse-gateway seed``).

Tiles are addressed and rendered exactly as the WMTS door does (same MapProxy grids, same
engine request), so a seeded tile is a cache hit for the door.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pyproj import Transformer

from gateway.errors import InvalidParameterValue
from gateway.ows.mapproxy.tiles import TileService, tile_key
from gateway.ows.mapproxy.wmts import TileAddress, TileGrids
from gateway.runtime import Runtime

Progress = Callable[[int, int, str], None]


def parse_zooms(text: str) -> range:
    """``8-12`` or ``10`` -> the zoom levels."""
    first, _, last = text.partition("-")
    try:
        low, high = int(first), int(last or first)
    except ValueError:
        raise InvalidParameterValue("zoom must look like 8-12 or 10", locator="zoom") from None
    if not 0 <= low <= high <= 24:
        raise InvalidParameterValue("zoom levels must be 0 <= first <= last <= 24", locator="zoom")
    return range(low, high + 1)


def tiles_in(
    grids: TileGrids, tile_matrix_set: str, lonlat_bbox: tuple[float, ...], zooms: range
) -> Iterator[TileAddress]:
    """Addresses of the tiles of ``zooms`` that cover a lon/lat area."""
    if tile_matrix_set not in grids:
        raise InvalidParameterValue("unknown tile matrix set", locator="tilematrixset")
    grid = grids[tile_matrix_set]
    to_grid = Transformer.from_crs("EPSG:4326", grid.srs.srs_code, always_xy=True)
    bbox = to_grid.transform_bounds(*lonlat_bbox, densify_pts=21)
    for z in zooms:
        if z >= grid.levels:
            break
        _, _, tiles = grid.get_affected_level_tiles(bbox, z)
        for x, y, level in tiles:
            yield TileAddress("", tile_matrix_set, level, x, y, "png")


@dataclass
class SeedResult:
    tiles: int = 0
    rendered: int = 0
    cached: int = 0


def seed(
    runtime: Runtime,
    *,
    layer: str,
    bbox: tuple[float, float, float, float],
    zooms: range,
    params: Mapping[str, str],
    tile_matrix_set: str = "WebMercatorQuad",
    tile_format: str = "png",
    workers: int = 2,
    progress: Progress | None = None,
) -> SeedResult:
    """Render every tile of ``layer`` over ``bbox`` (lon/lat) at ``zooms`` into the cache.

    Tiles go through the WMTS door's ``TileService`` (metatiles, lock), so they land under
    the keys the door reads.
    """
    grids = TileGrids.load()
    service = TileService(runtime, grids)
    addresses = [
        a._replace(layer=layer, format=tile_format)
        for a in tiles_in(grids, tile_matrix_set, bbox, zooms)
    ]
    keys = [tile_key(grids.tile_request(runtime, a, params)) for a in addresses]  # validates
    missing = [a for a, key in zip(addresses, keys, strict=True) if runtime.cache.get(key) is None]
    result = SeedResult(tiles=len(addresses), cached=len(addresses) - len(missing))
    if progress is not None:
        progress(result.cached, result.tiles, "already cached")
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        renders = pool.map(lambda address: service.render(address, params), missing)
        for done, (address, _) in enumerate(zip(missing, renders, strict=True), start=1):
            result.rendered += 1
            if progress is not None:
                label = f"z{address.z}/{address.x}/{address.y}"
                progress(result.cached + done, result.tiles, label)
    return result
