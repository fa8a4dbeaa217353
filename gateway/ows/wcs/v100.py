"""WCS 1.0.0: WCS_Capabilities, CoverageDescription and GetCoverage KVP (BBOX/CRS/WIDTH/RESX...)."""

from __future__ import annotations

from lxml import etree

from gateway.core.grid import reproject_bounds
from gateway.core.request import bbox_numbers, count_pixels
from gateway.core.vendor_params import read_vendor_texts
from gateway.errors import InvalidParameterValue, MissingParameterValue
from gateway.ows.crs import parse_ows_crs
from gateway.ows.kvp import Kvp, split_list
from gateway.ows.wcs.coverages import NODATA, Coverage, Field
from gateway.ows.wcs.domain import native_grid
from gateway.ows.wcs.getcoverage import CoverageRequest
from gateway.ows.wcs.service import ABSTRACT, CRS_CODES, TITLE, Endpoint
from gateway.ows.xml import XLINK, XSI, fmt, iso, sub

WCS = "http://www.opengis.net/wcs"
GML = "http://www.opengis.net/gml"
NSMAP = {None: WCS, "gml": GML, "xlink": XLINK, "xsi": XSI}
FORMATS_100 = {"geotiff": "tiff", "gtiff": "tiff", "image/tiff": "tiff", "tiff": "tiff",
               "cog": "cog", "png": "png", "image/png": "png", "netcdf": "netcdf",
               "application/netcdf": "netcdf"}  # fmt: skip
# INTERPOLATION names -> engine resampling. The 1.0.0 schema's enumeration has no averaging
# method ("lost area" is natural-neighbour interpolation), so "average" is taken, not offered.
INTERPOLATIONS_100 = {"nearest neighbor": "nearest", "bilinear": "bilinear", "bicubic": "cubic",
                      "average": "average"}  # fmt: skip
OFFERED_INTERPOLATIONS_100 = ("nearest neighbor", "bilinear", "bicubic")


def _q(tag: str, ns: str = WCS) -> str:
    return f"{{{ns}}}{tag}"


def _lonlat_envelope(parent: etree._Element, coverage: Coverage) -> None:
    env = sub(parent, _q("lonLatEnvelope"), srsName="urn:ogc:def:crs:OGC:1.3:CRS84")
    sub(env, _q("pos", GML), f"{fmt(coverage.bbox[0])} {fmt(coverage.bbox[1])}")
    sub(env, _q("pos", GML), f"{fmt(coverage.bbox[2])} {fmt(coverage.bbox[3])}")
    if coverage.times:
        sub(env, _q("timePosition", GML), iso(coverage.times[0]))
        sub(env, _q("timePosition", GML), iso(coverage.times[-1]))


def capabilities(coverages: list[Coverage], endpoint: Endpoint) -> etree._Element:
    root = etree.Element(_q("WCS_Capabilities"), nsmap=NSMAP, version="1.0.0")
    root.set(
        _q("schemaLocation", XSI), f"{WCS} http://schemas.opengis.net/wcs/1.0.0/wcsCapabilities.xsd"
    )
    service = sub(root, _q("Service"))
    sub(service, _q("description"), ABSTRACT)
    sub(service, _q("name"), "WCS")
    sub(service, _q("label"), TITLE)
    sub(service, _q("fees"), "NONE")
    sub(service, _q("accessConstraints"), "NONE")
    request = sub(sub(root, _q("Capability")), _q("Request"))
    for name in ("GetCapabilities", "DescribeCoverage", "GetCoverage"):
        http = sub(sub(sub(request, _q(name)), _q("DCPType")), _q("HTTP"))
        sub(sub(http, _q("Get")), _q("OnlineResource"), **{_q("href", XLINK): endpoint.href})
    capability = root[-1]
    sub(sub(capability, _q("Exception")), _q("Format"), "application/vnd.ogc.se_xml")
    content = sub(root, _q("ContentMetadata"))
    for coverage in coverages:
        brief = sub(content, _q("CoverageOfferingBrief"))
        sub(brief, _q("name"), coverage.id)
        sub(brief, _q("label"), coverage.title)
        _lonlat_envelope(brief, coverage)
    return root


def describe(coverages: list[Coverage]) -> etree._Element:
    root = etree.Element(_q("CoverageDescription"), nsmap=NSMAP, version="1.0.0")
    root.set(
        _q("schemaLocation", XSI),
        f"{WCS} http://schemas.opengis.net/wcs/1.0.0/describeCoverage.xsd",
    )
    for coverage in coverages:
        _offering(root, coverage)
    return root


def _offering(parent: etree._Element, coverage: Coverage) -> None:
    grid = native_grid(coverage.bbox)
    offering = sub(parent, _q("CoverageOffering"))
    sub(offering, _q("name"), coverage.id)
    sub(offering, _q("label"), coverage.title)
    _lonlat_envelope(offering, coverage)
    domain = sub(offering, _q("domainSet"))
    spatial = sub(domain, _q("spatialDomain"))
    env = sub(spatial, _q("Envelope", GML), srsName="EPSG:4326")
    sub(env, _q("pos", GML), f"{fmt(grid.bounds[0])} {fmt(grid.bounds[1])}")
    sub(env, _q("pos", GML), f"{fmt(grid.bounds[2])} {fmt(grid.bounds[3])}")
    rgrid = sub(spatial, _q("RectifiedGrid", GML), dimension="2", srsName="EPSG:4326")
    genv = sub(sub(rgrid, _q("limits", GML)), _q("GridEnvelope", GML))
    sub(genv, _q("low", GML), "0 0")
    sub(genv, _q("high", GML), f"{grid.width - 1} {grid.height - 1}")
    sub(rgrid, _q("axisName", GML), "x")
    sub(rgrid, _q("axisName", GML), "y")
    origin = sub(sub(rgrid, _q("origin", GML)), _q("pos", GML))
    half = grid.res / 2  # the origin is the centre of the upper-left cell
    origin.text = f"{fmt(grid.bounds[0] + half)} {fmt(grid.bounds[3] - half)}"
    sub(rgrid, _q("offsetVector", GML), f"{fmt(grid.res)} 0")
    sub(rgrid, _q("offsetVector", GML), f"0 {fmt(-grid.res)}")
    if coverage.times:
        temporal = sub(domain, _q("temporalDomain"))
        for moment in coverage.times:
            sub(temporal, _q("timePosition", GML), iso(moment))
    rangeset = sub(sub(offering, _q("rangeSet")), _q("RangeSet"))
    sub(rangeset, _q("name"), "values")
    sub(rangeset, _q("label"), "reflectance or index values")
    axis = sub(sub(rangeset, _q("axisDescription")), _q("AxisDescription"))
    sub(axis, _q("name"), "Band")
    sub(axis, _q("label"), "Band")
    values = sub(axis, _q("values"))
    for field in coverage.fields:
        sub(values, _q("singleValue"), field.name)
    sub(sub(rangeset, _q("nullValues")), _q("singleValue"), NODATA)
    crs_list = " ".join(f"EPSG:{code}" for code in CRS_CODES)
    crss = sub(offering, _q("supportedCRSs"))
    sub(crss, _q("requestResponseCRSs"), crs_list)
    sub(crss, _q("nativeCRSs"), "EPSG:4326")
    formats = sub(offering, _q("supportedFormats"), nativeFormat="GeoTIFF")
    for name in ("GeoTIFF", "COG", "PNG", "NetCDF"):
        sub(formats, _q("formats"), name)
    interps = sub(offering, _q("supportedInterpolations"), default="bilinear")
    for name in OFFERED_INTERPOLATIONS_100:
        sub(interps, _q("interpolationMethod"), name)


def _fields(kvp: Kvp, coverage: Coverage) -> tuple[Field, ...]:
    wanted = split_list(kvp.text("BAND"))
    if not wanted:
        return coverage.fields
    by_name = {f.name.upper(): f for f in coverage.fields}
    chosen = []
    for item in wanted:
        if item.upper() in by_name:
            chosen.append(by_name[item.upper()])
        elif item.isdigit() and 1 <= int(item) <= len(coverage.fields):
            chosen.append(coverage.fields[int(item) - 1])
        else:
            raise InvalidParameterValue(f"no band {item[:30]!r}", locator="band")
    return tuple(chosen)


def _format(text: str) -> str:
    value = FORMATS_100.get(text.strip().lower())
    if value is None:
        raise InvalidParameterValue(
            f"unsupported format {text[:40]!r}", locator="format", code="InvalidFormat"
        )
    return value


def coverage_request(kvp: Kvp, coverage: Coverage) -> CoverageRequest:
    """WCS 1.0.0 GetCoverage: BBOX in CRS (x/y order), WIDTH/HEIGHT or RESX/RESY, RESPONSE_CRS."""
    crs = parse_ows_crs(kvp.require("CRS"))
    out = parse_ows_crs(kvp.text("RESPONSE_CRS") or kvp.require("CRS"), "response_crs")
    bbox = bbox_numbers(split_list(kvp.require("BBOX")))
    bounds = reproject_bounds(bbox, crs.crs, out.crs)
    width, height = kvp.integer("WIDTH", minimum=1), kvp.integer("HEIGHT", minimum=1)
    resx, resy = kvp.number("RESX"), kvp.number("RESY")
    if width is None or height is None:
        if resx is None or resy is None:
            raise MissingParameterValue("give WIDTH and HEIGHT or RESX and RESY", locator="width")
        width = count_pixels(bounds[2] - bounds[0], resx, "resx")
        height = count_pixels(bounds[3] - bounds[1], resy, "resy")
    interpolation = kvp.text("INTERPOLATION")
    resampling = None
    if interpolation is not None:
        resampling = INTERPOLATIONS_100.get(interpolation.lower())
        if resampling is None:
            raise InvalidParameterValue("unsupported interpolation", locator="interpolation")
    return CoverageRequest(
        coverage=coverage,
        bbox=bounds,
        crs=out.crs.to_string(),
        width=width,
        height=height,
        fields=_fields(kvp, coverage),
        format=_format(kvp.require("FORMAT")),
        **read_vendor_texts(kvp.text),
        resampling=resampling,
    )
