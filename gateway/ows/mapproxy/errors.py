"""OGC exception answers of the WMS and WMTS doors, rendered from ``gateway.errors``."""

from __future__ import annotations

from collections.abc import Mapping
from io import BytesIO

from PIL import Image, ImageDraw, ImageFont
from starlette.responses import Response

from gateway.core.styles import parse_color
from gateway.errors import GatewayError, InvalidParameterValue
from gateway.ows.exceptions import OWS_CODES, Dialect, error_response
from gateway.ows.mapproxy.wms import WMS_VERSIONS

# Codes of gateway errors that are not WMS vocabulary.
_GENERIC = {"NotFound": "InvalidParameterValue"}
# ... nor WMTS vocabulary (WMTS has no LayerNotDefined: the locator says layer).
WMTS_CODES = {**OWS_CODES, **_GENERIC}


def wms_code(error: GatewayError, version: str) -> str:
    """The WMS exception code of ``error`` for a protocol version."""
    if error.locator == "crs" and error.code == "InvalidParameterValue":
        return WMS_VERSIONS[version].crs_code
    if error.locator == "time" and error.code == "InvalidParameterValue":
        return "InvalidDimensionValue"
    if error.locator == "format" and error.code == "InvalidParameterValue":
        return "InvalidFormat"
    return _GENERIC.get(error.code, error.code)


def wms_exception_xml(error: GatewayError, version: str) -> Response:
    """The ServiceExceptionReport of WMS ``version`` (1.1.1 or 1.3.0)."""
    dialect = WMS_VERSIONS[version].dialect
    return error_response(error, dialect, codes={error.code: wms_code(error, version)})


def wms_exception(error: GatewayError, version: str, params: Mapping[str, str]) -> Response:
    """XML, or an image (``EXCEPTIONS=INIMAGE`` / ``BLANK``) when the request allows one."""
    mode = params.get("EXCEPTIONS", "").lower()
    image_mode = "inimage" if "inimage" in mode else "blank" if "blank" in mode else None
    if image_mode is None or error.locator in ("size", "width", "height"):
        return wms_exception_xml(error, version)
    try:
        width, height = int(params["WIDTH"]), int(params["HEIGHT"])
        fmt = params.get("FORMAT", "image/png").lower()
        pil_format = {"image/jpeg": "JPEG", "image/webp": "WEBP"}.get(fmt, "PNG")
        transparent = params.get("TRANSPARENT", "").lower() == "true" and pil_format != "JPEG"
        r, g, b, _ = parse_color(params.get("BGCOLOR") or "0xFFFFFF", locator="bgcolor")
    except (KeyError, ValueError, InvalidParameterValue):
        return wms_exception_xml(error, version)
    if not (0 < width <= 4096 and 0 < height <= 4096):
        return wms_exception_xml(error, version)
    image = Image.new("RGBA", (width, height), (r, g, b, 0 if transparent else 255))
    if image_mode == "inimage":
        draw = ImageDraw.Draw(image)
        draw.text((4, 4), error.message, fill=(0, 0, 0, 255), font=ImageFont.load_default())
    out = BytesIO()
    (image if transparent else image.convert("RGB")).save(out, pil_format)
    media = {"JPEG": "image/jpeg", "WEBP": "image/webp"}.get(pil_format, "image/png")
    return Response(out.getvalue(), media_type=media)


def wmts_exception(error: GatewayError) -> Response:
    """An OWS 1.1 ExceptionReport (the WMTS 1.0.0 form), rendered as WCS and WFS render theirs."""
    return error_response(error, Dialect.OWS11, version="1.0.0", codes=WMTS_CODES)
