"""Decoded pictures and how WMTS tiles are compared with the engine's render of one tile."""

from __future__ import annotations

import io

import morecantile
import numpy as np
from PIL import Image

from gateway.core.request import build_request


def rgba(content: bytes) -> np.ndarray:
    """An encoded picture as a (h, w, 4) uint8 array."""
    return np.asarray(Image.open(io.BytesIO(content)).convert("RGBA"))


def engine_tile(runtime, tms: str, z: int, x: int, y: int, size: int = 256, **kwargs) -> np.ndarray:
    """The engine's render of one tile alone, its bounds from morecantile (not MapProxy)."""
    matrix_set = morecantile.tms.get(tms)
    bounds = tuple(matrix_set.xy_bounds(x, y, z))
    crs = "EPSG:3857" if tms == "WebMercatorQuad" else "EPSG:4326"
    kwargs.setdefault("layer", "NDVI")
    request = build_request(runtime.config, bbox=bounds, crs=crs, width=size, height=size, **kwargs)
    return rgba(runtime.engine.render(request).content)


def assert_same_picture(tile: np.ndarray, expected: np.ndarray) -> None:
    """A WMTS tile against the engine's render of that tile alone.

    Tiles are cut from metatiles, whose pixels are the tile's own (tests/
    test_window_independence.py). The tolerance dates from tile bounds taken from MapProxy's
    grids (the 9th decimal differed from morecantile's, which tiles are served on now): a few
    colour levels, more where NDVI's denominator is near 0. Coverage must match.
    """
    assert tile.shape == expected.shape
    assert (tile[..., 3] == expected[..., 3]).mean() > 0.999
    levels = np.abs(tile[..., :3].astype(int) - expected[..., :3].astype(int)).max(axis=2)
    assert levels.mean() < 1.5 and np.percentile(levels, 99) <= 20, (levels.mean(), levels.max())


def tile_alone_and_from_metatile(settings, address, params) -> tuple[bytes, bytes]:
    """The tile at ``address`` rendered alone (metatile 1) and cut from its metatile (the
    runtime's tile service), each by a fresh runtime with a cold cache: (alone, cut)."""
    from gateway.core.tiles.service import TileService
    from gateway.runtime import build_runtime

    tiles = {}
    for metatile in (1, None):
        runtime = build_runtime(settings)
        try:
            service = (
                runtime.tiles
                if metatile is None
                else TileService(runtime.engine, runtime.times, metatile=metatile)
            )
            tile = service.render(address, params)
        finally:
            runtime.close()
        assert not tile.cached
        tiles[metatile] = tile.content
    return tiles[1], tiles[None]
