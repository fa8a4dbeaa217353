"""The cells of an output grid's global pixel lattice: why a pixel's value does not depend on
the window asked.

Every window of one output grid (a tile of a tile matrix, a metatile, a GDAL block of a WCS
coverage, the whole coverage) shares one pixel lattice: the grid's CRS and resolution with its
pixel edges where they are, counted from the CRS origin. That lattice is cut into cells of
``CELL`` x ``CELL`` pixels, and the warp computes whole cells, each on its own (its affine
pieces, its GDAL call), then keeps the part inside the window. So every pixel is computed from
the same cell, with the same numbers, whatever window asks for it. The tiles of
WebMercatorQuad and WorldCRS84Quad (256 px or 512 px) and their metatiles are whole cells;
other windows also compute the rest of the cells they touch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from gateway.core.grid import Grid

CELL = 256
_ROUNDING = 0.75  # a lattice index turns a quarter of a pixel past the edge before it


@dataclass(frozen=True)
class Cover:
    """The whole cells that cover a window, as one grid, and where the window lies in it."""

    grid: Grid  # CELL-aligned: its width and height are multiples of CELL
    rows: slice  # the window's rows and columns in ``grid``
    cols: slice

    @property
    def is_window(self) -> bool:
        """True when the cells are exactly the window (a tile, a metatile)."""
        return self.rows == slice(0, self.grid.height) and self.cols == slice(0, self.grid.width)

    @property
    def shape(self) -> tuple[int, int]:
        """Cells down and across."""
        return self.grid.height // CELL, self.grid.width // CELL

    def cells(self) -> Iterator[tuple[slice, slice]]:
        """Each cell's rows and columns in ``grid``, row by row."""
        for row in range(0, self.grid.height, CELL):
            for col in range(0, self.grid.width, CELL):
                yield slice(row, row + CELL), slice(col, col + CELL)


def cover(grid: Grid) -> Cover:
    """The lattice cells that ``grid`` touches.

    A pixel's lattice index counts whole pixels from the CRS origin to its left (top) edge,
    rounded at a quarter of a pixel: grid edges lie on multiples of the resolution (tile
    matrices, most coverage grids) or half-way between (pixel centres on them), both far from
    where the rounding turns, so floating-point noise never moves a grid on its lattice.
    """
    rx, ry = grid.resolution
    minx, _, _, maxy = grid.bounds
    first_col = math.floor(minx / rx + _ROUNDING)
    first_row = math.floor(-maxy / ry + _ROUNDING)
    left = first_col - first_col // CELL * CELL  # the window's offset in its first cell
    top = first_row - first_row // CELL * CELL
    width = _whole_cells(left + grid.width)
    height = _whole_cells(top + grid.height)
    return Cover(
        grid.window(-left, -top, width, height),
        slice(top, top + grid.height),
        slice(left, left + grid.width),
    )


def _whole_cells(pixels: int) -> int:
    return -(-pixels // CELL) * CELL
