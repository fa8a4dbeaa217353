"""The output grid of a coverage or map request: area, and size from OGC API scaling."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from gateway.config import Limits
from gateway.errors import InvalidParameterValue, LimitExceeded

NATIVE_RESOLUTION_M = 10.0
METRES_PER_DEGREE = 111_320.0
LON_AXES = ("lon", "long", "x", "e")
LAT_AXES = ("lat", "y", "n")

_AXIS_VALUE = re.compile(r"^\s*([A-Za-z]+)\s*\(\s*([^)]*)\)\s*$")


def _axis_values(text: str, locator: str) -> dict[str, float]:
    """``Lon(800),Lat(400)`` -> {"lon": 800, "lat": 400}."""
    found: dict[str, float] = {}
    for part in re.split(r",(?![^(]*\))", text):
        match = _AXIS_VALUE.match(part)
        if not match:
            raise InvalidParameterValue(f"{locator} must look like Lon(n),Lat(n)", locator=locator)
        try:
            found[match.group(1).lower()] = float(match.group(2))
        except ValueError:
            raise InvalidParameterValue(
                f"{locator} values must be numbers", locator=locator
            ) from None
    return found


def _axis(values: dict[str, float], names: tuple[str, ...]) -> float | None:
    return next((values[n] for n in names if n in values), None)


def native_size(bbox: tuple[float, float, float, float]) -> tuple[int, int]:
    """Pixels of a lon/lat box at the native 10 m resolution."""
    minx, miny, maxx, maxy = bbox
    lat = math.radians((miny + maxy) / 2)
    width = (maxx - minx) * METRES_PER_DEGREE * max(math.cos(lat), 0.01) / NATIVE_RESOLUTION_M
    height = (maxy - miny) * METRES_PER_DEGREE / NATIVE_RESOLUTION_M
    return max(1, math.ceil(width)), max(1, math.ceil(height))


def output_size(
    bbox: tuple[float, float, float, float], params: Mapping[str, str | None], limits: Limits
) -> tuple[int, int]:
    """Size from ``scale-size``, ``width``/``height``, ``scale-factor`` or ``scale-axes``.

    Without any, the native resolution; a grid beyond the limits is LimitExceeded.
    """
    width, height = native_size(bbox)
    if params.get("scale-size"):
        sizes = _axis_values(params["scale-size"] or "", "scale-size")
        width = int(_axis(sizes, LON_AXES) or width)
        height = int(_axis(sizes, LAT_AXES) or height)
    elif params.get("width") or params.get("height"):
        try:
            width = int(params.get("width") or width)
            height = int(params.get("height") or height)
        except ValueError:
            raise InvalidParameterValue(
                "width and height must be integers", locator="size"
            ) from None
    elif params.get("scale-factor"):
        try:
            factor = float(params["scale-factor"] or "")
        except ValueError:
            raise InvalidParameterValue(
                "scale-factor must be a number", locator="scale-factor"
            ) from None
        if not factor > 0:
            raise InvalidParameterValue("scale-factor must be positive", locator="scale-factor")
        width, height = max(1, round(width / factor)), max(1, round(height / factor))
    elif params.get("scale-axes"):
        factors = _axis_values(params["scale-axes"] or "", "scale-axes")
        if any(not f > 0 for f in factors.values()):
            raise InvalidParameterValue("scale-axes factors must be positive", locator="scale-axes")
        width = max(1, round(width / (_axis(factors, LON_AXES) or 1)))
        height = max(1, round(height / (_axis(factors, LAT_AXES) or 1)))
    if width < 1 or height < 1:
        raise InvalidParameterValue("the output size must be positive", locator="size")
    if width > limits.max_width or height > limits.max_height or width * height > limits.max_pixels:
        raise LimitExceeded(
            f"{width}x{height} pixels exceeds the limit of {limits.max_width}x{limits.max_height};"
            " ask for a smaller area or use scale-size / scale-factor",
            locator="size",
        )
    return width, height


def subset_bbox(
    bbox: list[float] | None,
    subsets: Mapping[str, list[float]] | None,
    default: tuple[float, float, float, float],
) -> tuple[float, float, float, float]:
    """The lon/lat area from ``bbox`` or ``subset=Lon(a:b),Lat(c:d)``, else ``default``."""
    minx, miny, maxx, maxy = default
    if bbox:
        if len(bbox) != 4:
            raise InvalidParameterValue("bbox must be minx,miny,maxx,maxy", locator="bbox")
        minx, miny, maxx, maxy = (float(v) for v in bbox)
    for name, span in (subsets or {}).items():
        if len(span) != 2:
            raise InvalidParameterValue("subset needs low:high", locator="subset")
        low, high = sorted(float(v) for v in span)
        if name.lower() in LON_AXES:
            minx, maxx = low, high
        elif name.lower() in LAT_AXES:
            miny, maxy = low, high
    if not (-180 <= minx < maxx <= 180 and -90 <= miny < maxy <= 90):
        raise InvalidParameterValue("the area must be a valid lon/lat box", locator="bbox")
    return minx, miny, maxx, maxy
