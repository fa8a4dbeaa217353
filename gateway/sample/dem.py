"""The Copernicus DEM (GLO-30 and GLO-90, DGED as COG) over the sample area, as CDSE stores it.

One file per 1° x 1° cell in EPSG:4326, float32 heights in metres, named and laid out like
CDSE's ``auxdata/CopDEM_COG`` tree (the layout of the public COG release):
``copernicus-dem-30m/Copernicus_DSM_COG_10_N52_00_E005_00_DEM/<same>.tif`` for GLO-30 (1"
rows) and ``copernicus-dem-90m/Copernicus_DSM_COG_30_...`` for GLO-90 (3" rows). Columns are
wider away from the equator (1.5 x the row spacing between 50° and 60°), and the grid is
shifted half a pixel north-west of the whole degree, as in the real files.

The relief is one smooth function of (lon, lat) (hills up to ~260 m on a low plain), so GLO-30
and GLO-90 show the same ground and neighbouring cells meet without a seam.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pyproj import Transformer

from gateway.sample.encode import RasterSink, file_facts
from gateway.sample.landscape import ground_xy
from gateway.sample.layout import PROFILES, TILE_RES, TILES, Grid
from gateway.sample.noise import fourier_field
from gateway.sample.results import ItemResult

GLO30_COLLECTION = "cop-dem-glo-30-dged-cog"
GLO90_COLLECTION = "cop-dem-glo-90-dged-cog"
DEM_NODATA = -32767.0  # DGED's void value
DEM_BAND = "DEM"
_ROOT = "auxdata/CopDEM_COG"
_RELIEF_SEED = 4326


@dataclass(frozen=True)
class DemKind:
    """One DEM instance: its collection, arc seconds per row, nominal metres, bucket folder."""

    collection: str
    arcsec: int
    gsd: int
    folder: str

    @property
    def code(self) -> str:
        """The resolution in the file names: 10 (1.0") for GLO-30, 30 (3.0") for GLO-90."""
        return f"{self.arcsec * 10:02d}"


KINDS = (
    DemKind(GLO30_COLLECTION, 1, 30, "copernicus-dem-30m"),
    DemKind(GLO90_COLLECTION, 3, 90, "copernicus-dem-90m"),
)


def column_factor(lat: int) -> float:
    """Column spacing over row spacing for a cell whose south edge is ``lat`` (the product's
    latitude zones)."""
    edge = min(abs(lat), abs(lat + 1))
    for limit, factor in ((50, 1.0), (60, 1.5), (70, 2.0), (80, 3.0), (85, 5.0)):
        if edge < limit:
            return factor
    return 10.0


@dataclass(frozen=True)
class DemPlan:
    """One DEM file: its kind and the 1° cell whose south-west corner is (``lon``, ``lat``)."""

    kind: DemKind
    lat: int
    lon: int

    @property
    def collection(self) -> str:
        return self.kind.collection

    @property
    def directory(self) -> str:
        """The item's folder, relative to the eodata bucket."""
        return f"{_ROOT}/{self.kind.folder}/{self.item_id}"

    @property
    def product_name(self) -> str:
        return self.item_id

    @property
    def cell(self) -> str:
        """The cell in the file names: ``N52_00_E005_00``."""
        ns = f"{'N' if self.lat >= 0 else 'S'}{abs(self.lat):02d}_00"
        ew = f"{'E' if self.lon >= 0 else 'W'}{abs(self.lon):03d}_00"
        return f"{ns}_{ew}"

    @property
    def item_id(self) -> str:
        return f"Copernicus_DSM_COG_{self.kind.code}_{self.cell}_DEM"

    @property
    def path(self) -> str:
        """The file, relative to the eodata bucket."""
        return f"{self.directory}/{self.item_id}.tif"

    @property
    def manifest_path(self) -> str:
        """The product's XML metadata beside the file (CDSE's ``manifest`` asset)."""
        return f"{self.directory}/Copernicus_DSM_{self.kind.code}_{self.cell}.xml"

    @property
    def grid(self) -> Grid:
        """The file's grid: whole-degree edges moved half a pixel north-west."""
        rows = 3600 // self.kind.arcsec
        cols = round(rows / column_factor(self.lat))
        res_y = self.kind.arcsec / 3600.0
        res_x = 1.0 / cols
        transform = (res_x, 0.0, self.lon - res_x / 2, 0.0, -res_y, self.lat + 1 + res_y / 2)
        return Grid(self.kind.gsd, transform, (rows, cols))


def sample_cells(profile: str) -> list[tuple[int, int]]:
    """(lat, lon) of the 1° cells the profile's tile windows touch."""
    cells: set[tuple[int, int]] = set()
    for name, window in PROFILES[profile].items():
        tile = TILES[name]
        to_lonlat = Transformer.from_crs(tile.epsg, 4326, always_xy=True)
        x0 = tile.ulx + window.col_off * TILE_RES
        y0 = tile.uly - window.row_off * TILE_RES
        xs = np.linspace(x0, x0 + window.width * TILE_RES, 9)
        ys = np.linspace(y0, y0 - window.height * TILE_RES, 9)
        lon, lat = to_lonlat.transform(*np.meshgrid(xs, ys))
        cells |= {
            (math.floor(a), math.floor(o)) for a, o in zip(lat.ravel(), lon.ravel(), strict=True)
        }
    return sorted(cells)


def plan_dem(profile: str) -> list[DemPlan]:
    """Every DEM file of a profile: GLO-30 then GLO-90, over the cells of its area."""
    return [DemPlan(kind, lat, lon) for kind in KINDS for lat, lon in sample_cells(profile)]


def relief(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Heights in metres (float32) of the synthetic ground: a plain at ~20 m with rolling hills
    (wavelengths 0.8-15 km) and a few steeper ridges, to 1/32 m."""
    x, y = ground_xy(lon, lat)
    hills = fourier_field(x, y, _RELIEF_SEED, waves=36, shortest=800.0, longest=15000.0)
    ridges = fourier_field(x, y, _RELIEF_SEED + 1, waves=12, shortest=1500.0, longest=4000.0)
    z = 20.0 + 45.0 * np.maximum(hills, -0.4) + 25.0 * np.abs(ridges)
    # Multiples of 1/32 m: below the product's vertical accuracy, and they compress 3x better.
    return (np.round(z * 32.0) / 32.0).astype(np.float32)


def write_dem(plan: DemPlan, eodata: Path, scratch: Path) -> ItemResult:
    """Write the DEM file of ``plan`` under ``eodata`` as a float32 deflate COG."""
    grid = plan.grid
    rows, cols = grid.shape
    res_x, _, west, _, res_y, north = grid.transform
    lon = west + (np.arange(cols) + 0.5) * res_x
    sink = RasterSink(
        scratch / f"{plan.item_id}.tif", grid, "EPSG:4326", "float32", nodata=DEM_NODATA
    )
    try:
        step = 600
        for row0 in range(0, rows, step):
            n = min(step, rows - row0)
            lat = north + (np.arange(row0, row0 + n) + 0.5) * res_y
            sink.write(relief(*np.meshgrid(lon, lat)), row0)
        sink.finish_cog(eodata / plan.path, resampling="average", predictor=3)
    except BaseException:
        sink.abort()
        raise
    (eodata / plan.manifest_path).write_text(manifest_xml(plan), encoding="utf-8")
    # CDSE's footprint is the whole-degree cell (the pixels' half-pixel rim left out), from
    # its south-west corner anticlockwise.
    west, south = float(plan.lon), float(plan.lat)
    east, north = west + 1, south + 1
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    geometry = {"type": "Polygon", "coordinates": [ring]}
    return ItemResult(
        item_id=plan.item_id,
        files={
            "data": file_facts(eodata, plan.path),
            "manifest": file_facts(eodata, plan.manifest_path),
        },
        geometry=geometry,
        shapes={"data": grid.shape},
    )


def manifest_xml(plan: DemPlan) -> str:
    """The sample's stand-in for the product's XML metadata (CDSE's ``manifest`` asset; the
    real file's content is not reproduced): the file, its cell, grid and height reference."""
    rows, cols = plan.grid.shape
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<dem product="{plan.item_id}" instance="GLO-{plan.kind.gsd}" release="DGED">\n'
        f"  <file>{plan.item_id}.tif</file>\n"
        f'  <cell south="{plan.lat}" west="{plan.lon}" north="{plan.lat + 1}" '
        f'east="{plan.lon + 1}"/>\n'
        f'  <grid rows="{rows}" columns="{cols}" crs="EPSG:4326" vertical="EGM2008" '
        'unit="m"/>\n'
        "</dem>\n"
    )
