"""Sentinel Hub's map parameters that the core applies: ``GEOMETRY`` (a WKT polygon in the
request's CRS cropping the output), ``UPSAMPLING``/``DOWNSAMPLING`` (the interpolation
used where the output's pixels are finer/coarser than the collection's native ones),
``QUALITY`` (JPEG and WebP quality) and ``WARNINGS`` (whether the answer says how the map
was drawn: HTTP ``Warning`` headers, ``gateway.core.request.warning_header``)."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import shapely
from rasterio.features import geometry_mask
from shapely.errors import GEOSException

from gateway.core.grid import Grid
from gateway.errors import InvalidParameterValue, LimitExceeded

MAX_GEOMETRY_CHARS = 100_000
MAX_GEOMETRY_VERTICES = 10_000
# Sentinel Hub's names -> the engine's resampling (BOX: the mean of the covered pixels).
SH_RESAMPLINGS = {
    "NEAREST": "nearest",
    "BILINEAR": "bilinear",
    "BICUBIC": "cubic",
    "BOX": "average",
}


SH_PARAMETERS = ("GEOMETRY", "UPSAMPLING", "DOWNSAMPLING", "QUALITY", "WARNINGS")
ShTexts = tuple[str | None, ...]  # SH_PARAMETERS' texts, in that order
NO_SH_TEXTS: ShTexts = (None,) * len(SH_PARAMETERS)
WARNINGS_VALUES = {"YES": True, "TRUE": True, "NO": False, "FALSE": False}


def sh_texts(value: Callable[[str], str | None]) -> ShTexts:
    """GEOMETRY, UPSAMPLING, DOWNSAMPLING, QUALITY and WARNINGS as a door's ``value`` reads
    them."""
    return tuple(value(name) for name in SH_PARAMETERS)


def parse_quality(text: str | None) -> int | None:
    """``QUALITY``: an integer 0-100 (None when absent); InvalidParameterValue otherwise."""
    if text is None or not text.strip():
        return None
    value = text.strip()
    if not re.fullmatch(r"[0-9]{1,3}", value) or int(value) > 100:
        raise InvalidParameterValue("QUALITY must be an integer 0-100", locator="quality")
    return int(value)


def parse_warnings(text: str | None) -> bool:
    """``WARNINGS``: YES or TRUE (the default), NO or FALSE; InvalidParameterValue otherwise."""
    if text is None or not text.strip():
        return True
    found = WARNINGS_VALUES.get(text.strip().upper())
    if found is None:
        raise InvalidParameterValue("WARNINGS must be YES or NO", locator="warnings")
    return found


def parse_geometry(text: str | None) -> str | None:
    """``GEOMETRY``: a WKT polygon or multipolygon (coordinates in the request's CRS) as its
    normalised WKT (for the cache key), None when absent; InvalidParameterValue otherwise."""
    if text is None or not text.strip():
        return None
    if len(text) > MAX_GEOMETRY_CHARS:
        raise LimitExceeded(
            f"GEOMETRY is longer than {MAX_GEOMETRY_CHARS} characters", locator="geometry"
        )
    try:
        geometry = shapely.from_wkt(text.strip())
    except (GEOSException, ValueError, TypeError):
        raise InvalidParameterValue("GEOMETRY must be WKT", locator="geometry") from None
    if geometry is None or geometry.geom_type not in ("Polygon", "MultiPolygon"):
        raise InvalidParameterValue(
            "GEOMETRY must be a WKT POLYGON or MULTIPOLYGON", locator="geometry"
        )
    if shapely.get_num_coordinates(geometry) > MAX_GEOMETRY_VERTICES:
        raise LimitExceeded(
            f"GEOMETRY has more than {MAX_GEOMETRY_VERTICES} vertices", locator="geometry"
        )
    coordinates = shapely.get_coordinates(geometry)
    if geometry.is_empty or not np.isfinite(coordinates).all():
        raise InvalidParameterValue("GEOMETRY needs finite coordinates", locator="geometry")
    return shapely.to_wkt(shapely.make_valid(geometry), rounding_precision=-1)


def inside(geometry: str, grid: Grid) -> np.ndarray:
    """Pixels of ``grid`` whose centre lies in ``geometry`` (WKT in the grid's CRS)."""
    shape = shapely.from_wkt(geometry)
    return geometry_mask(
        [shape], out_shape=(grid.height, grid.width), transform=grid.transform, invert=True
    )


def sh_resampling(
    upsampling: str | None, downsampling: str | None, pixel_m: float, native_m: float
) -> str | None:
    """The engine's resampling for Sentinel Hub's ``UPSAMPLING`` (output pixels finer than
    ``native_m`` ground metres) or ``DOWNSAMPLING`` (coarser), None when the one that applies
    is not given."""
    parsed = [_sh_name(upsampling, "upsampling"), _sh_name(downsampling, "downsampling")]
    return parsed[0] if pixel_m < native_m else parsed[1]


def _sh_name(value: str | None, locator: str) -> str | None:
    if value is None or not value.strip():
        return None
    found = SH_RESAMPLINGS.get(value.strip().upper())
    if found is None:
        raise InvalidParameterValue(
            f"{locator.upper()} must be one of {', '.join(SH_RESAMPLINGS)}", locator=locator
        )
    return found
