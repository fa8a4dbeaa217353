"""Split a grid into aligned sub-grids that workers compute independently."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core.grid import Grid

CHUNK_PIXELS = 512


@dataclass(frozen=True)
class Chunk:
    """A window of a parent grid: its position (row/col offsets) and its own grid."""

    index: int
    row: int
    col: int
    grid: Grid


def split_grid(grid: Grid, size: int = CHUNK_PIXELS) -> list[Chunk]:
    """Windows of at most ``size`` x ``size`` pixels covering ``grid`` exactly, row-major."""
    minx, _, _, maxy = grid.bounds
    resx, resy = grid.resolution
    chunks: list[Chunk] = []
    for row in range(0, grid.height, size):
        for col in range(0, grid.width, size):
            width, height = min(size, grid.width - col), min(size, grid.height - row)
            left, top = minx + col * resx, maxy - row * resy
            bounds = (left, top - height * resy, left + width * resx, top)
            chunks.append(Chunk(len(chunks), row, col, Grid(grid.crs, bounds, width, height)))
    return chunks
