"""The one CRS parser every door uses, the areas a CRS can show, and PROJ kept off the network.

Only names are accepted: ``EPSG:n``, OGC URNs (``urn:ogc:def:crs:EPSG::n``, ``urn:x-ogc:...``,
with a version, an empty one or none), OGC URIs (``http://www.opengis.net/def/crs/EPSG/0/n``)
and the CRS84 spellings (``CRS:84``, ``OGC:CRS84``, ``.../OGC/1.3/CRS84``); a safe CURIE may
be bracketed (``[EPSG:3857]``). Each becomes ``CRS.from_epsg(n)``: nothing a client writes ever
reaches GDAL's or PROJ's own parsers, which would read WKT, PROJ strings, files and URLs.
"""

from __future__ import annotations

import ctypes
import functools
import math
import os
import re
from dataclasses import dataclass

from pyproj import CRS as ProjCRS
from pyproj import Transformer
from pyproj.exceptions import CRSError, ProjError
from pyproj.network import set_network_enabled
from rasterio.crs import CRS
from rasterio.env import set_gdal_config

from gateway.core.libgdal import libgdal
from gateway.errors import InvalidParameterValue

Bounds = tuple[float, float, float, float]

WGS84 = CRS.from_epsg(4326)
MAX_NAME = 100  # characters: every accepted spelling is shorter
_CODE = r"(\d{1,6})"
_VERSION = r"\d+(?:\.\d+)*"
_CRS84 = re.compile(
    r"CRS:?84|OGC:CRS84|urn:(?:x-)?ogc:def:crs:OGC:(?:1\.3)?:CRS84"
    r"|https?://www\.opengis\.net/def/crs/OGC/(?:1\.3|0)/CRS84",
    re.IGNORECASE,
)
_SHORT = re.compile(rf"EPSG:{_CODE}", re.IGNORECASE)
# URN and URI forms name EPSG's own axis order (EPSG:4326 is latitude first).
_AUTHORITY_FORMS = (
    re.compile(rf"urn:(?:x-)?ogc:def:crs:EPSG:(?:(?:{_VERSION})?:)?{_CODE}", re.IGNORECASE),
    re.compile(rf"https?://www\.opengis\.net/def/crs/EPSG/{_VERSION}/{_CODE}", re.IGNORECASE),
)
# Geographic CRSs without a known area of use: what a box may span at most.
_ANY_LONLAT = (-540.0, -270.0, 540.0, 270.0)
_ANY_PROJECTED = (-1e9, -1e9, 1e9, 1e9)


@dataclass(frozen=True)
class CrsName:
    """A parsed CRS name: the CRS, its EPSG code (None for CRS84) and whether the name is an
    URN/URI, whose coordinates follow EPSG's axis order (``EPSG:n`` and CRS84 are x/y)."""

    crs: CRS
    code: int | None
    epsg_axis_order: bool


def parse_crs_name(text: str, locator: str = "crs") -> CrsName:
    """A CRS name as above -> CrsName; InvalidParameterValue for anything else, including
    EPSG codes that are not a 2-D geographic or projected CRS (no map grid lies on those)."""
    value = text.strip() if isinstance(text, str) else ""
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    if len(value) <= MAX_NAME:
        found = _parse(value)
        if found is not None:
            return found
    raise InvalidParameterValue(f"unsupported CRS {value[:60]!r}", locator=locator)


def parse_crs(text: str, locator: str = "crs") -> CRS:
    """``EPSG:3857``, ``CRS:84``, ``urn:ogc:def:crs:EPSG::4326``... -> CRS (see parse_crs_name)."""
    return parse_crs_name(text, locator).crs


@functools.lru_cache(maxsize=512)
def _parse(value: str) -> CrsName | None:
    if _CRS84.fullmatch(value):
        return CrsName(WGS84, None, False)
    forms = [(_SHORT, False)] + [(pattern, True) for pattern in _AUTHORITY_FORMS]
    for pattern, epsg_axis_order in forms:
        match = pattern.fullmatch(value)
        if match is not None:
            code = int(match.group(1))
            return CrsName(CRS.from_epsg(code), code, epsg_axis_order) if _planar(code) else None
    return None


@functools.lru_cache(maxsize=512)
def _planar(code: int) -> bool:
    """EPSG ``code`` is a 2-D geographic or projected CRS (what a map grid can be laid on)."""
    try:
        crs = ProjCRS.from_epsg(code)
    except CRSError:
        return False
    return (crs.is_geographic or crs.is_projected) and len(crs.axis_info) == 2


@functools.lru_cache(maxsize=256)
def epsg_north_first(code: int) -> bool:
    """True when EPSG ``code``'s first axis points north (EPSG:4326, EPSG:3035...)."""
    axes = ProjCRS.from_epsg(code).axis_info
    return bool(axes) and axes[0].direction.lower() in ("north", "south")


def check_area(crs: CRS, bounds: Bounds, locator: str = "bbox") -> None:
    """Refuse, before any transformation, a box with non-finite or reversed coordinates or
    one beyond what ``crs`` can show (``check_inside``)."""
    check_inside(crs, bounds, locator)
    minx, miny, maxx, maxy = bounds
    if not (maxx > minx and maxy > miny):
        raise InvalidParameterValue("the box must have min < max on both axes", locator=locator)


def check_inside(crs: CRS, bounds: Bounds, locator: str = "bbox") -> None:
    """Refuse bounds (of a box, a point or a polygon) that are not finite or reach beyond
    what ``crs`` can show: its area of use (PROJ's) widened by its own width and height on
    every side. So the whole world in EPSG:3857 (±20037508.34) or EPSG:4326 on any canvas,
    or a UTM zone's neighbours, pass; ``±1e16`` metres, which would keep GDAL busy for
    seconds, does not."""
    if not all(math.isfinite(v) for v in bounds):
        raise InvalidParameterValue("the box must have finite coordinates", locator=locator)
    minx, miny, maxx, maxy = bounds
    lowx, lowy, highx, highy = usable_area(crs)
    if minx < lowx or miny < lowy or maxx > highx or maxy > highy:
        raise InvalidParameterValue(
            "the box lies far outside the area its CRS is defined for", locator=locator
        )


def usable_area(crs: CRS) -> Bounds:
    """What a box in ``crs`` may span (x/y, CRS units): see ``check_area``."""
    return _usable_area(crs.to_epsg(), crs.is_geographic)


@functools.lru_cache(maxsize=256)
def _usable_area(code: int | None, geographic: bool) -> Bounds:
    use = _area_of_use(code, geographic)
    if use is None:
        return _ANY_LONLAT if geographic else _ANY_PROJECTED
    minx, miny, maxx, maxy = use
    width, height = maxx - minx, maxy - miny
    return (minx - width, miny - height, maxx + width, maxy + height)


def _area_of_use(code: int | None, geographic: bool) -> Bounds | None:
    """PROJ's area of use of EPSG ``code`` in the CRS's own x/y units, or None."""
    if code is None:
        return None
    try:
        crs = ProjCRS.from_epsg(code)
        area = crs.area_of_use
        if area is None:
            return None
        west, south, east, north = area.bounds
        if east < west:  # across the antimeridian
            east += 360.0
        if geographic:
            return (west, south, east, north)
        lonlat = Transformer.from_crs(4326, crs, always_xy=True)
        found = lonlat.transform_bounds(west, south, east, north, densify_pts=21)
    except ProjError:  # CRSError too
        return None
    return found if all(math.isfinite(v) for v in found) else None


def keep_proj_offline() -> None:
    """PROJ (through pyproj and through GDAL) never fetches grids or definitions over the
    network, whatever the environment or ``proj.ini`` say. Called when the runtime is built.

    PROJ contexts made later (one per thread) read ``PROJ_NETWORK``; GDAL's switch also turns
    off the contexts made before (the main thread's, made at import with the environment of
    then), which its configuration option does not.
    """
    os.environ["PROJ_NETWORK"] = "OFF"
    set_gdal_config("PROJ_NETWORK", "OFF")
    set_network_enabled(False)
    libgdal().OSRSetPROJEnableNetwork(ctypes.c_int(0))
