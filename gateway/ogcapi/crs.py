"""CRS parameters of OGC API requests (``crs``, ``bbox-crs``) in the form pygeoapi reads.

pygeoapi 0.24 lower-cases a CRS URI before it resolves it, which breaks the OGC CRS84 URI
(``http://www.opengis.net/def/crs/OGC/1.3/CRS84``, its own default), and it hands on what
names no CRS (``[EPSG:999999]``, ``foo:bar``) until the request fails with a 500. The door
reads the forms clients send, OGC URIs, URNs, CURIEs with or without brackets and bare EPSG
codes (pygeoapi's OpenAPI document describes the Maps ``bbox-crs`` as one), and gives pygeoapi
the safe CURIE it resolves exactly; anything else is a client error. A coverage's
``bbox-crs`` pygeoapi hands on as it is: ``lonlat_bbox`` reads it.
"""

from __future__ import annotations

from functools import lru_cache

from gateway.core.crs import WGS84, parse_crs_name
from gateway.core.grid import reproject_bounds
from gateway.errors import InvalidParameterValue


@lru_cache(maxsize=256)
def epsg_code(text: str) -> int | None:
    """The EPSG code of the horizontal CRS ``text`` names (the core's one CRS parser, plus
    the bare EPSG codes pygeoapi's OpenAPI document offers); None for CRS84. Raises
    ValueError when it names no such CRS."""
    value = text.strip()
    try:
        return parse_crs_name(f"EPSG:{value}" if value.isdigit() else value).code
    except InvalidParameterValue as error:
        raise ValueError(error.message) from None


def pygeoapi_crs(text: str) -> str:
    """``text`` as the CURIE pygeoapi resolves: ``[EPSG:<code>]`` for a horizontal EPSG CRS,
    ``[OGC:CRS84]`` for CRS84. Raises ValueError when it names no such CRS."""
    code = epsg_code(text)
    return "[OGC:CRS84]" if code is None else f"[EPSG:{code}]"


def lonlat_bbox(bbox: list[float], crs_text: str | None) -> list[float]:
    """``bbox`` (x, y order, as the Maps door reads it too) in the CRS ``crs_text`` names, as
    the lon/lat box around it (densified edges); as it is for CRS84, EPSG:4326 or no CRS."""
    code = epsg_code(crs_text) if crs_text else None
    if code in (None, 4326) or len(bbox) != 4:
        return bbox
    source = parse_crs_name(f"EPSG:{code}").crs
    return list(reproject_bounds(tuple(bbox), source, WGS84, locator="bbox"))  # type: ignore[arg-type]
