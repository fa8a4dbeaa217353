"""Write one quarterly mosaic item like CDSE's ``sentinel-2-global-mosaics``: int16 COG bands.

Band values are the cloud-free ground, round(reflectance * 10000) with no offset; the
``observations`` band counts the clear L2A observations of the quarter, read back from the
SCL files that were written for the same tile.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

import numpy as np
import rasterio
from rasterio.io import DatasetReader
from rasterio.windows import Window
from shapely.geometry import box, mapping

from gateway.sample import scl
from gateway.sample.bands import MODEL_BANDS, MOSAIC_BANDS
from gateway.sample.encode import RasterSink, file_facts
from gateway.sample.geo import footprint_lonlat, rounded
from gateway.sample.layout import MOSAIC_END, MOSAIC_START, ScenePlan, product_uuid
from gateway.sample.render import clear_surface
from gateway.sample.resample import upsample
from gateway.sample.results import FileFacts, ItemResult

MOSAIC_NODATA = -32768
MOSAIC_DAY_OF_YEAR = 163  # the ground of mid-June stands for the quarter
STRIP_PIXELS = 4_000_000
_BAND_INDEX = {b: i for i, b in enumerate(MODEL_BANDS)}
Period = tuple[datetime, datetime]  # a mosaic's first and last moment


def _clear_count(scls: list[DatasetReader], row0: int, nrows: int, cols: int) -> np.ndarray:
    """Clear observations per 10 m pixel over some rows, from open 20 m SCL datasets."""
    count = np.zeros((nrows, cols), dtype=np.uint16)
    window = Window(0, row0 // 2, cols // 2, nrows // 2)
    for src in scls:
        count += upsample(np.isin(src.read(1, window=window), scl.CLEAR), 2).astype(np.uint16)
    return count


def write_mosaic(plan: ScenePlan, eodata: Path, scratch: Path, scl_files: list[Path]) -> ItemResult:
    """Write the COG bands, observations and userdata.json of a mosaic plan under ``eodata``."""
    scratch.mkdir(parents=True, exist_ok=True)
    grid = plan.grids[10]
    rows, cols = grid.shape
    sinks = {
        band: RasterSink(
            scratch / f"{band}.tif", grid, plan.tile.crs, "int16", nodata=MOSAIC_NODATA
        )
        for band in MOSAIC_BANDS
    }
    sinks["observations"] = RasterSink(
        scratch / "observations.tif", grid, plan.tile.crs, "uint16", nodata=0
    )
    step = max(2, min(rows, STRIP_PIXELS // cols // 2 * 2))
    try:
        with ExitStack() as stack:
            stack.enter_context(rasterio.Env(GDAL_PAM_ENABLED="NO"))
            scls = [stack.enter_context(rasterio.open(path)) for path in scl_files]
            for row0 in range(0, rows, step):
                nrows = min(step, rows - row0)
                refl = clear_surface(plan, row0, nrows, MOSAIC_DAY_OF_YEAR)
                for band in MOSAIC_BANDS:
                    values = np.clip(np.rint(refl[_BAND_INDEX[band]] * 10000), -32767, 32767)
                    sinks[band].write(values.astype(np.int16), row0)
                sinks["observations"].write(_clear_count(scls, row0, nrows, cols), row0)
        for key, sink in sinks.items():
            sink.finish_cog(
                eodata / plan.layer_path(key),
                resampling="nearest" if key == "observations" else "average",
            )
    except BaseException:
        for sink in sinks.values():
            sink.abort()
        raise

    files = {key: file_facts(eodata, plan.layer_path(key)) for key in sinks}
    geometry = rounded(footprint_lonlat(mapping(box(*grid.bbox)), plan.tile.epsg))
    files["userdata"] = write_userdata(plan, eodata, geometry, files, (MOSAIC_START, MOSAIC_END))
    return ItemResult(item_id=plan.item_id, files=files, geometry=geometry)


def write_userdata(
    plan: ScenePlan, eodata: Path, geometry: dict, files: dict[str, FileFacts], period: Period
) -> FileFacts:
    """Write a mosaic's ``userdata.json`` (beside its COGs, as in CDSE's mosaic folders)."""
    userdata = f"{plan.directory}/userdata.json"
    size = sum(f.size for f in files.values())
    (eodata / userdata).write_text(
        json.dumps(_odata_record(plan, geometry, size, period), indent=2), encoding="utf-8"
    )
    return file_facts(eodata, userdata)


def _odata_record(plan: ScenePlan, geometry: dict, size: int, period: Period) -> dict:
    """The CDSE OData product record a mosaic's userdata.json holds (main fields)."""
    ring = ", ".join(f"{x} {y}" for x, y in geometry["coordinates"][0])
    return {
        "@odata.context": "$metadata#Products(Attributes())/$entity",
        "Id": product_uuid(plan.item_id),
        "Name": plan.item_id,
        "ContentType": "application/octet-stream",
        "ContentLength": size,
        "S3Path": f"/eodata/{plan.directory}",
        "ContentDate": {
            "Start": period[0].strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "End": period[1].strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        },
        "Footprint": f"geography'SRID=4326;POLYGON (({ring}))'",
        "GeoFootprint": geometry,
        "Online": True,
    }
