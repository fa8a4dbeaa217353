"""Every XML document the doors serve validates against the official OGC schemas.

One live gateway with every OGC door (WMS/WMTS through MapProxy, WCS, WFS); each row of
``CASES`` is a request and the official schema (or DTD) its answer must name and validate
against, as a validating client would: through its own ``xsi:schemaLocation`` (or
``DOCTYPE``), resolved offline by the XML catalog of the schema folder (``OGC_SCHEMAS_DIR``;
see ``tests/support/ogc_schemas.py``). The harness itself is tested at the end: a check that
cannot fail proves nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest
from lxml import etree

from tests.support.ogc_schemas import compile_imports, schema_from, schemas_dir, validate
from tests.support.ows_live import OWS_DOORS, live_gateway
from tests.support.wcs_checks import L2A, multipart_parts

OGC = "http://schemas.opengis.net/"
WMS111_CAPABILITIES = OGC + "wms/1.1.1/WMS_MS_Capabilities.dtd"
WMS111_EXCEPTION = OGC + "wms/1.1.1/exception_1_1_1.dtd"
WMS130 = OGC + "wms/1.3.0/capabilities_1_3_0.xsd"
WMS130_EXCEPTION = OGC + "wms/1.3.0/exceptions_1_3_0.xsd"
SLD_CAPABILITIES = OGC + "sld/1.1.0/sld_capabilities.xsd"
WMTS = OGC + "wmts/1.0/wmtsGetCapabilities_response.xsd"
WMTS_INFO = OGC + "wmts/1.0/wmtsGetFeatureInfo_response.xsd"
OWS11_EXCEPTION = OGC + "ows/1.1.0/owsExceptionReport.xsd"
OWS20_EXCEPTION = OGC + "ows/2.0/owsExceptionReport.xsd"
WCS100_CAPABILITIES = OGC + "wcs/1.0.0/wcsCapabilities.xsd"
WCS100_DESCRIBE = OGC + "wcs/1.0.0/describeCoverage.xsd"
WCS100_EXCEPTION = OGC + "wcs/1.0.0/OGC-exception.xsd"
WCS111_CAPABILITIES = OGC + "wcs/1.1.1/wcsGetCapabilities.xsd"
WCS111_DESCRIBE = OGC + "wcs/1.1.1/wcsDescribeCoverage.xsd"
WCS111_COVERAGES = OGC + "wcs/1.1.1/wcsCoverages.xsd"
WCS20 = OGC + "wcs/2.0/wcsAll.xsd"
WCS20_CRS = OGC + "wcs/crs/1.0/wcsCrs.xsd"
WCS20_INTERPOLATION = OGC + "wcs/interpolation/1.0/wcsInt.xsd"
RGRID = OGC + "gml/3.3/referenceableGrid.xsd"
WFS = OGC + "wfs/2.0/wfs.xsd"
RGRID_NS = "http://www.opengis.net/gml/3.3/rgrid"
TIME_DOMAIN = "urn:cdse-gateway:wcs"  # cdse:TimeDomain in gmlcov:metadata, a lax extension
OWN_INFO = ""  # feature info: the gateway's unqualified Layer/Value/Scene in wmts:AnyContent
NDVI = f"{L2A}__NDVI"
DAY = "2025-06-13"
BY_ID = "urn:ogc:def:query:OGC-WFS::GetFeatureById"
UTM31 = "700000,5832000,703000,5835000"
TILE = {"TILEMATRIXSET": "WebMercatorQuad", "TILEMATRIX": "14", "TILECOL": "8465",
        "TILEROW": "5367"}  # fmt: skip
REST_TILE = "/wmts/1.0.0/NDVI/WebMercatorQuad/2025-06-13/14/8465/5367"


@dataclass(frozen=True)
class Case:
    """A request (``path`` + ``params``) and the schemas its XML answer must name."""

    id: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    schemas: tuple[str, ...] = ()
    status: int = 200
    vendor: tuple[str, ...] = ()
    multipart: bool = False  # WCS 1.1.1 GetCoverage: the XML is the first part


def _wms(version: str, request: str, **params: str) -> dict[str, str]:
    return {"SERVICE": "WMS", "VERSION": version, "REQUEST": request, **params}


def _getmap(version: str, **params: str) -> dict[str, str]:
    crs = "CRS" if version == "1.3.0" else "SRS"
    base = {"LAYERS": "NDVI", "STYLES": "", "FORMAT": "image/png", "WIDTH": "300",
            "HEIGHT": "300", "BBOX": UTM31, "TIME": DAY, crs: "EPSG:32631"}  # fmt: skip
    return _wms(version, "GetMap", **{**base, **params})


def _info(version: str) -> dict[str, str]:
    pixel = {"I": "120", "J": "80"} if version == "1.3.0" else {"X": "120", "Y": "80"}
    params = _getmap(version, QUERY_LAYERS="NDVI", INFO_FORMAT="text/xml", **pixel)
    return {**params, "REQUEST": "GetFeatureInfo"}


def _wmts(request: str, **params: str) -> dict[str, str]:
    return {"SERVICE": "WMTS", "VERSION": "1.0.0", "REQUEST": request, **params}


def _wmts_tile(**params: str) -> dict[str, str]:
    base = {"LAYER": "NDVI", "STYLE": "default", "FORMAT": "image/png", "TIME": DAY, **TILE}
    return _wmts("GetTile", **{**base, **params})


def _wcs(version: str, request: str, **params: str) -> dict[str, str]:
    return {"SERVICE": "WCS", "VERSION": version, "REQUEST": request, **params}


def _wfs(request: str, **params: str) -> dict[str, str]:
    return {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": request, **params}


CASES = [
    Case("ows-exception", "/ows", {"REQUEST": "GetCapabilities"}, (OWS11_EXCEPTION,), 400),
    # WMS 1.1.1 / 1.3.0 (MapProxy, rewritten by the door)
    Case("wms111-capabilities", "/wms", _wms("1.1.1", "GetCapabilities"), (WMS111_CAPABILITIES,)),
    Case("wms130-capabilities", "/wms", _wms("1.3.0", "GetCapabilities"),
         (WMS130, SLD_CAPABILITIES)),
    Case("wms130-capabilities-ows", "/ows", _wms("1.3.0", "GetCapabilities"),
         (WMS130, SLD_CAPABILITIES)),
    Case("wms111-exception", "/wms", _getmap("1.1.1", LAYERS="NOPE"), (WMS111_EXCEPTION,), 400),
    Case("wms130-exception", "/wms", _getmap("1.3.0", LAYERS="NOPE"), (WMS130_EXCEPTION,), 400),
    Case("wms130-exception-no-request", "/wms", {"SERVICE": "WMS", "VERSION": "1.3.0"},
         (WMS130_EXCEPTION,), 400),
    Case("wms111-featureinfo", "/wms", _info("1.1.1"), (WMTS_INFO,), vendor=(OWN_INFO,)),
    Case("wms130-featureinfo", "/wms", _info("1.3.0"), (WMTS_INFO,), vendor=(OWN_INFO,)),
    Case("wms130-featureinfo-two-layers", "/wms",
         {**_info("1.3.0"), "QUERY_LAYERS": "NDVI,TRUE_COLOR", "LAYERS": "NDVI,TRUE_COLOR"},
         (WMTS_INFO,), vendor=(OWN_INFO,)),
    # WMTS 1.0.0
    Case("wmts-capabilities-rest", "/wmts/1.0.0/WMTSCapabilities.xml", {}, (WMTS,)),
    Case("wmts-capabilities-kvp", "/wmts", _wmts("GetCapabilities"), (WMTS,)),
    Case("wmts-exception-kvp", "/wmts", _wmts_tile(TILEMATRIX="25"), (OWS11_EXCEPTION,), 400),
    Case("wmts-exception-rest", "/wmts/1.0.0/NOPE/WebMercatorQuad/2025-06-13/14/1/1.png", {},
         (OWS11_EXCEPTION,), 400),
    Case("wmts-featureinfo-kvp", "/wmts",
         {**_wmts_tile(I="100", J="50", INFOFORMAT="text/xml"), "REQUEST": "GetFeatureInfo"},
         (WMTS_INFO,), vendor=(OWN_INFO,)),
    Case("wmts-featureinfo-rest", f"{REST_TILE}/100/50.xml", {}, (WMTS_INFO,), vendor=(OWN_INFO,)),
    Case("wmts-featureinfo-exception", f"{REST_TILE}/300/5.xml", {}, (OWS11_EXCEPTION,), 400),
    # WCS 1.0.0
    Case("wcs100-capabilities", "/wcs", _wcs("1.0.0", "GetCapabilities"), (WCS100_CAPABILITIES,)),
    Case("wcs100-describe", "/wcs", _wcs("1.0.0", "DescribeCoverage", COVERAGE=f"{L2A},{NDVI}"),
         (WCS100_DESCRIBE,)),
    Case("wcs100-exception", "/wcs", _wcs("1.0.0", "DescribeCoverage", COVERAGE="nope"),
         (WCS100_EXCEPTION,), 404),
    # WCS 1.1.1
    Case("wcs111-capabilities", "/wcs", _wcs("1.1.1", "GetCapabilities"), (WCS111_CAPABILITIES,)),
    Case("wcs111-describe", "/wcs",
         _wcs("1.1.1", "DescribeCoverage", IDENTIFIERS=f"{L2A},{NDVI}"), (WCS111_DESCRIBE,)),
    Case("wcs111-coverages", "/wcs",
         _wcs("1.1.1", "GetCoverage", IDENTIFIER=NDVI, FORMAT="image/tiff",
              BOUNDINGBOX="52.6,5.95,52.61,5.96,urn:ogc:def:crs:EPSG::4326"),
         (WCS111_COVERAGES,), multipart=True),
    Case("wcs111-exception", "/wcs", _wcs("1.1.1", "DescribeCoverage", IDENTIFIERS="nope"),
         (OWS11_EXCEPTION,), 404),
    # WCS 2.0.1
    Case("wcs201-capabilities", "/wcs", _wcs("2.0.1", "GetCapabilities"),
         (WCS20, WCS20_CRS, WCS20_INTERPOLATION)),
    Case("wcs201-capabilities-ows", "/ows", _wcs("2.0.1", "GetCapabilities"),
         (WCS20, WCS20_CRS, WCS20_INTERPOLATION)),
    Case("wcs201-describe", "/wcs", _wcs("2.0.1", "DescribeCoverage", COVERAGEID=f"{L2A},{NDVI}"),
         (WCS20,), vendor=(TIME_DOMAIN,)),
    Case("wcs201-describe-time", "/wcs",
         _wcs("2.0.1", "DescribeCoverage", COVERAGEID=NDVI, TIME=DAY), (WCS20,),
         vendor=(TIME_DOMAIN,)),
    Case("wcs201-exception", "/wcs", _wcs("2.0.1", "DescribeCoverage", COVERAGEID="nope"),
         (OWS20_EXCEPTION,), 404),
    Case("wcs-exception-no-request", "/wcs", {"SERVICE": "WCS"}, (OWS20_EXCEPTION,), 400),
    # WFS 2.0.0
    Case("wfs-capabilities", "/wfs", _wfs("GetCapabilities"), (WFS,)),
    Case("wfs-capabilities-ows", "/ows", _wfs("GetCapabilities"), (WFS,)),
    Case("wfs-getfeature", "/wfs", _wfs("GetFeature", TYPENAMES=f"cdse:{L2A}"), (WFS,)),
    Case("wfs-getfeature-two-types", "/wfs",
         _wfs("GetFeature", TYPENAMES=f"cdse:{L2A},cdse:sentinel-2-global-mosaics"), (WFS,)),
    Case("wfs-getfeature-paged", "/wfs",
         _wfs("GetFeature", TYPENAMES=f"cdse:{L2A}", COUNT="2", STARTINDEX="2",
              SRSNAME="EPSG:3857"), (WFS,)),
    Case("wfs-getfeature-properties", "/wfs",
         _wfs("GetFeature", TYPENAMES=f"cdse:{L2A}", PROPERTYNAME="cloud_cover,datetime"),
         (WFS,)),
    Case("wfs-getpropertyvalue", "/wfs",
         _wfs("GetPropertyValue", TYPENAMES=f"cdse:{L2A}", VALUEREFERENCE="cloud_cover",
              COUNT="3", STARTINDEX="1"), (WFS,)),
    Case("wfs-getpropertyvalue-geometry", "/wfs",
         _wfs("GetPropertyValue", TYPENAMES=f"cdse:{L2A}", VALUEREFERENCE="footprint"), (WFS,)),
    Case("wfs-liststoredqueries", "/wfs", _wfs("ListStoredQueries"), (WFS,)),
    Case("wfs-describestoredqueries", "/wfs", _wfs("DescribeStoredQueries"), (WFS,)),
    Case("wfs-getfeature-hits", "/wfs",
         _wfs("GetFeature", TYPENAMES=f"cdse:{L2A}", RESULTTYPE="hits"), (WFS,)),
    Case("wfs-exception", "/wfs", _wfs("GetFeature", TYPENAMES="cdse:nope"),
         (OWS11_EXCEPTION,), 400),
    Case("wfs-exception-not-found", "/wfs", _wfs("GetFeature", STOREDQUERY_ID=BY_ID, ID="nope"),
         (OWS11_EXCEPTION,), 404),
]  # fmt: skip


@pytest.fixture(scope="module")
def server(sample_settings):
    schemas_dir()  # skip (or fail under CI) before starting anything
    doors = (*OWS_DOORS, "gateway.ows.mapproxy.door:build_door")
    with live_gateway(sample_settings, doors=doors) as url:
        yield url


def _fetch(url: str) -> bytes:
    response = httpx.get(url, timeout=60)
    assert response.status_code == 200, (url, response.text[:300])
    return response.content


def _xml(response: httpx.Response, case: Case) -> bytes:
    if not case.multipart:
        return response.content
    root, _coverage = multipart_parts(response.headers["content-type"], response.content)
    return root.get_payload(decode=True)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_document_validates_against_the_official_schemas(server, case):
    response = httpx.get(server + case.path, params=case.params, timeout=120)
    assert response.status_code == case.status, response.text[:500]
    validate(_xml(response, case), case.schemas, vendor=case.vendor, served=server, fetch=_fetch)


def test_getfeature_names_the_served_feature_schema(server):
    """GetFeature GML and GetFeatureById name the DescribeFeatureType request of their types
    as the features' schema; the XSD it serves compiles against GML 3.2.1 (offline) and
    validates a feature on its own."""
    url = f"{server}/wfs"
    collection = etree.fromstring(_fetch(f"{url}?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature"
                                         f"&TYPENAMES=cdse:{L2A}&COUNT=1"))  # fmt: skip
    locations = collection.get("{http://www.w3.org/2001/XMLSchema-instance}schemaLocation")
    namespace, location = locations.split()[2:4]
    assert namespace == "urn:cdse-gateway:features" and "DescribeFeatureType" in location
    schema = schema_from(_fetch(location))
    member = collection.find("{http://www.opengis.net/wfs/2.0}member")[0]
    assert schema.validate(etree.ElementTree(etree.fromstring(etree.tostring(member))))
    fid = member.get("{http://www.opengis.net/gml/3.2}id")
    single = _fetch(f"{url}?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature"
                    f"&STOREDQUERY_ID={BY_ID}&ID={fid}")  # fmt: skip
    validate(single, [location], served=server, fetch=_fetch)


def _ansi(instant: str) -> str:
    """An ISO 8601 instant as OGC AnsiDate (days since 1600-12-31T00:00Z)."""
    moment = datetime.fromisoformat(instant.strip('"').replace("Z", "+00:00"))
    return repr((moment - datetime(1600, 12, 31, tzinfo=UTC)).total_seconds() / 86400)


def test_cube_description_is_valid_but_for_its_iso_time_coefficients(server):
    """The one known exception. GML 3.3 types ``gmlrgrid:coefficients`` as a list of doubles
    (here AnsiDate days, as the cube's envelope and origin give them); the time axis holds
    quoted ISO 8601 instants instead, as rasdaman writes them, since that is the only form
    OWSLib (0.36) reads a cube's ``timepositions`` from, and reading those is what the cube
    is for (tests/test_wcs_time.py). Written as AnsiDate numbers, the cube validates."""
    params = _wcs("2.0.1", "DescribeCoverage", COVERAGEID=f"{L2A},{NDVI}", TIMEAXIS="cube")
    content = httpx.get(f"{server}/wcs", params=params, timeout=60).content
    with pytest.raises(AssertionError) as failure:
        validate(content, [WCS20, RGRID])
    errors = str(failure.value).splitlines()
    assert errors and all("rgrid}coefficients" in error for error in errors), errors
    root = etree.fromstring(content)
    times = [c for c in root.iter(f"{{{RGRID_NS}}}coefficients") if c.text]
    assert len(times) == 2  # one time axis per coverage; the spatial axes are regular
    for coefficients in times:
        coefficients.text = " ".join(_ansi(instant) for instant in coefficients.text.split())
    validate(etree.tostring(root), [WCS20, RGRID])


# --- the harness catches what it should --------------------------------------------------

WCS20_NS = "http://www.opengis.net/wcs/2.0"
REPORT = (
    '<ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows/2.0" version="2.0.0" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xsi:schemaLocation="http://www.opengis.net/ows/2.0 {location}">'
    '<ows:Exception exceptionCode="NoSuchCoverage">{inner}</ows:Exception></ows:ExceptionReport>'
)


def _report(inner: str = "<ows:ExceptionText>x</ows:ExceptionText>", location=OWS20_EXCEPTION):
    return REPORT.format(inner=inner, location=location).encode()


def test_harness_accepts_a_valid_report():
    validate(_report(), [OWS20_EXCEPTION])


@pytest.mark.parametrize(
    ("content", "expected", "message"),
    [
        (_report("<ows:Nope/>"), [OWS20_EXCEPTION], "Nope"),
        (_report(), [WCS20], "does not name"),
        (_report(location=OGC + "ows/2.0/nope.xsd"), [OGC + "ows/2.0/nope.xsd"], "offline"),
        (_report('<ows:ExceptionText>x</ows:ExceptionText><x:y xmlns:x="urn:x"/>'),
         [OWS20_EXCEPTION], "urn:x"),
        (b"<ServiceExceptionReport/>", [], "names no schema"),
    ],
)  # fmt: skip
def test_harness_rejects(content, expected, message):
    with pytest.raises(AssertionError, match=message):
        validate(content, expected)


CRS_NS = "http://www.opengis.net/wcs/crs/1.0"


def _extended(extension: str, locations: str = f"{WCS20_NS} {WCS20}") -> bytes:
    return (
        f'<wcs:Capabilities xmlns:wcs="{WCS20_NS}" xmlns:crs="{CRS_NS}" version="2.0.1" '
        f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="{locations}">'
        "<wcs:ServiceMetadata><wcs:formatSupported>image/tiff</wcs:formatSupported>"
        f"<wcs:Extension>{extension}</wcs:Extension></wcs:ServiceMetadata></wcs:Capabilities>"
    ).encode()


def test_harness_rejects_elements_no_loaded_schema_declares():
    """wcs:Extension takes any element laxly: an undeclared one passes a plain validation
    unchecked, whether its namespace has no schema or a schema without that element."""
    foreign = _extended('<x:Anything xmlns:x="urn:x"/>')
    with pytest.raises(AssertionError, match="urn:x"):
        validate(foreign, [WCS20])
    validate(foreign, [WCS20], vendor=["urn:x"])
    locations = f"{WCS20_NS} {WCS20} {CRS_NS} {WCS20_CRS}"
    validate(_extended("<crs:supportedCrs>urn:a</crs:supportedCrs>", locations), [WCS20_CRS])
    undeclared = _extended("<crs:CrsMetadata><crs:crsSupported>urn:a</crs:crsSupported>"
                           "</crs:CrsMetadata>", locations)  # fmt: skip
    assert compile_imports([(CRS_NS, WCS20_CRS)]).schema.validate(
        etree.ElementTree(etree.fromstring(undeclared))
    )  # valid to XML Schema
    with pytest.raises(AssertionError, match="CrsMetadata"):
        validate(undeclared, [WCS20_CRS])


def test_harness_validates_dtds():
    good = (
        b'<?xml version="1.0"?>\n<!DOCTYPE ServiceExceptionReport SYSTEM '
        b'"http://schemas.opengis.net/wms/1.1.1/exception_1_1_1.dtd">\n'
        b'<ServiceExceptionReport version="1.1.1"><ServiceException code="x">y'
        b"</ServiceException></ServiceExceptionReport>"
    )
    validate(good, [WMS111_EXCEPTION])
    bad = good.replace(b"ServiceException>", b"Nope>").replace(b"<ServiceException ", b"<Nope ")
    with pytest.raises(AssertionError):
        validate(bad, [WMS111_EXCEPTION])
    with pytest.raises(AssertionError, match="DOCTYPE"):
        validate(good, [WMS111_CAPABILITIES])
