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

import re
from functools import lru_cache

from pyproj import CRS
from pyproj.exceptions import CRSError

_FORMS = (
    re.compile(r"https?://www\.opengis\.net/def/crs/(?P<auth>\w+)/[\w.]+/(?P<code>\w+)/?", re.I),
    re.compile(r"urn:ogc:def:crs:(?P<auth>\w+):[\w.]*:(?P<code>\w+)", re.I),
    re.compile(r"\[?(?P<auth>\w+):(?P<code>\w+)\]?"),
    re.compile(r"(?P<code>[0-9]+)"),  # an EPSG code
)


@lru_cache(maxsize=256)
def epsg_code(text: str) -> int | None:
    """The EPSG code of the horizontal CRS ``text`` names; None for CRS84. Raises ValueError
    when it names no such CRS."""
    value = text.strip()
    match = next((m for form in _FORMS if (m := form.fullmatch(value))), None)
    if match is None:
        raise ValueError(f"unknown CRS {value[:60]!r}")
    authority = (match.groupdict().get("auth") or "EPSG").upper()
    code = match["code"].upper()
    if (authority, code) in (("OGC", "CRS84"), ("CRS", "84")):
        return None
    if authority != "EPSG" or not code.isdigit():
        raise ValueError(f"unknown CRS {value[:60]!r}: give an EPSG or the OGC CRS84 CRS")
    try:
        crs = CRS.from_epsg(int(code))
    except CRSError:
        raise ValueError(f"unknown CRS {value[:60]!r}") from None
    if not (crs.is_geographic or crs.is_projected) or crs.is_vertical:
        raise ValueError(f"{value[:60]!r} is not a horizontal CRS")
    return int(code)


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
    from rasterio.warp import transform_bounds

    return list(transform_bounds(f"EPSG:{code}", "EPSG:4326", *bbox, densify_pts=21))
