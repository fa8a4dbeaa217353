"""WMTS GetTile, answered in front of MapProxy on MapProxy's own tile grids.

MapProxy 7 drops request parameters it does not know (MAXCC, PRIORITY, EXPRESSION) from
WMTS requests, accepts only the listed TIME values, and keeps REST dimension values in a
dict shared between threads. So GetTile (REST and KVP) is resolved here: the tile's bbox
comes from the same MapProxy grid objects that describe the tile matrix sets in the
capabilities, and the tile is rendered by the engine, whose cache key covers layer,
expression, TIME, MAXCC, PRIORITY, style, CRS, tile bounds and size, and format.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from copy import deepcopy
from typing import NamedTuple

from mapproxy.config.config import local_base_config
from mapproxy.config.configuration.proxy import ProxyConfiguration

from gateway.core.render import parse_format
from gateway.core.request import RenderRequest
from gateway.errors import GatewayError, InvalidParameterValue, NotFound
from gateway.ows.mapproxy.config import GRIDS
from gateway.ows.wms_params import RenderParams, parse_int, require
from gateway.runtime import Runtime

TILE_FORMATS = frozenset({"png", "jpeg", "webp"})
ALIGNMENT = 1e-3  # a map's edges may be this many pixels off a tile's to be that tile
REST_TILE = re.compile(
    r"^/1\.0\.0/(?P<layer>[^/]+)/(?P<tms>[^/]+)/(?P<time>[^/]+)/"
    r"(?P<z>\d{1,2})/(?P<x>\d{1,9})/(?P<y>\d{1,9})\.(?P<ext>[a-z]{3,4})$"
)


class TileOutOfRange(GatewayError):
    code = "TileOutOfRange"
    status = 400


class TileAddress(NamedTuple):
    """One tile of one layer (a NamedTuple: cheap to build and hash on the hit path)."""

    layer: str
    tile_matrix_set: str
    z: int
    x: int
    y: int
    format: str


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


class TileGrids:
    """The WMTS tile matrix sets by name, as MapProxy grids (``tile_bbox`` with origin nw)."""

    def __init__(self, grids: Mapping[str, object]) -> None:
        self._grids = dict(grids)

    @classmethod
    def load(cls, grids: Mapping[str, dict] = GRIDS) -> TileGrids:
        """MapProxy's tile grids for the configured tile matrix sets."""
        proxy = ProxyConfiguration({"grids": deepcopy(dict(grids))}, conf_base_dir=".")
        with local_base_config(proxy.base_config):
            return cls({name: proxy.grids[name].tile_grid() for name in grids})

    def __getitem__(self, name: str) -> object:
        return self._grids[name]

    def __contains__(self, name: object) -> bool:
        return name in self._grids

    def tile_at(
        self, crs: str, bbox: tuple[float, float, float, float], size: tuple[int, int]
    ) -> tuple[str, int, int, int] | None:
        """(tile matrix set, z, x, y) of the tile that is exactly this map, else None.

        ``bbox`` is in x/y order; each edge may be off by ``ALIGNMENT`` of a pixel (clients
        compute tile boxes in floating point and print them rounded).
        """
        code = "EPSG:4326" if crs.strip().upper() in ("CRS:84", "OGC:CRS84") else crs.upper()
        for name, grid in self._grids.items():
            if grid.srs.srs_code != code or tuple(grid.tile_size) != tuple(size):
                continue
            res = (bbox[2] - bbox[0]) / size[0]
            for z, level_res in enumerate(grid.resolutions.values()):
                if abs(level_res - res) > level_res * 2 * ALIGNMENT / size[0]:
                    continue
                span_x, span_y = level_res * size[0], level_res * size[1]
                x = round((bbox[0] - grid.bbox[0]) / span_x)
                y = round((grid.bbox[3] - bbox[3]) / span_y)
                columns, rows = grid.grid_sizes[z]
                if 0 <= x < columns and 0 <= y < rows:
                    tile = grid.tile_bbox((x, y, z))
                    edges = zip(tile, bbox, strict=True)
                    if all(abs(a - b) <= level_res * ALIGNMENT for a, b in edges):
                        return name, z, x, y
                break
        return None

    def tile_request(
        self, runtime: Runtime, address: TileAddress, params: Mapping[str, str]
    ) -> RenderRequest:
        """The engine request of one tile; validates layer, set, z/x/y, format and params (the
        expression too, and that the style shows it, before any read)."""
        if runtime.config.layer(address.layer) is None:
            raise NotFound(
                f"unknown layer {address.layer[:40]!r}", locator="layer", code="LayerNotDefined"
            )
        grid = self._grids.get(address.tile_matrix_set)
        if grid is None:
            raise InvalidParameterValue(
                f"unknown TileMatrixSet {address.tile_matrix_set[:40]!r}", locator="tilematrixset"
            )
        if not 0 <= address.z < grid.levels:
            raise TileOutOfRange("TileMatrix out of range", locator="tilematrix")
        columns, rows = grid.grid_sizes[address.z]
        if address.x >= columns:
            raise TileOutOfRange("TileCol out of range", locator="tilecol")
        if address.y >= rows:
            raise TileOutOfRange("TileRow out of range", locator="tilerow")
        fmt = parse_format(address.format, allowed=TILE_FORMATS)
        request = RenderParams.from_params(params).request(
            runtime,
            layer=address.layer,
            bbox=grid.tile_bbox((address.x, address.y, address.z)),
            crs=grid.srs.srs_code,
            size=tuple(grid.tile_size),
            format=fmt,
        )
        runtime.engine.check(request)  # a tile is a picture: its style must show the expression
        return request
