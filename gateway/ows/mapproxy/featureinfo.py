"""WMTS GetFeatureInfo (KVP and REST), answered in front of MapProxy as GetTile is.

MapProxy advertises the operation (``InfoFormat`` per layer, the REST ``FeatureInfo``
ResourceURL), but would drop MAXCC, PRIORITY and EXPRESSION and miss the REST TIME. So the
tile is resolved by the tile service as GetTile is (``TileService.request``, which validates
every parameter) and the pixel I/J of that tile is looked up with the WMS
GetFeatureInfo code (``sources.pixel_info``, ``sources.info_document``).

The XML answer of both doors is WMTS 1.0's ``FeatureInfoResponse``, the one OGC schema for
feature info (WMS defines none): its ``AnyContent`` holds the gateway's own document, one
``Layer`` (value per band, scene, date) per queried layer (``wmts_envelope``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from lxml import etree
from starlette.responses import Response

from gateway.core.tiles.grids import TileAddress
from gateway.errors import GatewayError, InvalidParameterValue
from gateway.ows.mapproxy.config import WMTS_INFO_FORMATS
from gateway.ows.mapproxy.sources import info_document, pixel_info
from gateway.ows.mapproxy.wmts import kvp_tile, tile_params
from gateway.ows.wms_params import RenderParams, require
from gateway.ows.xml import XSI, qname
from gateway.runtime import Runtime

REST_INFO = re.compile(
    r"^/1\.0\.0/(?P<layer>[^/]+)/(?P<tms>[^/]+)/(?P<time>[^/]+)/(?P<z>\d{1,2})/"
    r"(?P<x>\d{1,9})/(?P<y>\d{1,9})/(?P<i>-?\d{1,9})/(?P<j>-?\d{1,9})\.(?P<ext>[a-z]{2,5})$"
)
_INTEGER = re.compile(r"^\s*-?\d{1,9}\s*$")
WMTS = "http://www.opengis.net/wmts/1.0"
WMTS_INFO_SCHEMA = f"{WMTS} http://schemas.opengis.net/wmts/1.0/wmtsGetFeatureInfo_response.xsd"
XML_INFO = "text/xml"


class PointIJOutOfRange(GatewayError):
    """WMTS 1.0.0: the I or J of a GetFeatureInfo is outside the tile."""

    code = "PointIJOutOfRange"
    status = 400


@dataclass(frozen=True)
class InfoRequest:
    """One WMTS GetFeatureInfo: the tile, the pixel in it, the answer's media type."""

    tile: TileAddress
    i: int
    j: int
    info_format: str
    params: Mapping[str, str]


def _point(text: str, name: str) -> int:
    if not _INTEGER.match(text):
        raise InvalidParameterValue(f"{name} must be an integer", locator=name.lower())
    return int(text)


def rest_info(path: str, params: Mapping[str, str]) -> InfoRequest | None:
    """A REST feature-info path -> the request (TIME from the path), else None."""
    match = REST_INFO.match(path)
    if match is None:
        return None
    media = WMTS_INFO_FORMATS.get(match["ext"])
    if media is None:
        raise InvalidParameterValue(
            f"info format must be one of {', '.join(WMTS_INFO_FORMATS)}", locator="infoformat"
        )
    address = TileAddress(
        match["layer"], match["tms"], int(match["z"]), int(match["x"]), int(match["y"]), "png"
    )
    merged = {**params, "TIME": match["time"]}
    return InfoRequest(address, int(match["i"]), int(match["j"]), media, merged)


def kvp_info(params: Mapping[str, str]) -> InfoRequest:
    """A KVP GetFeatureInfo -> the request (raises on missing or malformed parameters)."""
    address = kvp_tile(params)
    media = require(params, "INFOFORMAT").strip().lower()
    if media not in WMTS_INFO_FORMATS.values():
        raise InvalidParameterValue(
            f"INFOFORMAT must be one of {', '.join(WMTS_INFO_FORMATS.values())}",
            locator="infoformat",
        )
    i, j = _point(require(params, "I"), "I"), _point(require(params, "J"), "J")
    return InfoRequest(address, i, j, media, params)


def feature_info(runtime: Runtime, request: InfoRequest) -> Response:
    """The layer's value(s) at pixel I/J of the tile, with the scene id and date."""
    tile = runtime.tiles.request(request.tile, tile_params(request.params))  # validates it
    width, height = tile.grid.width, tile.grid.height
    for name, value, size in (("I", request.i, width), ("J", request.j, height)):
        if not 0 <= value < size:
            raise PointIJOutOfRange(
                f"{name} must be between 0 and {size - 1}", locator=name.lower()
            )
    info = pixel_info(
        runtime,
        str(tile.layer),
        RenderParams.from_params(request.params),
        bbox=tile.grid.bounds,
        size=(width, height),
        pos=(request.i, request.j),
        crs=tile.grid.crs.to_string(),
    )
    content = info_document(info, request.info_format).as_string()
    if request.info_format == XML_INFO:
        content = wmts_envelope(content.encode())
    return Response(content, media_type=request.info_format)


def wmts_envelope(document: bytes) -> bytes:
    """A feature-info XML document (MapProxy's combination of the layers' documents for WMS)
    inside WMTS 1.0's ``FeatureInfoResponse/AnyContent``; anything else unchanged."""
    try:
        inner = etree.fromstring(document, etree.XMLParser(resolve_entities=False))
    except etree.XMLSyntaxError:
        return document  # MapProxy's empty answer (no queryable layer)
    root = etree.Element(qname(WMTS, "FeatureInfoResponse"), nsmap={"wmts": WMTS, "xsi": XSI})
    root.set(qname(XSI, "schemaLocation"), WMTS_INFO_SCHEMA)
    etree.SubElement(root, qname(WMTS, "AnyContent")).append(inner)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
