"""Pre-render the tiles of a layer into the tile cache (``cdse-gateway seed``).

Tiles go through the tile service every door uses (same grids, same engine requests, same
keys, metatiles and locks), so a seeded tile is a cache hit for WMTS and OGC API Tiles alike.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from gateway.core.admission import exempt
from gateway.core.tiles.grids import Bounds, TileAddress
from gateway.core.tiles.service import TileParams, TileService, tile_key
from gateway.errors import InvalidParameterValue

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


@dataclass
class SeedResult:
    tiles: int = 0
    rendered: int = 0
    cached: int = 0


def seed(
    service: TileService,
    *,
    layer: str,
    bbox: Bounds,
    zooms: range,
    params: TileParams,
    tile_matrix_set: str = "WebMercatorQuad",
    tile_format: str = "png",
    workers: int = 2,
    progress: Progress | None = None,
) -> SeedResult:
    """Render every tile of ``layer`` over ``bbox`` (lon/lat) at ``zooms`` into the cache."""
    grid = service.grids.get(tile_matrix_set)
    if grid is None:
        raise InvalidParameterValue("unknown tile matrix set", locator="tilematrixset")
    addresses = [
        TileAddress(layer, tile_matrix_set, z, x, y, tile_format)
        for x, y, z in grid.tiles_in(bbox, zooms)
    ]
    keys = [tile_key(service.request(a, params)) for a in addresses]  # validates
    cache = service.cache
    missing = [a for a, key in zip(addresses, keys, strict=True) if cache.get(key) is None]
    result = SeedResult(tiles=len(addresses), cached=len(addresses) - len(missing))
    if progress is not None:
        progress(result.cached, result.tiles, "already cached")
    render = exempt(service.render)  # outside any request: no admission place
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        renders = pool.map(lambda address: render(address, params), missing)
        for done, (address, _) in enumerate(zip(missing, renders, strict=True), start=1):
            result.rendered += 1
            if progress is not None:
                label = f"z{address.z}/{address.x}/{address.y}"
                progress(result.cached + done, result.tiles, label)
    return result
