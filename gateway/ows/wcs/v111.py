"""WCS 1.1.1: Capabilities, CoverageDescriptions (GridCRS) and GetCoverage KVP (BOUNDINGBOX...)."""

from __future__ import annotations

import math
import re

from lxml import etree
from starlette.responses import Response

from gateway.core.grid import reproject_bounds
from gateway.core.request import bbox_numbers, count_pixels
from gateway.core.vendor_params import read_vendor_texts
from gateway.errors import InvalidParameterValue
from gateway.ows.crs import OwsCrs, parse_ows_crs
from gateway.ows.kvp import Kvp, split_list
from gateway.ows.wcs.coverages import NODATA, Coverage, Field
from gateway.ows.wcs.domain import native_grid, native_size
from gateway.ows.wcs.getcoverage import CoverageRequest
from gateway.ows.wcs.multipart import Part, multipart_related
from gateway.ows.wcs.service import (
    ABSTRACT,
    CRS_CODES,
    FORMATS,
    OPERATIONS,
    TITLE,
    Endpoint,
)
from gateway.ows.xml import XLINK, XSI, fmt, iso, sub

WCS = "http://www.opengis.net/wcs/1.1.1"
OWS = "http://www.opengis.net/ows/1.1"
GML = "http://www.opengis.net/gml"
NSMAP = {None: WCS, "ows": OWS, "gml": GML, "xlink": XLINK, "xsi": XSI}
COVERAGES_CID = "coverages@cdse-gateway"
COVERAGE_CID = "coverage@cdse-gateway"
GRID_TYPE = "urn:ogc:def:method:WCS:1.1:2dSimpleGrid"
NATIVE = "urn:ogc:def:crs:EPSG::4326"
_RANGE = re.compile(
    r"^\s*([^:\[\]]+)(?::([^\[\]]*))?(?:\[\s*([^\[\]]+?)\s*\[([^\[\]]*)\]\s*\])?\s*$"
)
INTERP_111 = {"nearest": "nearest", "linear": "bilinear", "cubic": "cubic", "average": "average"}


def _q(tag: str, ns: str = WCS) -> str:
    return f"{{{ns}}}{tag}"


def _wgs84_box(parent: etree._Element, coverage: Coverage) -> None:
    box = sub(parent, _q("WGS84BoundingBox", OWS))
    sub(box, _q("LowerCorner", OWS), f"{fmt(coverage.bbox[0])} {fmt(coverage.bbox[1])}")
    sub(box, _q("UpperCorner", OWS), f"{fmt(coverage.bbox[2])} {fmt(coverage.bbox[3])}")


def capabilities(coverages: list[Coverage], endpoint: Endpoint) -> etree._Element:
    root = etree.Element(_q("Capabilities"), nsmap=NSMAP, version="1.1.1")
    root.set(
        _q("schemaLocation", XSI),
        f"{WCS} http://schemas.opengis.net/wcs/1.1.1/wcsGetCapabilities.xsd",
    )
    ident = sub(root, _q("ServiceIdentification", OWS))
    sub(ident, _q("Title", OWS), TITLE)
    sub(ident, _q("Abstract", OWS), ABSTRACT)
    sub(ident, _q("ServiceType", OWS), "WCS", codeSpace="OGC")
    sub(ident, _q("ServiceTypeVersion", OWS), "1.1.1")
    sub(ident, _q("Fees", OWS), "NONE")
    sub(ident, _q("AccessConstraints", OWS), "NONE")
    provider = sub(root, _q("ServiceProvider", OWS))
    sub(provider, _q("ProviderName", OWS), "cdse-gateway")
    sub(provider, _q("ServiceContact", OWS))
    ops = sub(root, _q("OperationsMetadata", OWS))
    for name in OPERATIONS:
        operation = sub(ops, _q("Operation", OWS), name=name)
        http = sub(sub(operation, _q("DCP", OWS)), _q("HTTP", OWS))
        sub(http, _q("Get", OWS), **{_q("href", XLINK): endpoint.href})
        if name == "GetCoverage":  # the coverage always comes in the response
            allowed = sub(
                sub(operation, _q("Parameter", OWS), name="store"), _q("AllowedValues", OWS)
            )
            sub(allowed, _q("Value", OWS), "false")
    contents = sub(root, _q("Contents"))
    for coverage in coverages:
        summary = sub(contents, _q("CoverageSummary"))
        sub(summary, _q("Title", OWS), coverage.title)
        _wgs84_box(summary, coverage)
        for code in CRS_CODES:
            sub(summary, _q("SupportedCRS"), f"urn:ogc:def:crs:EPSG::{code}")
        for media_type in FORMATS:
            sub(summary, _q("SupportedFormat"), media_type)
        sub(summary, _q("Identifier"), coverage.id)
    return root


def describe(coverages: list[Coverage]) -> etree._Element:
    root = etree.Element(_q("CoverageDescriptions"), nsmap=NSMAP)
    root.set(
        _q("schemaLocation", XSI),
        f"{WCS} http://schemas.opengis.net/wcs/1.1.1/wcsDescribeCoverage.xsd",
    )
    for coverage in coverages:
        _description(root, coverage)
    return root


def _description(parent: etree._Element, coverage: Coverage) -> None:
    grid = native_grid(coverage.bbox)
    minlon, minlat, maxlon, maxlat = grid.bounds
    desc = sub(parent, _q("CoverageDescription"))
    sub(desc, _q("Title", OWS), coverage.title)
    sub(desc, _q("Identifier"), coverage.id)
    domain = sub(desc, _q("Domain"))
    spatial = sub(domain, _q("SpatialDomain"))
    half = grid.res / 2  # WCS 1.1 boxes span the grid points (cell centres)
    box = sub(spatial, _q("BoundingBox", OWS), crs=NATIVE, dimensions="2")
    sub(box, _q("LowerCorner", OWS), f"{fmt(minlat + half)} {fmt(minlon + half)}")
    sub(box, _q("UpperCorner", OWS), f"{fmt(maxlat - half)} {fmt(maxlon - half)}")
    _wgs84_box(spatial, coverage)
    gridcrs = sub(spatial, _q("GridCRS"))
    sub(gridcrs, _q("GridBaseCRS"), NATIVE)
    sub(gridcrs, _q("GridType"), GRID_TYPE)
    sub(gridcrs, _q("GridOrigin"), f"{fmt(maxlat - half)} {fmt(minlon + half)}")
    sub(gridcrs, _q("GridOffsets"), f"{fmt(-grid.res)} {fmt(grid.res)}")
    sub(gridcrs, _q("GridCS"), "urn:ogc:def:cs:OGC:0.0:Grid2dSquareCS")
    if coverage.times:
        temporal = sub(domain, _q("TemporalDomain"))
        for moment in coverage.times:
            sub(temporal, _q("timePosition", GML), iso(moment))
    rng = sub(desc, _q("Range"))
    field = sub(rng, _q("Field"))
    sub(field, _q("Title", OWS), "values")
    sub(field, _q("Identifier"), "values")
    sub(sub(field, _q("Definition")), _q("AnyValue", OWS))
    sub(field, _q("NullValue"), NODATA)
    methods = sub(field, _q("InterpolationMethods"))
    for name in ("nearest", "linear", "cubic", "average"):
        if name != "linear":
            sub(methods, _q("InterpolationMethod"), name)
    sub(methods, _q("Default"), "linear")
    axis = sub(field, _q("Axis"), identifier="Band")
    keys = sub(axis, _q("AvailableKeys"))
    for item in coverage.fields:
        sub(keys, _q("Key"), item.name)
    for code in CRS_CODES:
        sub(desc, _q("SupportedCRS"), f"urn:ogc:def:crs:EPSG::{code}")
    for media_type in FORMATS:
        sub(desc, _q("SupportedFormat"), media_type)


def _bbox(kvp: Kvp) -> tuple[tuple[float, float, float, float], OwsCrs]:
    parts = split_list(kvp.require("BOUNDINGBOX"))
    if len(parts) not in (4, 5):
        raise InvalidParameterValue(
            "BOUNDINGBOX must be four numbers and a CRS", locator="boundingbox"
        )
    crs = parse_ows_crs(parts[4] if len(parts) == 5 else NATIVE, "boundingbox")
    a, b, c, d = bbox_numbers(parts[:4], "boundingbox")
    (x0, y0), (x1, y1) = crs.xy(a, b), crs.xy(c, d)
    return (x0, y0, x1, y1), crs


def _range(kvp: Kvp, coverage: Coverage) -> tuple[tuple[Field, ...], str | None]:
    text = kvp.text("RANGESUBSET")
    if not text:
        return coverage.fields, None
    match = _RANGE.match(text)
    if not match:
        raise InvalidParameterValue(
            "RANGESUBSET must be field[:interp][[Band[keys]]]", locator="rangesubset"
        )
    resampling = None
    if match.group(2):
        resampling = INTERP_111.get(match.group(2).strip().lower())
        if resampling is None:
            raise InvalidParameterValue("unsupported interpolation", locator="rangesubset")
    if not match.group(4):
        return coverage.fields, resampling
    by_name = {f.name.upper(): f for f in coverage.fields}
    chosen = []
    for key in split_list(match.group(4)):
        if key.upper() not in by_name:
            raise InvalidParameterValue(f"no band {key[:30]!r}", locator="rangesubset")
        chosen.append(by_name[key.upper()])
    return tuple(chosen), resampling


def _format(text: str | None) -> str:
    value = (text or "image/tiff").replace(" ", "").lower()
    if value.startswith(("image/tiff", "image/geotiff")):
        return "cog" if value.endswith("profile=cloud-optimized") else "tiff"
    if value == "image/png":
        return "png"
    if value in ("application/netcdf", "application/x-netcdf"):
        return "netcdf"
    raise InvalidParameterValue(f"unsupported format {value[:40]!r}", locator="format")


def _offsets(text: str | None, base: OwsCrs) -> tuple[float, float] | None:
    """(resx, resy) from GRIDOFFSETS: two values (2dSimpleGrid, CRS axis order) or the two
    offset vectors of a 2dGridIn2dCrs (the first along grid columns, the second along rows)."""
    if not text:
        return None
    try:
        values = [float(v) for v in split_list(text)]
    except ValueError:
        raise InvalidParameterValue("GRIDOFFSETS must be numbers", locator="gridoffsets") from None
    if len(values) == 2:
        first, second = abs(values[0]), abs(values[1])
        resx, resy = (second, first) if base.north_first else (first, second)
    elif len(values) == 4:
        resx, resy = math.hypot(values[0], values[1]), math.hypot(values[2], values[3])
    else:
        raise InvalidParameterValue("GRIDOFFSETS must have 2 or 4 numbers", locator="gridoffsets")
    if not (resx > 0 and resy > 0):
        raise InvalidParameterValue("GRIDOFFSETS must not be zero", locator="gridoffsets")
    return resx, resy


def _check_store(text: str | None) -> None:
    store = (text or "false").lower()
    if store == "true":
        raise InvalidParameterValue(
            "STORE=true is not supported: the coverage comes in the response", locator="store"
        )
    if store != "false":
        raise InvalidParameterValue("STORE must be true or false", locator="store")


def coverage_request(kvp: Kvp, coverage: Coverage) -> CoverageRequest:
    """WCS 1.1.1 GetCoverage: BOUNDINGBOX (axis order of its CRS), GRIDBASECRS, GRIDOFFSETS."""
    _check_store(kvp.text("STORE"))
    bbox, bbox_crs = _bbox(kvp)
    base = parse_ows_crs(kvp.text("GRIDBASECRS") or bbox_crs.urn, "gridbasecrs")
    bounds = reproject_bounds(bbox, bbox_crs.crs, base.crs, "boundingbox")
    offsets = _offsets(kvp.text("GRIDOFFSETS"), base)
    if offsets is not None:  # the box spans grid points (cell centres): widen by half a cell
        resx, resy = offsets
        bounds = (
            bounds[0] - resx / 2,
            bounds[1] - resy / 2,
            bounds[2] + resx / 2,
            bounds[3] + resy / 2,
        )
        size = (
            count_pixels(bounds[2] - bounds[0], resx, "gridoffsets"),
            count_pixels(bounds[3] - bounds[1], resy, "gridoffsets"),
        )
    else:
        size = native_size(bounds, base.crs)
    fields, resampling = _range(kvp, coverage)
    return CoverageRequest(
        coverage=coverage,
        bbox=bounds,
        crs=base.crs.to_string(),
        width=size[0],
        height=size[1],
        fields=fields,
        format=_format(kvp.text("FORMAT")),
        **read_vendor_texts(kvp.text, time=kvp.text("TIMESEQUENCE")),
        resampling=resampling,
    )


def coverage_response(
    coverage: Coverage, content: bytes, media_type: str, filename: str
) -> Response:
    """The GetCoverage answer: a ``Coverages`` document whose ``ows:Reference`` points at the
    coverage file, the second part of a multipart/related response."""
    root = etree.Element(_q("Coverages"), nsmap=NSMAP)
    root.set(
        _q("schemaLocation", XSI), f"{WCS} http://schemas.opengis.net/wcs/1.1.1/wcsCoverages.xsd"
    )
    entry = sub(root, _q("Coverage"))
    sub(entry, _q("Title", OWS), coverage.title)
    sub(entry, _q("Identifier", OWS), coverage.id)
    reference = sub(entry, _q("Reference", OWS), **{_q("href", XLINK): f"cid:{COVERAGE_CID}"})
    sub(reference, _q("Format", OWS), media_type)
    document = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return multipart_related(
        [
            Part("text/xml", COVERAGES_CID, document),
            Part(media_type, COVERAGE_CID, content, filename=filename),
        ]
    )
