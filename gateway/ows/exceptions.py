"""OGC exception reports of the classic doors: one status table, one renderer per dialect.

Dialects (each built with lxml):

- ``OWS20``: OWS Common 2.0 ``ows:ExceptionReport`` (WCS 2.0.1);
- ``OWS11``: OWS Common 1.1 ``ows:ExceptionReport`` (WCS 1.1.1, WMTS 1.0.0, and WFS 2.0.0,
  whose standard is built on OWS Common 1.1);
- ``WCS10``: the ``ServiceExceptionReport`` 1.2.0 of WCS 1.0.0;
- ``WMS111`` and ``WMS130``: the ``ServiceExceptionReport`` of WMS 1.1.1 (DTD, no namespace,
  no locator) and of WMS 1.3.0.

A door names its own code vocabulary (``codes``: engine code -> the door's code). Only a
``GatewayError``'s safe message is ever sent; anything else becomes NoApplicableCode 500 with
a generic text (the cause is logged).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
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
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

# exceptionCode -> HTTP status (OWS Common 2.0 table 28; WCS 2.0.1 core table 19; WCS 2.0
# CRS, scaling, interpolation and range subsetting extensions; WFS 2.0 table 3; WMTS 1.0.0
# tables 21, 23 and 28). WMS defines no statuses: its codes are client errors, 400.
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
    "TileOutOfRange": 400,
    "PointIJOutOfRange": 400,
    # WCS 1.0.0 ServiceExceptionReport codes
    "CoverageNotDefined": 404,
    "InvalidFormat": 400,
    # WMS 1.1.1 / 1.3.0 codes
    "InvalidCRS": 400,
    "InvalidSRS": 400,
    "LayerNotDefined": 400,
    "StyleNotDefined": 400,
    "InvalidPoint": 400,
    "InvalidDimensionValue": 400,
    "MissingDimensionValue": 400,
    "CurrentUpdateSequence": 400,
}
# The one exception to the table: the WMS door has always answered 400 to an unknown
# REQUEST (WMS gives no status; OWS Common's 501 is for the OWS dialects).
WMS_STATUS = {"OperationNotSupported": 400}

# Engine codes outside OWS vocabulary, as the OWS doors say them (WCS and WMTS add theirs).
OWS_CODES = {"LayerNotDefined": "InvalidParameterValue", "StyleNotDefined": "InvalidParameterValue"}
# Characters XML 1.0 cannot hold (a message quoting a client's control characters).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class Dialect(Enum):
    OWS20 = "ows20"
    OWS11 = "ows11"
    WCS10 = "wcs10"
    WMS111 = "wms111"
    WMS130 = "wms130"


@dataclass(frozen=True)
class Report:
    """What an exception report says: code, locator, safe text and HTTP status."""

    code: str
    text: str
    locator: str | None
    status: int


def status_of(code: str, error_status: int, dialect: Dialect) -> int:
    """The HTTP status of ``code`` (the table; the error's own for a server error it does not
    list, or for NoApplicableCode with a 5xx of its own: 502, 503)."""
    if code == "NoApplicableCode" and error_status >= 500:
        return error_status
    if dialect in (Dialect.WMS111, Dialect.WMS130) and code in WMS_STATUS:
        return WMS_STATUS[code]
    return STATUS.get(code, error_status if error_status >= 400 else 400)


def report_of(
    error: BaseException, dialect: Dialect, codes: Mapping[str, str] = OWS_CODES
) -> Report:
    """The client-safe report of any error; internal errors are logged, not described."""
    if not isinstance(error, GatewayError):
        log.exception("internal error in an OGC request", exc_info=error)
        return Report("NoApplicableCode", "internal error", None, 500)
    code = codes.get(error.code, error.code)
    return Report(code, error.message, error.locator, status_of(code, error.status, dialect))


def render_report(report: Report, dialect: Dialect, *, version: str = "2.0.0") -> Response:
    """The XML document of ``report`` in ``dialect`` with its HTTP status (``version``: the
    ExceptionReport's of the OWS dialects)."""
    text = _NOT_XML.sub("\ufffd", report.text)
    doctype = None
    if dialect in (Dialect.OWS20, Dialect.OWS11):
        ns = OWS20_NS if dialect is Dialect.OWS20 else OWS11_NS
        root = _ows_report(report, text, ns, version)
        media_type = "application/xml"
    elif dialect is Dialect.WMS111:
        root = _service_exception_report(report, text, None, "1.1.1", locator=False)
        doctype = _WMS111_DOCTYPE
        media_type = "application/vnd.ogc.se_xml"
    else:
        root = _service_exception_report(report, text, OGC_NS, _SER_VERSIONS[dialect])
        media_type = "text/xml" if dialect is Dialect.WMS130 else "application/vnd.ogc.se_xml"
    if dialect in SCHEMAS:
        root.set(f"{{{XSI}}}schemaLocation", SCHEMAS[dialect])
    body = etree.tostring(root, xml_declaration=True, encoding="UTF-8", doctype=doctype)
    return Response(body, status_code=report.status, media_type=media_type)


def error_response(
    error: BaseException,
    dialect: Dialect,
    *,
    version: str = "2.0.0",
    codes: Mapping[str, str] = OWS_CODES,
) -> Response:
    """Render any error caught at a door's edge."""
    return render_report(report_of(error, dialect, codes), dialect, version=version)


# Where each dialect's schema lives (every namespaced report names it in xsi:schemaLocation).
SCHEMAS = {
    Dialect.OWS20: f"{OWS20_NS} http://schemas.opengis.net/ows/2.0/owsExceptionReport.xsd",
    Dialect.OWS11: f"{OWS11_NS} http://schemas.opengis.net/ows/1.1.0/owsExceptionReport.xsd",
    Dialect.WCS10: f"{OGC_NS} http://schemas.opengis.net/wcs/1.0.0/OGC-exception.xsd",
    Dialect.WMS130: f"{OGC_NS} http://schemas.opengis.net/wms/1.3.0/exceptions_1_3_0.xsd",
}
_SER_VERSIONS = {Dialect.WCS10: "1.2.0", Dialect.WMS130: "1.3.0"}
_WMS111_DOCTYPE = (
    "<!DOCTYPE ServiceExceptionReport SYSTEM "
    '"http://schemas.opengis.net/wms/1.1.1/exception_1_1_1.dtd">'
)


def _ows_report(report: Report, text: str, ns: str, version: str) -> etree._Element:
    root = etree.Element(f"{{{ns}}}ExceptionReport", nsmap={"ows": ns, "xsi": XSI})
    root.set("version", version)
    root.set(XML_LANG, "en")
    exception = etree.SubElement(root, f"{{{ns}}}Exception", exceptionCode=report.code)
    if report.locator:
        exception.set("locator", report.locator)
    etree.SubElement(exception, f"{{{ns}}}ExceptionText").text = text
    return root


def _service_exception_report(
    report: Report, text: str, ns: str | None, version: str, *, locator: bool = True
) -> etree._Element:
    """``ServiceExceptionReport`` of WMS and WCS 1.0.0 (in ``ns``, or none for WMS 1.1.1)."""
    nsmap = {None: ns, "xsi": XSI} if ns else None
    tag = f"{{{ns}}}" if ns else ""
    root = etree.Element(f"{tag}ServiceExceptionReport", nsmap=nsmap, version=version)
    exception = etree.SubElement(root, f"{tag}ServiceException", code=report.code)
    if locator and report.locator:
        exception.set("locator", report.locator)
    exception.text = text
    return root
