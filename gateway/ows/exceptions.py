"""OGC exception reports of the classic doors (WCS, WFS), rendered in one place.

Three dialects:

- ``OWS20``: OWS Common 2.0 ``ows:ExceptionReport`` (WCS 2.0.1);
- ``OWS11``: OWS Common 1.1 ``ows:ExceptionReport`` (WCS 1.1.1, and WFS 2.0.0, whose
  standard is built on OWS Common 1.1);
- ``WCS10``: the ``ServiceExceptionReport`` 1.2.0 of WCS 1.0.0.

HTTP statuses follow OWS Common 2.0 (table 28) and the WCS 2.0 core and extensions. Only a
``GatewayError``'s safe message is ever sent; anything else becomes NoApplicableCode 500
with a generic text (the cause is logged).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

from lxml import etree
from starlette.responses import Response

from gateway.errors import GatewayError
from gateway.ows.xml import XSI

log = logging.getLogger(__name__)

OWS20_NS = "http://www.opengis.net/ows/2.0"
OWS11_NS = "http://www.opengis.net/ows/1.1"
OGC_NS = "http://www.opengis.net/ogc"

# exceptionCode -> HTTP status (OWS Common 2.0 table 28; WCS 2.0.1 core table 19; WCS 2.0
# CRS, scaling, interpolation and range subsetting extensions; WFS 2.0 table 3).
STATUS: dict[str, int] = {
    "OperationNotSupported": 501,
    "OptionNotSupported": 501,
    "MissingParameterValue": 400,
    "InvalidParameterValue": 400,
    "VersionNegotiationFailed": 400,
    "InvalidUpdateSequence": 400,
    "OperationParsingFailed": 400,
    "OperationProcessingFailed": 500,
    "NoApplicableCode": 500,
    "NoSuchCoverage": 404,
    "EmptyCoverageIdList": 404,
    "InvalidAxisLabel": 404,
    "InvalidSubsetting": 404,
    "SubsettingCrs-NotSupported": 404,
    "OutputCrs-NotSupported": 404,
    "InvalidScaleFactor": 404,
    "InvalidExtent": 404,
    "ScaleAxisUndefined": 404,
    "ScalingAxisUndefined": 404,
    "InterpolationMethodNotSupported": 404,
    "NoSuchField": 404,
    "IllegalFieldSequence": 404,
    "NotFound": 404,
    # WCS 1.0.0 ServiceExceptionReport codes
    "CoverageNotDefined": 404,
    "InvalidFormat": 400,
}

# Engine codes that mean "no such coverage" to a WCS client.
_COVERAGE_CODES = frozenset({"NotFound", "LayerNotDefined", "NoSuchCoverage"})


class Dialect(Enum):
    OWS20 = "ows20"
    OWS11 = "ows11"
    WCS10 = "wcs10"


# Where each dialect's schema lives (every report names it in xsi:schemaLocation).
SCHEMAS = {
    Dialect.OWS20: f"{OWS20_NS} http://schemas.opengis.net/ows/2.0/owsExceptionReport.xsd",
    Dialect.OWS11: f"{OWS11_NS} http://schemas.opengis.net/ows/1.1.0/owsExceptionReport.xsd",
    Dialect.WCS10: f"{OGC_NS} http://schemas.opengis.net/wcs/1.0.0/OGC-exception.xsd",
}


@dataclass(frozen=True)
class Report:
    """What an exception report says: code, locator, safe text and HTTP status."""

    code: str
    text: str
    locator: str | None
    status: int


def report_of(error: BaseException, *, wcs: bool = False) -> Report:
    """The client-safe report of any error; internal errors are logged, not described."""
    if not isinstance(error, GatewayError):
        log.exception("internal error in an OGC request", exc_info=error)
        return Report("NoApplicableCode", "internal error", None, 500)
    code = error.code
    if wcs and code in _COVERAGE_CODES:
        code = "NoSuchCoverage"
    elif code in ("LayerNotDefined", "StyleNotDefined"):
        code = "InvalidParameterValue"
    status = STATUS.get(code, error.status if error.status >= 400 else 400)
    if code == "NoApplicableCode" and error.status >= 500:
        status = error.status
    return Report(code, error.message, error.locator, status)


def render_report(report: Report, dialect: Dialect, *, version: str = "2.0.0") -> Response:
    """The XML document of ``report`` in ``dialect`` with its HTTP status."""
    if dialect is Dialect.WCS10:
        nsmap = {None: OGC_NS, "xsi": XSI}
        root = etree.Element(f"{{{OGC_NS}}}ServiceExceptionReport", nsmap=nsmap)
        root.set("version", "1.2.0")
        code = "CoverageNotDefined" if report.code == "NoSuchCoverage" else report.code
        exception = etree.SubElement(root, f"{{{OGC_NS}}}ServiceException", code=code)
        if report.locator:
            exception.set("locator", report.locator)
        exception.text = report.text
        media_type = "application/vnd.ogc.se_xml"
    else:
        ns = OWS20_NS if dialect is Dialect.OWS20 else OWS11_NS
        root = etree.Element(f"{{{ns}}}ExceptionReport", nsmap={"ows": ns, "xsi": XSI})
        root.set("version", version)
        root.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        exception = etree.SubElement(root, f"{{{ns}}}Exception", exceptionCode=report.code)
        if report.locator:
            exception.set("locator", report.locator)
        etree.SubElement(exception, f"{{{ns}}}ExceptionText").text = report.text
        media_type = "application/xml"
    root.set(f"{{{XSI}}}schemaLocation", SCHEMAS[dialect])
    body = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return Response(body, status_code=report.status, media_type=media_type)


def error_response(
    error: BaseException, dialect: Dialect, *, version: str = "2.0.0", wcs: bool = False
) -> Response:
    """Render any error caught at a door's edge."""
    return render_report(report_of(error, wcs=wcs), dialect, version=version)
