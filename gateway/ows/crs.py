"""CRS names of the classic doors as OWS presents them: the axis order of each spelling.

Parsing is the core's (``gateway.core.crs``): ``EPSG:n``, URNs, OGC URIs and CRS84 only.
"""

from __future__ import annotations

from dataclasses import dataclass

import shapely
from pyproj import Transformer
from rasterio.crs import CRS
from shapely.geometry.base import BaseGeometry

from gateway.core.crs import epsg_north_first, parse_crs_name
from gateway.core.transforms import transformer as core_transformer


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


def parse_ows_crs(text: str, locator: str = "crs") -> OwsCrs:
    """A CRS parameter of a classic door, by the core's one parser, with its axis order."""
    name = parse_crs_name(text, locator)
    north = name.epsg_axis_order and name.code is not None and epsg_north_first(name.code)
    return OwsCrs(name.crs, name.code, north)


def reproject_geometry(geometry: BaseGeometry, source: CRS, target: CRS) -> BaseGeometry:
    """``geometry`` from ``source`` to ``target`` (both x/y)."""
    if source == target:
        return geometry
    transformer = core_transformer(source, target)
    return shapely.transform(geometry, lambda xy: _apply(transformer, xy))


def _apply(transformer: Transformer, xy):
    import numpy as np

    x, y = transformer.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([x, y])
