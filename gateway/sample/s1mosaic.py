"""Monthly Sentinel-1 IW mosaics (``sentinel-1-global-mosaics``) over the sample tiles.

One item per tile and month, named and laid out like CDSE's
(``Global-Mosaics/Sentinel-1/S1SAR_L3_IW_MCM/<yyyy>/<mm>/01/Sentinel-1_IW_mosaic_<yyyy>_M<mm>_
<tile>_0_0/``), with two 20 m COGs, ``VV.tif`` and ``VH.tif``, and the product's
``userdata.json``. Like CDSE's files, the COGs hold terrain-flattened gamma0 backscatter as
float32 linear power (no scale; nodata -32768: docs/sentinel-1-mosaics.md), on the tile's own
UTM grid.

The backscatter follows the synthetic world's land cover (water dark, forest and towns
bright, VH weaker than VV) with a mild multiplicative texture, like a month of looks averaged.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from shapely.geometry import box, mapping

from gateway.sample.encode import RasterSink, file_facts
from gateway.sample.geo import footprint_lonlat, pixel_lonlat, rounded
from gateway.sample.landscape import Cover, ground_xy, land_cover
from gateway.sample.layout import ScenePlan, Tile, mosaic_plans
from gateway.sample.mosaics import write_userdata
from gateway.sample.noise import fbm
from gateway.sample.results import ItemResult

S1_MOSAIC_COLLECTION = "sentinel-1-global-mosaics"
S1_MOSAIC_BANDS = ("VV", "VH")
S1_MOSAIC_RES = 20
S1_MOSAIC_NODATA = -32768.0
S1_MOSAIC_MONTH = datetime(2025, 6, 1, tzinfo=UTC)
S1_MOSAIC_END = datetime(2025, 6, 30, 23, 59, 59, tzinfo=UTC)

# Linear gamma0 per land cover (VV, VH): typical C-band values (dB in the comments).
GAMMA0 = {
    Cover.WATER: (0.010, 0.002),  # -20, -27 dB
    Cover.FOREST: (0.120, 0.035),  # -9, -14.6 dB
    Cover.CROPS: (0.070, 0.016),  # -11.5, -18 dB
    Cover.GRASS: (0.050, 0.011),  # -13, -19.6 dB
    Cover.BARE: (0.030, 0.005),  # -15.2, -23 dB
    Cover.BUILT: (0.350, 0.060),  # -4.6, -12.2 dB
}


def s1_mosaic_names(tile: Tile) -> tuple[str, str]:
    """(item id, bucket-relative folder) of the month's mosaic of one tile."""
    item_id = f"Sentinel-1_IW_mosaic_{S1_MOSAIC_MONTH:%Y_M%m}_{tile.name}_0_0"
    folder = f"Global-Mosaics/Sentinel-1/S1SAR_L3_IW_MCM/{S1_MOSAIC_MONTH:%Y/%m/%d}/{item_id}"
    return item_id, folder


def plan_s1_mosaics(profile: str) -> list[ScenePlan]:
    """One mosaic per tile of the profile, on the tile window's 20 m grid."""
    return mosaic_plans(
        profile, S1_MOSAIC_COLLECTION, S1_MOSAIC_MONTH, S1_MOSAIC_RES, s1_mosaic_names
    )


def backscatter(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Linear gamma0 (2, h, w) float32 of VV and VH at ground points."""
    x, y = ground_xy(lon, lat)
    cover, _ = land_cover(x, y)
    texture = np.exp(0.25 * (fbm(x, y, 120.0, 77) - 0.5)).astype(np.float32)
    out = np.zeros((2, *np.shape(x)), dtype=np.float32)
    for kind, values in GAMMA0.items():
        here = cover == kind
        for band, value in enumerate(values):
            out[band][here] = value
    return out * texture


def band_path(plan: ScenePlan, band: str) -> str:
    return f"{plan.directory}/{band}.tif"


def write_s1_mosaic(plan: ScenePlan, eodata: Path, scratch: Path) -> ItemResult:
    """Write the VV and VH COGs and the userdata.json of ``plan`` under ``eodata``."""
    grid = plan.grids[S1_MOSAIC_RES]
    lon, lat = pixel_lonlat(plan.tile.epsg, grid)
    gamma0 = backscatter(lon, lat)
    files = {}
    for index, band in enumerate(S1_MOSAIC_BANDS):
        sink = RasterSink(
            scratch / f"{band}.tif", grid, plan.tile.crs, "float32", nodata=S1_MOSAIC_NODATA
        )
        try:
            sink.write(gamma0[index], 0)
            sink.finish_cog(eodata / band_path(plan, band), predictor=3)
        except BaseException:
            sink.abort()
            raise
        files[band] = file_facts(eodata, band_path(plan, band))
    geometry = rounded(footprint_lonlat(mapping(box(*grid.bbox)), plan.tile.epsg))
    period = (S1_MOSAIC_MONTH, S1_MOSAIC_END)
    files["userdata"] = write_userdata(plan, eodata, geometry, files, period)
    return ItemResult(item_id=plan.item_id, files=files, geometry=geometry)
