"""The tile matrix sets tiles are served on: morecantile's, by name, with 512 px variants.

``WebMercatorQuad`` (also named ``GoogleMapsCompatible``) and ``WorldCRS84Quad`` (OGC's: 2x1
tiles at level 0) are morecantile's sets, cut to the levels the WMTS capabilities list; the
``...512`` sets have the same matrices with tiles of 512 px (pixels half as large).
Sentinel Hub's ``PopularWebMercator256`` is ``WebMercatorQuad``; its ``PopularWebMercator512``
keeps each level's pixels and doubles the tiles: level z has WebMercatorQuad z's scale in
tiles of 512 px, 2^(z-1) across (level 0: one tile, the world in its top-left quarter), so
its tile z/x/y is WebMercatorQuad512's (z-1)/x/y. A tile's bounds are morecantile's, so
every door (WMTS, WMS GetMaps that are one tile, OGC API Tiles, seeding) gives a tile the
same engine request and cache key, and tiles of two sets over the same ground at the same
size are one cache entry.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal, NamedTuple

import morecantile
from morecantile import Tile, TileMatrixSet
from morecantile.models import TileMatrix
from pyproj import CRS

ALIGNMENT = 1e-3  # a map's edges may be this many pixels off a tile's to be that tile
Bounds = tuple[float, float, float, float]


class TileAddress(NamedTuple):
    """One tile of one layer (a NamedTuple: cheap to build and hash on the hit path)."""

    layer: str
    tile_matrix_set: str
    z: int
    x: int
    y: int
    format: str


@dataclass(frozen=True)
class SetSpec:
    """A served tile matrix set: morecantile's ``base``, its tile size, levels and the CRS
    its tiles' engine requests name (x/y order). ``keep``: what a level keeps of the base's
    level of the same number when its tiles are ``tile_px`` wide: its tiles (finer or coarser
    pixels) or its pixels (bigger or smaller tiles, fewer or more of them)."""

    base: str
    tile_px: int
    levels: int
    crs: str
    keep: Literal["tiles", "pixels"] = "tiles"


# The levels are those MapProxy lists in the WMTS capabilities (ows/mapproxy/config.GRIDS).
SETS: dict[str, SetSpec] = {
    "WebMercatorQuad": SetSpec("WebMercatorQuad", 256, 20, "EPSG:3857"),
    "GoogleMapsCompatible": SetSpec("WebMercatorQuad", 256, 20, "EPSG:3857"),
    "WebMercatorQuad512": SetSpec("WebMercatorQuad", 512, 20, "EPSG:3857"),
    "WorldCRS84Quad": SetSpec("WorldCRS84Quad", 256, 19, "EPSG:4326"),
    "WorldCRS84Quad512": SetSpec("WorldCRS84Quad", 512, 19, "EPSG:4326"),
    # Sentinel Hub's (its WMTS capabilities' identifiers)
    "PopularWebMercator256": SetSpec("WebMercatorQuad", 256, 20, "EPSG:3857"),
    "PopularWebMercator512": SetSpec("WebMercatorQuad", 512, 20, "EPSG:3857", keep="pixels"),
}


def _matrix_set(name: str, spec: SetSpec) -> TileMatrixSet:
    """morecantile's ``spec.base`` with ``spec.tile_px`` tiles: the same tiles with finer
    pixels, or (``keep="pixels"``) the same pixels in bigger tiles."""
    base = morecantile.tms.get(spec.base)
    scale = spec.tile_px / base.matrix(0).tileWidth
    if scale == 1:
        return base
    size = {"tileWidth": spec.tile_px, "tileHeight": spec.tile_px}
    matrices = [
        m.model_copy(update={**size, **_rescaled(m, spec.keep, scale)}) for m in base.tileMatrices
    ]
    return base.model_copy(update={"id": name, "tileMatrices": matrices})


def _rescaled(matrix: TileMatrix, keep: str, scale: float) -> dict[str, float]:
    """What changes in ``matrix`` when its tiles are ``scale`` times as wide in pixels."""
    if keep == "pixels":  # as many pixels: fewer tiles (at least one)
        return {
            "matrixWidth": math.ceil(matrix.matrixWidth / scale),
            "matrixHeight": math.ceil(matrix.matrixHeight / scale),
        }
    return {
        "cellSize": matrix.cellSize / scale,
        "scaleDenominator": matrix.scaleDenominator / scale,
    }


class TileGrid:
    """One served tile matrix set: its levels, matrices and tile bounds (x/y order, rows from
    the top)."""

    def __init__(self, name: str, spec: SetSpec) -> None:
        self.name = name
        self.crs = spec.crs
        self.levels = spec.levels
        self.tms = _matrix_set(name, spec)
        self.tile_size = (spec.tile_px, spec.tile_px)
        self.geographic = bool(CRS.from_user_input(spec.crs).is_geographic)
        matrices = [self.tms.matrix(z) for z in range(self.levels)]
        self._sizes = [(m.matrixWidth, m.matrixHeight) for m in matrices]
        self._resolutions = [float(m.cellSize) for m in matrices]
        self.origin = tuple(float(v) for v in matrices[0].pointOfOrigin)

    def matrix_size(self, z: int) -> tuple[int, int]:
        """Tiles across and down at level ``z``."""
        return self._sizes[z]

    def resolution(self, z: int) -> float:
        """A pixel's size at level ``z``, in CRS units."""
        return self._resolutions[z]

    def contains(self, z: int, x: int, y: int) -> bool:
        """True when the tile is on the set (level, column and row in range)."""
        if not 0 <= z < self.levels:
            return False
        columns, rows = self._sizes[z]
        return 0 <= x < columns and 0 <= y < rows

    def tile_bbox(self, x: int, y: int, z: int) -> Bounds:
        """The tile's bounds in x/y order (morecantile's)."""
        bounds = self.tms.xy_bounds(Tile(x, y, z))
        return (bounds.left, bounds.bottom, bounds.right, bounds.top)

    def tiles_in(self, lonlat_bbox: Bounds, zooms: Iterable[int]) -> Iterator[tuple[int, int, int]]:
        """(x, y, z) of the tiles of ``zooms`` (beyond the levels: none) over a lon/lat area."""
        levels = [z for z in zooms if 0 <= z < self.levels]
        for tile in self.tms.tiles(*lonlat_bbox, levels):
            yield tile.x, tile.y, tile.z

    def tile_at(self, bbox: Bounds, size: tuple[int, int]) -> tuple[int, int, int] | None:
        """(z, x, y) of the tile that is exactly a map of ``bbox`` (in this set's CRS, x/y
        order) and ``size``, else None. Each edge may be off by ``ALIGNMENT`` of a pixel
        (clients compute tile boxes in floating point and print them rounded)."""
        if tuple(size) != self.tile_size:
            return None
        resolution = (bbox[2] - bbox[0]) / size[0]
        for z, level_res in enumerate(self._resolutions):
            if abs(level_res - resolution) > level_res * 2 * ALIGNMENT / size[0]:
                continue
            x = round((bbox[0] - self.origin[0]) / (level_res * size[0]))
            y = round((self.origin[1] - bbox[3]) / (level_res * size[1]))
            if not self.contains(z, x, y):
                return None
            edges = zip(self.tile_bbox(x, y, z), bbox, strict=True)
            if all(abs(a - b) <= level_res * ALIGNMENT for a, b in edges):
                return z, x, y
            return None
        return None


class TileGrids(Mapping[str, TileGrid]):
    """The served tile matrix sets by name."""

    def __init__(self, names: Iterable[str] = SETS) -> None:
        self._grids = {name: TileGrid(name, SETS[name]) for name in names}

    def __getitem__(self, name: str) -> TileGrid:
        return self._grids[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._grids)

    def __len__(self) -> int:
        return len(self._grids)

    def tile_at(
        self, crs: str, bbox: Bounds, size: tuple[int, int]
    ) -> tuple[str, int, int, int] | None:
        """(tile matrix set, z, x, y) of the tile that is exactly this map, else None
        (``bbox`` in x/y order, see ``TileGrid.tile_at``)."""
        code = "EPSG:4326" if crs.strip().upper() in ("CRS:84", "OGC:CRS84") else crs.upper()
        for name, grid in self._grids.items():
            if grid.crs == code and (found := grid.tile_at(bbox, size)) is not None:
                return (name, *found)
        return None
