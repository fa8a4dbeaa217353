"""Read calibrated Sentinel-1 GRD backscatter onto any grid (Sentinel Hub's ellipsoid
orthorectification: heights 0, no terrain).

CDSE stores each polarisation as a COG in radar geometry (lines x samples) georeferenced by
GCPs only. For every output pixel centre, GDAL's GCP transformer (the polynomial GDAL fits to
the GCPs, as ``gdalwarp`` does for such files) gives its fractional line and sample; the
reader reads the window of DNs those positions need, from the file level whose pixels fit the
output's (measured at the scene's centre, so every window of a grid reads the same level;
the COG overviews are root-mean-square, which keeps DN² means), calibrates that window
(``calibration.calibrate``, each level pixel at the line and sample of its centre), then
samples it bilinearly (or by nearest neighbour) at the positions. A pixel is invalid where a
position falls outside the image or next to a no-data sample.
"""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from rasterio.crs import CRS
from rasterio.io import DatasetReader
from rasterio.transform import GCPTransformer
from rasterio.windows import Window

from gateway.core.catalog import Scene
from gateway.core.datasets import OpenDatasets
from gateway.core.grid import WGS84, Grid
from gateway.core.sar.annotation import (
    AnnotationError,
    NoiseTables,
    VectorTable,
    calibration_table,
    noise_tables,
)
from gateway.core.sar.calibration import SarOptions, calibrate
from gateway.core.storage import Storage
from gateway.core.transforms import transformer
from gateway.errors import UpstreamError

log = logging.getLogger(__name__)

CHUNK_ROWS = 512  # output rows computed at once (per-pixel positions: 16 bytes a pixel each)


@dataclass(frozen=True)
class Positions:
    """Fractional full-resolution image coordinates (GDAL's: 0.5 is the first pixel's centre)
    of every output pixel centre; NaN where the transformer gives none."""

    rows: np.ndarray  # (h, w) float64
    cols: np.ndarray


def pixel_centres_lonlat(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Lon/lat of every pixel centre of ``grid``."""
    t = grid.transform
    cols = np.arange(grid.width) + 0.5
    rows = np.arange(grid.height) + 0.5
    xs = t.c + cols[None, :] * t.a + rows[:, None] * t.b
    ys = t.f + cols[None, :] * t.d + rows[:, None] * t.e
    if grid.crs == WGS84:
        return xs, ys
    lon, lat = transformer(grid.crs, WGS84).transform(xs, ys)
    return np.asarray(lon), np.asarray(lat)


def image_positions(src: DatasetReader, lon: np.ndarray, lat: np.ndarray) -> Positions:
    """Image coordinates of lon/lat points through the file's GCPs (GDAL's transformer)."""
    gcps, crs = src.gcps
    if not gcps:
        raise AnnotationError("the measurement file has no GCPs")
    if crs is not None and CRS.from_user_input(crs) != WGS84:
        x, y = transformer(WGS84, CRS.from_user_input(crs)).transform(lon, lat)
        lon, lat = np.asarray(x), np.asarray(y)
    with GCPTransformer(gcps) as gcp:
        rows, cols = gcp.rowcol(lon.ravel(), lat.ravel(), op=np.positive)
    shape = lon.shape
    return Positions(
        np.asarray(rows, dtype=np.float64).reshape(shape),
        np.asarray(cols, dtype=np.float64).reshape(shape),
    )


def level_factor(src: DatasetReader, scene: Scene, grid: Grid) -> int:
    """The decimation of the coarsest overview whose pixels are no larger than the grid's,
    measured at the scene's centre along both image axes."""
    west, south, east, north = scene.bbox
    centre = transformer(WGS84, grid.crs).transform((west + east) / 2, (south + north) / 2)
    rx, ry = grid.resolution
    xs = np.array([centre[0], centre[0] + rx, centre[0]])
    ys = np.array([centre[1], centre[1], centre[1] + ry])
    lon, lat = transformer(grid.crs, WGS84).transform(xs, ys)
    at = image_positions(src, np.asarray(lon), np.asarray(lat))
    steps = [math.hypot(at.rows[k] - at.rows[0], at.cols[k] - at.cols[0]) for k in (1, 2)]
    ratio = min(steps)
    if not math.isfinite(ratio):
        return 1
    return max((f for f in src.overviews(1) if f <= ratio * 1.001), default=1)


def sample_window(
    values: np.ndarray, rows: np.ndarray, cols: np.ndarray, resampling: str
) -> np.ndarray:
    """``values`` (NaN: no data) at fractional pixel-centre indexes ``rows``/``cols``
    (0 is the first pixel's centre): bilinear, or nearest for ``nearest``; NaN outside,
    and, bilinear, wherever a neighbour with a weight is NaN."""
    height, width = values.shape
    inside = (rows >= -0.5) & (rows <= height - 0.5) & (cols >= -0.5) & (cols <= width - 0.5)
    rows = np.where(inside, rows, 0.0)
    cols = np.where(inside, cols, 0.0)
    if resampling == "nearest":
        r = np.clip(np.floor(rows + 0.5).astype(np.int64), 0, height - 1)
        c = np.clip(np.floor(cols + 0.5).astype(np.int64), 0, width - 1)
        out = values[r, c].astype(np.float32)
    else:
        r0 = np.floor(rows).astype(np.int64)
        c0 = np.floor(cols).astype(np.int64)
        wr, wc = rows - r0, cols - c0
        total = np.zeros(rows.shape, dtype=np.float64)
        for dr, dc, weight in (
            (0, 0, (1 - wr) * (1 - wc)),
            (0, 1, (1 - wr) * wc),
            (1, 0, wr * (1 - wc)),
            (1, 1, wr * wc),
        ):
            value = values[np.clip(r0 + dr, 0, height - 1), np.clip(c0 + dc, 0, width - 1)].astype(
                np.float64
            )
            total += np.where(weight > 0, weight * value, 0.0)
        out = total.astype(np.float32)
    out[~inside] = np.nan
    return out


@lru_cache(maxsize=128)
def _annotation(storage: Storage, href: str, kind: str) -> VectorTable | NoiseTables:
    """The parsed calibration table (``kind``: sigma0, beta0, gamma0) or noise tables."""
    content = storage.read_bytes(href)
    return noise_tables(content) if kind == "noise" else calibration_table(content, kind)


def _gcp_key(src: DatasetReader) -> tuple:
    """What the positions of a file depend on: its GCPs and their CRS."""
    gcps, crs = src.gcps
    return str(crs), tuple((g.row, g.col, g.x, g.y, g.z) for g in gcps)


def _near(
    scene: Scene, lon: np.ndarray, lat: np.ndarray, margin: float = 0.01
) -> tuple[slice, slice] | None:
    """The rows and columns of the grid whose pixel centres lie near the scene's bounding
    box (only those go through the GCP transformer), or None."""
    west, south, east, north = scene.bbox
    if east >= west:
        near = (lon >= west - margin) & (lon <= east + margin)
    else:  # across the antimeridian
        near = (lon >= west - margin) | (lon <= east + margin)
    near &= (lat >= south - margin) & (lat <= north + margin)
    rows = np.flatnonzero(near.any(axis=1))
    cols = np.flatnonzero(near.any(axis=0))
    if not len(rows):
        return None
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


class GrdReader:
    """Reads VV/VH of Sentinel-1 GRD scenes, calibrated, onto grids."""

    def __init__(self, storage: Storage, datasets: OpenDatasets) -> None:
        self._storage = storage
        self._datasets = datasets

    def tables(
        self, scene: Scene, band: str, options: SarOptions
    ) -> tuple[VectorTable, NoiseTables | None]:
        """The calibration table and (with noise removal) the noise tables of ``band``."""
        pol = band.lower()
        assets = scene.item.get("assets", {})
        try:
            cal_href = assets[f"schema-calibration-{pol}"]["href"]
            noise_href = assets[f"schema-noise-{pol}"]["href"]
        except (KeyError, TypeError) as exc:
            raise AnnotationError(f"the item has no calibration or noise asset of {band}") from exc
        lut = _annotation(self._storage, cal_href, options.table)
        noise = _annotation(self._storage, noise_href, "noise") if options.noise_removal else None
        assert isinstance(lut, VectorTable) and (noise is None or isinstance(noise, NoiseTables))
        return lut, noise

    def read(
        self,
        scene: Scene,
        bands: tuple[str, ...],
        grid: Grid,
        *,
        resampling: str,
        options: SarOptions,
    ) -> tuple[dict[str, np.ndarray], np.ndarray] | None:
        """Calibrated linear backscatter of ``bands`` (VV, VH) on ``grid`` and where it is
        valid; None when the scene lacks a band. Computed ``CHUNK_ROWS`` rows at a time (a
        pixel's value does not depend on the window: the result is the same), which bounds
        the memory of a large output's per-pixel positions."""
        measurement = {a.key.lower(): a for a in scene.assets}
        if any(band.lower() not in measurement for band in bands):
            return None
        values = {band: np.full((grid.height, grid.width), np.nan, np.float32) for band in bands}
        method = "nearest" if resampling == "nearest" else "bilinear"
        factors: dict[tuple, int] = {}  # by GCPs: VV and VH share theirs
        for row0 in range(0, grid.height, CHUNK_ROWS):
            rows = min(CHUNK_ROWS, grid.height - row0)
            part = grid.window(0, row0, grid.width, rows)
            lon, lat = pixel_centres_lonlat(part)
            block = _near(scene, lon, lat)
            if block is None:
                continue
            lon, lat = lon[block], lat[block]
            located: dict[tuple, Positions] = {}
            for band in bands:
                path = self._storage.gdal_path(measurement[band.lower()].href)
                try:
                    lut, noise = self.tables(scene, band, options)
                    with self._datasets.lease(path) as src:
                        key = _gcp_key(src)
                        if key not in located:
                            located[key] = image_positions(src, lon, lat)
                            if key not in factors:
                                factors[key] = level_factor(src, scene, grid)
                    data = self._read_band(path, located[key], factors[key], lut, noise, method)
                except (AnnotationError, OSError) as exc:
                    log.warning("cannot calibrate %s of %s: %s", band, scene.id, exc)
                    raise UpstreamError(
                        "a Sentinel-1 scene's annotation could not be read"
                    ) from exc
                values[band][row0 : row0 + rows][block] = data
        valid = np.logical_and.reduce([np.isfinite(v) for v in values.values()])
        return values, valid

    def _read_band(
        self,
        path: str,
        at: Positions,
        factor: int,
        lut: VectorTable,
        noise: NoiseTables | None,
        resampling: str,
    ) -> np.ndarray:
        """One band at the positions ``at``, read from the level of decimation ``factor``."""
        with contextlib.ExitStack() as held:
            level = held.enter_context(self._datasets.lease(path))
            if factor > 1:
                index = level.overviews(1).index(factor)
                level = held.enter_context(self._datasets.lease(path, index))
            return self._calibrated(level, at, factor, lut, noise, resampling)

    @staticmethod
    def _calibrated(
        level: DatasetReader,
        at: Positions,
        factor: int,
        lut: VectorTable,
        noise: NoiseTables | None,
        resampling: str,
    ) -> np.ndarray:
        """Calibrated values at the positions ``at`` from ``level`` (decimated by ``factor``)."""
        # Level pixel-centre indexes of the positions.
        rows = at.rows / factor - 0.5
        cols = at.cols / factor - 0.5
        finite = np.isfinite(rows) & np.isfinite(cols)
        if not finite.any():
            return np.full(rows.shape, np.nan, np.float32)
        row0 = max(0, math.floor(rows[finite].min()) - 1)
        col0 = max(0, math.floor(cols[finite].min()) - 1)
        row1 = min(level.height, math.floor(rows[finite].max()) + 3)
        col1 = min(level.width, math.floor(cols[finite].max()) + 3)
        if row1 <= row0 or col1 <= col0:
            return np.full(rows.shape, np.nan, np.float32)
        dn = level.read(1, window=Window(col0, row0, col1 - col0, row1 - row0))
        # The full-resolution line and sample each level pixel's centre stands for.
        lines = (np.arange(row0, row1) + 0.5) * factor - 0.5
        samples = (np.arange(col0, col1) + 0.5) * factor - 0.5
        linear = calibrate(dn, lines, samples, lut, noise)
        return sample_window(
            linear,
            np.where(finite, rows - row0, np.nan),
            np.where(finite, cols - col0, np.nan),
            resampling,
        )
