"""WCS 2.0.1 documents: Capabilities and CoverageDescriptions (GML 3.2, GMLCOV, SWE Common)."""

from __future__ import annotations

from lxml import etree

from gateway.ows.wcs.coverages import NODATA, Coverage
from gateway.ows.wcs.domain201 import (
    CDSE,
    GML,
    GMLCOV,
    RGRID,
    Domain,
    bounded_by,
    domain_set,
    time_domain,
)
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
from gateway.ows.wcs.timeaxis import acquisitions_in
from gateway.ows.xml import XLINK, XSI, fmt, sub

WCS = "http://www.opengis.net/wcs/2.0"
OWS = "http://www.opengis.net/ows/2.0"
SWE = "http://www.opengis.net/swe/2.0"
# The CRS and interpolation extensions as their official schemas declare them (wcsCrs.xsd,
# wcsInt.xsd: crs:supportedCrs, int:interpolationSupported in this namespace), which the
# extensions' texts (crs:CrsMetadata, "wcs/interpolation/1.0") contradict; the schema prevails.
CRS_EXT = "http://www.opengis.net/wcs/crs/1.0"
INT_EXT = "http://www.opengis.net/WCS_service-extension_interpolation/1.0"
SCHEMA = f"{WCS} http://schemas.opengis.net/wcs/2.0/wcsAll.xsd"
EXTENSION_SCHEMAS = (
    f"{CRS_EXT} http://schemas.opengis.net/wcs/crs/1.0/wcsCrs.xsd "
    f"{INT_EXT} http://schemas.opengis.net/wcs/interpolation/1.0/wcsInt.xsd"
)
CUBE_SCHEMA = f"{RGRID} http://schemas.opengis.net/gml/3.3/referenceableGrid.xsd"
NSMAP = {
    "wcs": WCS, "ows": OWS, "gml": GML, "gmlcov": GMLCOV, "gmlrgrid": RGRID, "swe": SWE,
    "xlink": XLINK, "xsi": XSI, "crs": CRS_EXT, "int": INT_EXT, "cdse": CDSE,
}  # fmt: skip
NIL_REASON = "http://www.opengis.net/def/nil/OGC/0/missing"
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
    root.set(_q(XSI, "schemaLocation"), f"{SCHEMA} {EXTENSION_SCHEMAS}")
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
        sub(interp, _q(INT_EXT, "interpolationSupported"), uri)
    for code in CRS_CODES:
        sub(ext, _q(CRS_EXT, "supportedCrs"), f"http://www.opengis.net/def/crs/EPSG/0/{code}")
    contents = sub(root, _q(WCS, "Contents"))
    for coverage in coverages:
        summary = sub(contents, _q(WCS, "CoverageSummary"))
        sub(summary, _q(OWS, "Title"), coverage.title)
        box = sub(summary, _q(OWS, "WGS84BoundingBox"))
        sub(box, _q(OWS, "LowerCorner"), f"{fmt(coverage.bbox[0])} {fmt(coverage.bbox[1])}")
        sub(box, _q(OWS, "UpperCorner"), f"{fmt(coverage.bbox[2])} {fmt(coverage.bbox[3])}")
        sub(summary, _q(WCS, "CoverageId"), coverage.id)
        sub(summary, _q(WCS, "CoverageSubtype"), _domain(coverage, None).subtype)
    return root


def describe(
    coverages: list[Coverage], time: str | None = None, *, cube: bool = False
) -> etree._Element:
    """CoverageDescriptions: each coverage as the 2-D coverage GetCoverage returns (over all
    its acquisitions, or those of the vendor ``TIME``), or, with ``cube``, as its space-time
    cube (see ``domain201``)."""
    root = etree.Element(_q(WCS, "CoverageDescriptions"), nsmap=NSMAP)
    root.set(_q(XSI, "schemaLocation"), f"{SCHEMA} {CUBE_SCHEMA}" if cube else SCHEMA)
    for coverage in coverages:
        _description(root, _domain(coverage, time, cube=cube))
    return root


def _domain(coverage: Coverage, time: str | None, *, cube: bool = False) -> Domain:
    times = coverage.times if time is None else acquisitions_in(coverage.times, time, "time")
    return Domain(coverage, times, cube=cube and bool(times))


def _description(parent: etree._Element, domain: Domain) -> None:
    coverage = domain.coverage
    desc = sub(parent, _q(WCS, "CoverageDescription"), **{_q(GML, "id"): coverage.id})
    bounded_by(desc, domain)
    sub(desc, _q(WCS, "CoverageId"), coverage.id)
    time_domain(desc, domain)
    domain_set(desc, domain)
    _range_type(desc, coverage)
    params = sub(desc, _q(WCS, "ServiceParameters"))
    sub(params, _q(WCS, "CoverageSubtype"), domain.subtype)
    sub(params, _q(WCS, "nativeFormat"), "image/tiff")


def _range_type(parent: etree._Element, coverage: Coverage) -> None:
    """One SWE field per range component: name, description, nil value (the GeoTIFF's nodata)
    and unit (or code space).

    GDAL's 2.0.1 reader looks the nil value up at ``Quantity.nilValues.NilValue`` in a tree
    whose names have lost their prefixes, and misses SWE's ``nilValues/NilValues/nilValue``
    (as it does in rasdaman's and GeoServer's descriptions). SWE allows no attribute or child
    named ``NilValue`` there, but a namespace declaration ``xmlns:NilValue="NaN"`` is not
    schema content: XML Schema ignores it, and GDAL's reader, unaware of namespaces, takes it
    for the attribute ``NilValue``, so it reports NaN as every band's nodata."""
    record = sub(sub(parent, _q(GMLCOV, "rangeType")), _q(SWE, "DataRecord"))
    for field in coverage.fields:
        component = sub(
            sub(record, _q(SWE, "field"), name=field.name),
            _q(SWE, "Category" if field.categorical else "Quantity"),
            definition=f"urn:cdse-gateway:def:field:{field.name}",
        )
        sub(component, _q(SWE, "description"), field.description)
        nils = etree.SubElement(component, _q(SWE, "nilValues"), nsmap={"NilValue": NODATA})
        sub(sub(nils, _q(SWE, "NilValues")), _q(SWE, "nilValue"), NODATA, reason=NIL_REASON)
        if field.categorical:
            sub(component, _q(SWE, "codeSpace"), **{_q(XLINK, "href"): "urn:cdse-gateway:scl"})
        else:
            sub(component, _q(SWE, "uom"), code=field.uom)
