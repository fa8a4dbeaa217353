"""CRS names of the classic doors (``EPSG:n``, URNs, OGC URIs, CRS84) and their axis order."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import shapely
from pyproj import CRS as ProjCRS
from pyproj import Transformer
from rasterio.crs import CRS
from shapely.geometry.base import BaseGeometry

from gateway.errors import InvalidParameterValue

_CRS84 = re.compile(r"(CRS:?84|OGC/1\.3/CRS84|OGC:1\.3:CRS84|OGC:CRS84|OGC/0/CRS84)$", re.I)
_URI = re.compile(r"^https?://www\.opengis\.net/def/crs/EPSG/0/(\d+)$", re.I)
_URN = re.compile(r"^urn:(?:x-)?ogc:def:crs:EPSG:[\d.]*:(\d+)$", re.I)
_SHORT = re.compile(r"^EPSG:(\d+)$", re.I)


@dataclass(frozen=True)
class OwsCrs:
    """A parsed CRS name: the CRS, its EPSG code (None for CRS84) and whether coordinates
    written in this form come north/latitude first (URN and URI forms follow the EPSG axis
    order; ``EPSG:n`` and CRS84 are always x/y)."""

    crs: CRS
    code: int | None
    north_first: bool

    @property
    def uri(self) -> str:
        if self.code is None:
            return "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
        return f"http://www.opengis.net/def/crs/EPSG/0/{self.code}"

    @property
    def urn(self) -> str:
        if self.code is None:
            return "urn:ogc:def:crs:OGC:1.3:CRS84"
        return f"urn:ogc:def:crs:EPSG::{self.code}"

    def xy(self, a: float, b: float) -> tuple[float, float]:
        """Coordinates as written in this form -> (x, y)."""
        return (b, a) if self.north_first else (a, b)


@functools.lru_cache(maxsize=256)
def epsg_north_first(code: int) -> bool:
    """True when EPSG ``code``'s first axis points north (EPSG:4326, EPSG:3035...)."""
    axes = ProjCRS.from_epsg(code).axis_info
    return bool(axes) and axes[0].direction.lower() in ("north", "south")


@functools.lru_cache(maxsize=256)
def _planar(code: int) -> bool:
    """A 2-D geographic or projected CRS (what a map grid can be laid on)."""
    crs = ProjCRS.from_epsg(code)
    return (crs.is_geographic or crs.is_projected) and len(crs.axis_info) == 2


@functools.lru_cache(maxsize=256)
def parse_ows_crs(text: str, locator: str = "crs") -> OwsCrs:
    value = text.strip()
    if _CRS84.search(value):
        return OwsCrs(CRS.from_epsg(4326), None, False)
    for pattern, urn_like in ((_URI, True), (_URN, True), (_SHORT, False)):
        match = pattern.match(value)
        if match:
            code = int(match.group(1))
            try:
                crs = CRS.from_epsg(code)
                north = urn_like and epsg_north_first(code)
                planar = _planar(code)
            except Exception:
                break
            if not planar:
                break  # geocentric, vertical, compound...: no map grid
            return OwsCrs(crs, code, north)
    raise InvalidParameterValue(f"unsupported CRS {value[:60]!r}", locator=locator)


@functools.lru_cache(maxsize=64)
def _transformer(source: str, target: str) -> Transformer:
    return Transformer.from_crs(source, target, always_xy=True)


def reproject_geometry(geometry: BaseGeometry, source: CRS, target: CRS) -> BaseGeometry:
    """``geometry`` from ``source`` to ``target`` (both x/y)."""
    if source == target:
        return geometry
    transformer = _transformer(source.to_wkt(), target.to_wkt())
    return shapely.transform(geometry, lambda xy: _apply(transformer, xy))


def _apply(transformer: Transformer, xy):
    import numpy as np

    x, y = transformer.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([x, y])
