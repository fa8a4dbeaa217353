"""WCS 2.0.1 documents: Capabilities and CoverageDescriptions (GML 3.2, GMLCOV, SWE Common)."""

from __future__ import annotations

from lxml import etree

from gateway.ows.wcs.coverages import Coverage
from gateway.ows.wcs.domain import native_grid
from gateway.ows.wcs.service import (
    ABSTRACT,
    CRS_CODES,
    FORMATS,
    INTERPOLATIONS,
    OPERATIONS,
    TITLE,
    VERSIONS,
    Endpoint,
)
from gateway.ows.xml import XLINK, XSI, fmt, iso, sub

WCS = "http://www.opengis.net/wcs/2.0"
OWS = "http://www.opengis.net/ows/2.0"
GML = "http://www.opengis.net/gml/3.2"
GMLCOV = "http://www.opengis.net/gmlcov/1.0"
SWE = "http://www.opengis.net/swe/2.0"
CRS_EXT = "http://www.opengis.net/wcs/crs/1.0"
INT_EXT = "http://www.opengis.net/wcs/interpolation/1.0"
CDSE = "urn:cdse-gateway:wcs"
NSMAP = {
    "wcs": WCS, "ows": OWS, "gml": GML, "gmlcov": GMLCOV, "swe": SWE, "xlink": XLINK,
    "xsi": XSI, "crs": CRS_EXT, "int": INT_EXT, "cdse": CDSE,
}  # fmt: skip
NATIVE_CRS = "http://www.opengis.net/def/crs/EPSG/0/4326"
PROFILES = (
    "http://www.opengis.net/spec/WCS/2.0/conf/core",
    "http://www.opengis.net/spec/WCS_protocol-binding_get-kvp/1.0/conf/get-kvp",
    "http://www.opengis.net/spec/GMLCOV/1.0/conf/gml-coverage",
    "http://www.opengis.net/spec/GMLCOV_geotiff-coverages/1.0/conf/geotiff-coverage",
    "http://www.opengis.net/spec/WCS_service-extension_crs/1.0/conf/crs",
    "http://www.opengis.net/spec/WCS_service-extension_scaling/1.0/conf/scaling",
    "http://www.opengis.net/spec/WCS_service-extension_range-subsetting/1.0/conf/record-subsetting",
    "http://www.opengis.net/spec/WCS_service-extension_interpolation/1.0/conf/interpolation",
)


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def capabilities(coverages: list[Coverage], endpoint: Endpoint) -> etree._Element:
    root = etree.Element(_q(WCS, "Capabilities"), nsmap=NSMAP, version="2.0.1")
    root.set(
        _q(XSI, "schemaLocation"),
        f"{WCS} http://schemas.opengis.net/wcs/2.0/wcsAll.xsd",
    )
    ident = sub(root, _q(OWS, "ServiceIdentification"))
    sub(ident, _q(OWS, "Title"), TITLE)
    sub(ident, _q(OWS, "Abstract"), ABSTRACT)
    sub(ident, _q(OWS, "ServiceType"), "OGC WCS", codeSpace="OGC")
    for version in VERSIONS:
        sub(ident, _q(OWS, "ServiceTypeVersion"), version)
    for profile in PROFILES:
        sub(ident, _q(OWS, "Profile"), profile)
    provider = sub(root, _q(OWS, "ServiceProvider"))
    sub(provider, _q(OWS, "ProviderName"), "cdse-gateway")
    sub(provider, _q(OWS, "ServiceContact"))
    ops = sub(root, _q(OWS, "OperationsMetadata"))
    for name in OPERATIONS:
        http = sub(sub(sub(ops, _q(OWS, "Operation"), name=name), _q(OWS, "DCP")), _q(OWS, "HTTP"))
        sub(http, _q(OWS, "Get"), **{_q(XLINK, "href"): endpoint.href})
    meta = sub(root, _q(WCS, "ServiceMetadata"))
    for media_type in FORMATS:
        sub(meta, _q(WCS, "formatSupported"), media_type)
    ext = sub(meta, _q(WCS, "Extension"))
    interp = sub(ext, _q(INT_EXT, "InterpolationMetadata"))
    for uri in INTERPOLATIONS.values():
        sub(interp, _q(INT_EXT, "InterpolationSupported"), uri)
    crs_meta = sub(ext, _q(CRS_EXT, "CrsMetadata"))
    for code in CRS_CODES:
        sub(crs_meta, _q(CRS_EXT, "crsSupported"), f"http://www.opengis.net/def/crs/EPSG/0/{code}")
    contents = sub(root, _q(WCS, "Contents"))
    for coverage in coverages:
        summary = sub(contents, _q(WCS, "CoverageSummary"))
        sub(summary, _q(OWS, "Title"), coverage.title)
        box = sub(summary, _q(OWS, "WGS84BoundingBox"))
        sub(box, _q(OWS, "LowerCorner"), f"{fmt(coverage.bbox[0])} {fmt(coverage.bbox[1])}")
        sub(box, _q(OWS, "UpperCorner"), f"{fmt(coverage.bbox[2])} {fmt(coverage.bbox[3])}")
        sub(summary, _q(WCS, "CoverageId"), coverage.id)
        sub(summary, _q(WCS, "CoverageSubtype"), "RectifiedGridCoverage")
    return root


def describe(coverages: list[Coverage]) -> etree._Element:
    root = etree.Element(_q(WCS, "CoverageDescriptions"), nsmap=NSMAP)
    root.set(
        _q(XSI, "schemaLocation"),
        f"{WCS} http://schemas.opengis.net/wcs/2.0/wcsAll.xsd",
    )
    for coverage in coverages:
        _description(root, coverage)
    return root


def _description(parent: etree._Element, coverage: Coverage) -> None:
    grid = native_grid(coverage.bbox)
    minlon, minlat, maxlon, maxlat = grid.bounds
    desc = sub(parent, _q(WCS, "CoverageDescription"), **{_q(GML, "id"): coverage.id})
    bounded = sub(desc, _q(GML, "boundedBy"))
    timed = bool(coverage.times)
    envelope = sub(
        bounded,
        _q(GML, "EnvelopeWithTimePeriod" if timed else "Envelope"),
        srsName=NATIVE_CRS,
        axisLabels="Lat Long",
        uomLabels="deg deg",
        srsDimension="2",
    )
    sub(envelope, _q(GML, "lowerCorner"), f"{fmt(minlat)} {fmt(minlon)}")
    sub(envelope, _q(GML, "upperCorner"), f"{fmt(maxlat)} {fmt(maxlon)}")
    if timed:
        sub(envelope, _q(GML, "beginPosition"), iso(coverage.times[0]))
        sub(envelope, _q(GML, "endPosition"), iso(coverage.times[-1]))
    sub(desc, _q(WCS, "CoverageId"), coverage.id)
    if timed:
        meta = sub(sub(desc, _q(GMLCOV, "metadata")), _q(GMLCOV, "Extension"))
        domain = sub(meta, _q(CDSE, "TimeDomain"))
        for index, moment in enumerate(coverage.times):
            instant = sub(
                domain, _q(GML, "TimeInstant"), **{_q(GML, "id"): f"{coverage.id}_t{index}"}
            )
            sub(instant, _q(GML, "timePosition"), iso(moment))
    rgrid = sub(
        sub(desc, _q(GML, "domainSet")),
        _q(GML, "RectifiedGrid"),
        dimension="2",
        **{_q(GML, "id"): f"{coverage.id}_grid"},
    )
    envelope = sub(sub(rgrid, _q(GML, "limits")), _q(GML, "GridEnvelope"))
    sub(envelope, _q(GML, "low"), "0 0")
    sub(envelope, _q(GML, "high"), f"{grid.width - 1} {grid.height - 1}")
    sub(rgrid, _q(GML, "axisLabels"), "i j")
    origin = sub(
        sub(rgrid, _q(GML, "origin")),
        _q(GML, "Point"),
        srsName=NATIVE_CRS,
        **{_q(GML, "id"): f"{coverage.id}_origin"},
    )
    half = grid.res / 2
    sub(origin, _q(GML, "pos"), f"{fmt(maxlat - half)} {fmt(minlon + half)}")
    sub(rgrid, _q(GML, "offsetVector"), f"0 {fmt(grid.res)}", srsName=NATIVE_CRS)
    sub(rgrid, _q(GML, "offsetVector"), f"{fmt(-grid.res)} 0", srsName=NATIVE_CRS)
    record = sub(sub(desc, _q(GMLCOV, "rangeType")), _q(SWE, "DataRecord"))
    for field in coverage.fields:
        quantity = sub(
            sub(record, _q(SWE, "field"), name=field.name),
            _q(SWE, "Category" if field.categorical else "Quantity"),
            definition=f"urn:cdse-gateway:def:field:{field.name}",
        )
        sub(quantity, _q(SWE, "description"), field.description)
        if field.categorical:
            sub(quantity, _q(SWE, "codeSpace"), **{_q(XLINK, "href"): "urn:cdse-gateway:scl"})
            continue
        nils = sub(sub(quantity, _q(SWE, "nilValues")), _q(SWE, "NilValues"))
        sub(nils, _q(SWE, "nilValue"), "NaN", reason="http://www.opengis.net/def/nil/OGC/0/missing")
        sub(quantity, _q(SWE, "uom"), code=field.uom)
    params = sub(desc, _q(WCS, "ServiceParameters"))
    sub(params, _q(WCS, "CoverageSubtype"), "RectifiedGridCoverage")
    sub(params, _q(WCS, "nativeFormat"), "image/tiff")
