"""WMTS GetTile requests (REST and KVP), read in front of MapProxy.

MapProxy 7 drops request parameters it does not know (MAXCC, PRIORITY, EXPRESSION) from
WMTS requests, accepts only the listed TIME values, and keeps REST dimension values in a
dict shared between threads. So GetTile is read here and answered by the core's tile service
(``gateway.core.tiles``) on the same tile matrix sets MapProxy lists in the capabilities
(tests/test_wmts.py checks that they agree): the engine's cache key covers layer,
expression, TIME, MAXCC, PRIORITY, style, CRS, tile bounds and size, and format.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from gateway.core.tiles.grids import TileAddress
from gateway.core.tiles.service import TileParams
from gateway.ows.wms_params import RenderParams, parse_int, require

REST_TILE = re.compile(
    r"^/1\.0\.0/(?P<layer>[^/]+)/(?P<tms>[^/]+)/(?P<time>[^/]+)/"
    r"(?P<z>\d{1,2})/(?P<x>\d{1,9})/(?P<y>\d{1,9})\.(?P<ext>[a-z]{3,4})$"
)


def tile_params(params: Mapping[str, str]) -> TileParams:
    """TIME, MAXCC, PRIORITY, EXPRESSION, STYLE(S), PREVIEW, EVALSCRIPT, GEOMETRY, UPSAMPLING
    and DOWNSAMPLING of a WMTS or WMS request (upper-case keys) as the tile service takes
    them."""
    render = RenderParams.from_params(params)
    return TileParams(**render.vendor_texts(), style=render.style)


def rest_tile(path: str, params: Mapping[str, str]) -> tuple[TileAddress, dict[str, str]] | None:
    """A REST tile path -> the tile and its parameters (TIME from the path), else None."""
    match = REST_TILE.match(path)
    if match is None:
        return None
    merged = dict(params)
    merged["TIME"] = match["time"]
    address = TileAddress(
        match["layer"],
        match["tms"],
        int(match["z"]),
        int(match["x"]),
        int(match["y"]),
        match["ext"],
    )
    return address, merged


def kvp_tile(params: Mapping[str, str]) -> TileAddress:
    """A KVP GetTile -> the tile (raises on missing or bad parameters)."""
    return TileAddress(
        require(params, "LAYER"),
        require(params, "TILEMATRIXSET"),
        parse_int(params, "TILEMATRIX"),
        parse_int(params, "TILECOL"),
        parse_int(params, "TILEROW"),
        params.get("FORMAT") or "image/png",
    )
