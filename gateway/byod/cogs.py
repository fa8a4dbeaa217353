"""One Cloud Optimized GeoTIFF per band of an input raster (rio-cogeo)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal

import numpy as np
import rasterio
from rio_cogeo.cogeo import cog_translate, cog_validate
from rio_cogeo.profiles import cog_profiles

BLOCK = 512


def cog_profile(dtype: str) -> dict:
    """Internal 512 px tiles, DEFLATE with the predictor that suits ``dtype`` (3: floating
    point, 2: integers; none for bytes)."""
    profile = dict(cog_profiles.get("deflate"))
    profile.update(blockxsize=BLOCK, blockysize=BLOCK)
    if np.issubdtype(np.dtype(dtype), np.floating):
        profile["predictor"] = 3
    elif np.dtype(dtype).itemsize > 1:
        profile["predictor"] = 2
    return profile


def overview_resampling(dtype: str) -> Literal["average", "nearest"]:
    """Averages for measurements (floats), nearest for integers (they may be classes)."""
    return "average" if np.issubdtype(np.dtype(dtype), np.floating) else "nearest"


def write_band_cogs(source: Path, folder: Path, names: tuple[str, ...]) -> dict[str, Path]:
    """``<folder>/<name>.tif`` for each band of ``source``, in order: a single-band file that
    is already a valid COG is copied as it is, anything else translated by rio-cogeo."""
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    with rasterio.open(source) as src:
        dtypes = src.dtypes
        count = src.count
    for index, name in enumerate(names, start=1):
        target = folder / f"{name}.tif"
        if count == 1 and cog_validate(str(source), quiet=True)[0]:
            shutil.copyfile(source, target)
        else:
            dtype = dtypes[index - 1]
            cog_translate(
                str(source),
                str(target),
                cog_profile(dtype),
                indexes=(index,),
                overview_resampling=overview_resampling(dtype),
                quiet=True,
                use_cog_driver=False,
                allow_intermediate_compression=True,  # the predictor applies to it too
            )
        written[name] = target
    return written
