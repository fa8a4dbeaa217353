"""A generated corpus of hostile KVP values against the classic doors of a live gateway.

Every parameter of an otherwise valid request (WMS GetMap/GetFeatureInfo/GetLegendGraphic/
GetCapabilities, WMTS GetTile/GetFeatureInfo by KVP and REST, WCS 1.0.0/1.1.1/2.0.1
GetCoverage and DescribeCoverage, WFS GetFeature with BBOX and with FILTER) gets, one at a
time, each value of a fixed list: empty, very long, NaN, ±inf, ±1e308, negative, wrong type,
unicode, markup, a raw ``%2F``, a URL (on a listener that must see no request), file paths,
the parameter given twice, its name and its value in the wrong case, and values particular to
its kind (CRSs, boxes, times, expressions, filters, PREVIEW modes, evalscripts, tile matrix
sets, QUALITY, WARNINGS). Each answer must not be a 5xx; a 4xx is the door's exception
document; markup never comes back unescaped; the server logs no traceback. Derandomised: the
same cases run every time.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import pytest
from lxml import etree

MARKUP = "<x>hostile</x>"
RAW_SLASH = "a%2Fb"  # sent as is: the server decodes it to a slash
LISTENER = "{listener}/x"  # the URL of the listener of this session
DAY = "2025-06-13"
# A zoom-12 WebMercatorQuad tile over the sample area (as tests/test_wmts.py).
TILE = ("12", "2116", "1341")

GENERIC = [
    "", " ", "x" * 5000, "nan", "inf", "-inf", "1e308", "-1e308", "-1", "0", "abc",
    "ü€😀\u202e\x00", MARKUP, RAW_SLASH, LISTENER, "/etc/passwd", "../../../etc/passwd",
    "1,2,3,4,5,6,7,8",
]  # fmt: skip
CRS_VALUES = [
    "EPSG:4978", "EPSG:999999", "+proj=merc +datum=WGS84", "ESRI::" + LISTENER,
    "/vsicurl/" + LISTENER, 'GEOGCS["x",DATUM["y",SPHEROID["z",6378137,298.257]]]',
    "urn:ogc:def:crs:EPSG::" + "9" * 30,
]  # fmt: skip
BOX_VALUES = [
    "nan,nan,nan,nan", "-inf,-inf,inf,inf", "-1e308,-1e308,1e308,1e308",
    "-1e16,-1e16,1e16,1e16", "1,2,3", "3,3,1,1", "1,1,1,1", "0x10,0,1,1",
]  # fmt: skip
TIME_VALUES = [
    "9999-12-31", "0001-01-01", "2025-02-30", "2025-06-01/9999-12-31", "2025-06-13/2025-06-01",
    "P1D", "..", "2025-06-13T25:00:00Z", "99999-01-01", "1e308",
    # instants: PRIORITY=leastTimeDifference orders by time distance to them (the Sentinel
    # Hub operations), across a day boundary in UTC, or years from any scene
    "2025-06-13T10:35:00+14:00", "0001-01-01T00:00:00Z",
]  # fmt: skip
NUMBER_VALUES = ["99999999999", "1.5", "1e-320", "0x10", "+1", " 7 "]
EXPRESSION_VALUES = [
    "__import__('os').system('id')", "B04;" * 10, "B04+" * 500 + "B04", "(" * 300 + "B04",
    "B04/0", "1e308*B04*1e308", "B04[0]", "B04.__class__", "lambda: B04",
]  # fmt: skip
PREVIEW_VALUES = ["3", "-1", "00", "1.0", "\uff12", "0"]  # "0" of a 10 m map: drawn
# Sentinel Hub's GEOMETRY (WKT in the request's CRS) and UPSAMPLING/DOWNSAMPLING.
GEOMETRY_VALUES = [
    "POLYGON ((0 0, 1", "POINT (700000 5832000)", "POLYGON ((0 0, 1 0, nan 1, 0 0))",
    "POLYGON ((" + "0 0," * 1500 + "0 0))", "POLYGON EMPTY",
    "GEOMETRYCOLLECTION EMPTY", "POLYGON ((0 0, 1e308 0, 1e308 1e308, 0 0))",
    "POLYGON ((700000 5832000, 700100 5832100, 700100 5832000, 700000 5832100, 700000 5832000))",
    "SRID=4326;POLYGON ((0 0, 1 0, 1 1, 0 0))", "MULTIPOLYGON (((0 0, 1 1, 1 0, 0 0)))",
]  # fmt: skip
SAMPLING_VALUES = ["NEAREST", "box", "LANCZOS", "BICUBIC,BILINEAR", "NEAREST\x00"]
# Tile matrix sets: Sentinel Hub's (PopularWebMercator512 has no column 2116 at TILE's level),
# near misses of them and of OGC's.
TMS_VALUES = [
    "PopularWebMercator512", "PopularWebMercator256", "popularwebmercator512",
    "PopularWebMercator1024", "PopularWebMercator", "WebMercatorQuad256", "EPSG:3857",
]  # fmt: skip
# Sentinel Hub's QUALITY (JPEG/WebP, 0-100) and WARNINGS (YES/NO, TRUE/FALSE).
QUALITY_VALUES = ["101", "-1", "80.5", "1e2", "\uff18\uff10", "\u00b2", "0", "100", "0100"]
WARNINGS_VALUES = ["MAYBE", "yes", "false", "1", "NO\x00", "Y", "NO,YES"]
# Sentinel-1's BACKCOEFF, NOISEREMOVAL and ORBITDIRECTION (one word of a list each).
CHOICE_VALUES = [
    "ASCENDING,DESCENDING", "sideways", "GAMMA0_TERRAIN", "TRUE;FALSE", "ascending\x00",
    "DESCENDING" * 1000, "1",
]  # fmt: skip


def _b64(script: str) -> str:
    return base64.b64encode(script.encode()).decode()


SETUP = '//VERSION=3\nfunction setup() { return {input: ["B04", "B08"], output: {bands: 1}}; }\n'
EVALSCRIPT_NDVI = _b64(
    SETUP + "function evaluatePixel(s) { return [(s.B08 - s.B04) / (s.B08 + s.B04)]; }"
)
EVALSCRIPT_VALUES = [
    "not base64!", "====", _b64("\xff\xfe"), _b64("//VERSION=3\n" + "(" * 3000),
    _b64(SETUP + "function evaluatePixel(s) { while (true) {} }"),
    _b64(SETUP + "function evaluatePixel(s) { return evaluatePixel(s); }"),
    _b64(SETUP + "function evaluatePixel(s) { for (;;) { s.B04 += 1; } }"),
    _b64(SETUP + "function evaluatePixel(s) { return [require('fs').readFileSync('/x')]; }"),
    _b64(SETUP + "function evaluatePixel(s) { fetch('" + LISTENER + "'); return [1]; }"),
    _b64(SETUP + "function evaluatePixel(s) { return [eval('1')]; }"),
    _b64(SETUP + "var n = 0; function evaluatePixel(s) { n += 1; return [n]; }"),
    _b64(SETUP.replace('"B08"', '"../../etc/pw"') + "function evaluatePixel(s) { return [1]; }"),
    _b64(SETUP.replace("bands: 1", "bands: 1e9") + "function evaluatePixel(s) { return [1]; }"),
    _b64(SETUP + "function evaluatePixel(s) { var a = []; for (var i = 0; i < 1e9; i++) "
         "{ a.push(i); } return [a.length]; }"),
    _b64(SETUP + "function evaluatePixel(s) { return [" + "s.B04+" * 1000 + "1]; }"),
    _b64("//VERSION=3\nfunction setup() { return " + "{a:" * 900 + "1" + "}" * 900 + "; }"),
    _b64("//VERSION=3\n" + "x" * 6000),
    _b64("<x>hostile</x>"),
    # multi-temporal scripts, harmonizeValues, the JavaScript engine (#16)
    _b64(SETUP.replace("}}", "}, mosaicking: 'ORBIT'}") + "function preProcessScenes(c) "
         "{ while (true) {} }\nfunction evaluatePixel(s) { return [s.length]; }"),
    _b64(SETUP.replace("}}", "}, mosaicking: 'TILE'}") + "function evaluatePixel(s, scenes) "
         "{ return [scenes.tiles[99].date.length]; }"),
    _b64(SETUP.replace('input: ["B04", "B08"]', 'input: [{bands: ["B04"], harmonizeValues: "x"}]')
         + "function evaluatePixel(s) { return [1]; }"),
    _b64(SETUP + "function evaluatePixel(s) { let x = s.B04; while (x < 9) x += 1e-9; "
         "return [globalThis.constructor.constructor('return this')() ? x : 0]; }"),
]  # fmt: skip
FES = '<fes:Filter xmlns:fes="http://www.opengis.net/fes/2.0">{}</fes:Filter>'
FILTER_VALUES = [
    FES.format("<fes:PropertyIsLessThan><fes:ValueReference>cloud_cover</fes:ValueReference>"
               "<fes:Literal>nan</fes:Literal></fes:PropertyIsLessThan>"),
    '<?xml version="1.0"?><!DOCTYPE f [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    + FES.format("<fes:PropertyIsEqualTo><fes:ValueReference>platform</fes:ValueReference>"
                 "<fes:Literal>&e;</fes:Literal></fes:PropertyIsEqualTo>"),
    FES.format("<fes:Not>" * 300 + "<fes:ResourceId rid='x'/>" + "</fes:Not>" * 300),
    FES.format('<fes:BBOX><gml:Envelope xmlns:gml="http://www.opengis.net/gml/3.2" '
               'srsName="' + LISTENER + '"><gml:lowerCorner>0 0</gml:lowerCorner>'
               "<gml:upperCorner>1 1</gml:upperCorner></gml:Envelope></fes:BBOX>"),
    FES.format('<fes:BBOX><gml:Polygon xmlns:gml="http://www.opengis.net/gml/3.2"><gml:exterior>'
               "<gml:LinearRing><gml:posList>0 0 1e308 1e308 nan 0 0 0</gml:posList>"
               "</gml:LinearRing></gml:exterior></gml:Polygon></fes:BBOX>"),
    FES.format("<fes:PropertyIsLike wildCard='*' singleChar='.' escapeChar='\\'>"
               "<fes:ValueReference>platform</fes:ValueReference>"
               "<fes:Literal>" + "*" * 3000 + "x</fes:Literal></fes:PropertyIsLike>"),
]  # fmt: skip
KINDS = {
    "crs": CRS_VALUES, "box": BOX_VALUES, "time": TIME_VALUES, "number": NUMBER_VALUES,
    "expression": EXPRESSION_VALUES, "filter": FILTER_VALUES, "preview": PREVIEW_VALUES,
    "evalscript": EVALSCRIPT_VALUES, "choice": CHOICE_VALUES, "geometry": GEOMETRY_VALUES,
    "sampling": SAMPLING_VALUES, "tms": TMS_VALUES, "quality": QUALITY_VALUES,
    "warnings": WARNINGS_VALUES,
}  # fmt: skip
KIND_OF = {
    "CRS": "crs", "SRS": "crs", "RESPONSE_CRS": "crs", "GRIDBASECRS": "crs",
    "SUBSETTINGCRS": "crs", "OUTPUTCRS": "crs", "SRSNAME": "crs",
    "BBOX": "box", "BOUNDINGBOX": "box",
    "TIME": "time", "TIMESEQUENCE": "time",
    "WIDTH": "number", "HEIGHT": "number", "I": "number", "J": "number", "X": "number",
    "Y": "number", "TILEMATRIX": "number", "TILEROW": "number", "TILECOL": "number",
    "COUNT": "number", "STARTINDEX": "number", "MAXCC": "number", "RESX": "number",
    "RESY": "number", "SCALEFACTOR": "number", "FEATURE_COUNT": "number",
    "EXPRESSION": "expression", "FILTER": "filter", "PREVIEW": "preview",
    "EVALSCRIPT": "evalscript", "BACKCOEFF": "choice", "NOISEREMOVAL": "choice",
    "ORBITDIRECTION": "choice", "GEOMETRY": "geometry", "UPSAMPLING": "sampling",
    "DOWNSAMPLING": "sampling", "TILEMATRIXSET": "tms", "QUALITY": "quality",
    "WARNINGS": "warnings",
}  # fmt: skip


# The exception documents of each door (WCS answers a request of no known version in 2.0.1's).
EXCEPTION_ROOTS = {
    "/wms": {"ServiceExceptionReport"},
    "/wmts": {"ExceptionReport"},
    "/wcs": {"ExceptionReport", "ServiceExceptionReport"},
    "/wfs": {"ExceptionReport"},
}
# Sentinel Hub's instance URLs (config/gateway.yaml's sample instance): the same doors.
INSTANCE = "0d9e7e3a-5b1c-4c47-9f2e-5a0c0e7f1b2d"
for _door in ("wms", "wmts", "wcs", "wfs"):
    EXCEPTION_ROOTS[f"/ogc/{_door}/{INSTANCE}"] = EXCEPTION_ROOTS[f"/{_door}"]
# OWS Common's status of these codes is 501 (WCS, WFS and WMTS answer it; WMS says 400).
NOT_IMPLEMENTED = {"OperationNotSupported", "OptionNotSupported"}


@dataclass(frozen=True)
class Operation:
    """One valid request of a door: path and parameters (repeatable, in order)."""

    name: str
    path: str
    params: tuple[tuple[str, str], ...]


def _op(name: str, path: str, **params: str | list[str]) -> Operation:
    pairs = []
    for key, value in params.items():
        for one in value if isinstance(value, list) else [value]:
            pairs.append((key, one))
    return Operation(name, path, tuple(pairs))


WMS_MAP = dict(
    SERVICE="WMS", VERSION="1.3.0", REQUEST="GetMap", LAYERS="NDVI", STYLES="",
    CRS="EPSG:32631", BBOX="700000,5832000,700160,5832160", WIDTH="16", HEIGHT="16",
    FORMAT="image/png", TRANSPARENT="TRUE", BGCOLOR="0xFFFFFF", EXCEPTIONS="XML", TIME=DAY,
    MAXCC="80", PRIORITY="mostRecent", EXPRESSION="(B08-B04)/(B08+B04)", PREVIEW="1",
)  # fmt: skip
# The vendor parameters of Sentinel-1 (validated on every layer, read by sentinel-1-grd's).
SAR = dict(BACKCOEFF="GAMMA0_ELLIPSOID", NOISEREMOVAL="FALSE", ORBITDIRECTION="DESCENDING")
WMS_SAR_MAP = dict(
    WMS_MAP,
    LAYERS="VV",
    EXPRESSION="10*log10(VH)",
    TIME="2025-06-01/2025-06-30",
    BBOX="707000,5834000,707160,5834160",
    **SAR,
)
WMTS_TILE = dict(
    SERVICE="WMTS", VERSION="1.0.0", REQUEST="GetTile", LAYER="NDVI", STYLE="default",
    FORMAT="image/png", TILEMATRIXSET="WebMercatorQuad", TILEMATRIX=TILE[0], TILECOL=TILE[1],
    TILEROW=TILE[2], TIME=DAY, MAXCC="80", EXPRESSION="B08", PREVIEW="1", **SAR,
    QUALITY="70", WARNINGS="NO",
)  # fmt: skip
WCS_201 = dict(
    SERVICE="WCS", VERSION="2.0.1", REQUEST="GetCoverage", COVERAGEID="sentinel-2-l2a__NDVI",
    SUBSET=["Long(6.0,6.002)", "Lat(52.6,52.602)"], SUBSETTINGCRS="EPSG:4326",
    OUTPUTCRS="EPSG:4326", FORMAT="image/tiff", INTERPOLATION="nearest", TIME=DAY,
    SCALEFACTOR="1", RANGESUBSET="NDVI", MAXCC="80", EXPRESSION="B04", PREVIEW="1", **SAR,
)  # fmt: skip
WFS_QUERY = dict(
    SERVICE="WFS", VERSION="2.0.0", REQUEST="GetFeature", TYPENAMES="cdse:sentinel-2-l2a",
    COUNT="2", STARTINDEX="0", SORTBY="cloud_cover DESC", PROPERTYNAME="cloud_cover",
    SRSNAME="urn:ogc:def:crs:EPSG::3857", OUTPUTFORMAT="application/json", TIME=DAY,
)  # fmt: skip
SH_TRIANGLE = "POLYGON ((700000 5832000, 700160 5832000, 700000 5832160, 700000 5832000))"
FILTER = FES.format(
    "<fes:PropertyIsLessThan><fes:ValueReference>cloud_cover</fes:ValueReference>"
    "<fes:Literal>50</fes:Literal></fes:PropertyIsLessThan>"
)

OPERATIONS = [
    _op("WMS GetMap 1.3.0", "/wms", **WMS_MAP),
    _op("WMS GetMap Sentinel-1", "/wms",
        **{k: v for k, v in WMS_SAR_MAP.items() if k not in ("MAXCC", "PRIORITY", "PREVIEW")}),
    _op("WMS GetMap 1.1.1", "/wms",
        **{**{k: v for k, v in WMS_MAP.items() if k != "CRS"}, "VERSION": "1.1.1",
           "SRS": "EPSG:32631", "EXCEPTIONS": "application/vnd.ogc.se_xml"}),
    _op("WMS GetMap EVALSCRIPT", "/wms",
        **{**{k: v for k, v in WMS_MAP.items() if k != "EXPRESSION"},
           "EVALSCRIPT": EVALSCRIPT_NDVI}),
    _op("WMS GetFeatureInfo", "/wms",
        **{**WMS_MAP, "REQUEST": "GetFeatureInfo", "QUERY_LAYERS": "NDVI", "I": "3", "J": "4",
           "INFO_FORMAT": "application/json", "FEATURE_COUNT": "1"}),
    _op("WMS GetLegendGraphic", "/wms", SERVICE="WMS",
        VERSION="1.3.0", REQUEST="GetLegendGraphic", LAYER="NDVI", STYLE="ndvi",
        FORMAT="image/png", SLD_VERSION="1.1.0"),
    _op("WMS GetCapabilities", "/wms", SERVICE="WMS",
        VERSION="1.3.0", REQUEST="GetCapabilities", FORMAT="text/xml"),
    _op("WMTS GetTile", "/wmts", **WMTS_TILE),
    _op("WMTS GetFeatureInfo", "/wmts",
        **{**WMTS_TILE, "REQUEST": "GetFeatureInfo", "I": "10", "J": "20",
           "INFOFORMAT": "application/json"}),
    _op("WCS 1.0.0 GetCoverage", "/wcs", SERVICE="WCS",
        VERSION="1.0.0", REQUEST="GetCoverage", COVERAGE="sentinel-2-l2a__NDVI",
        CRS="EPSG:4326", RESPONSE_CRS="EPSG:4326", BBOX="6.0,52.6,6.002,52.602", WIDTH="20",
        HEIGHT="20", FORMAT="GeoTIFF", TIME=DAY, INTERPOLATION="nearest neighbor",
        EXPRESSION="B04"),
    _op("WCS 1.1.1 GetCoverage", "/wcs", SERVICE="WCS", VERSION="1.1.1",
        REQUEST="GetCoverage", IDENTIFIER="sentinel-2-l2a__NDVI",
        BOUNDINGBOX="52.6,6.0,52.602,6.002,urn:ogc:def:crs:EPSG::4326",
        GRIDBASECRS="urn:ogc:def:crs:EPSG::4326", GRIDOFFSETS="0.0001,0.0001",
        RANGESUBSET="NDVI:nearest", FORMAT="image/tiff", TIMESEQUENCE=DAY, STORE="false"),
    _op("WCS 2.0.1 GetCoverage", "/wcs", **WCS_201),
    _op("WCS 2.0.1 DescribeCoverage", "/wcs", SERVICE="WCS",
        VERSION="2.0.1", REQUEST="DescribeCoverage", COVERAGEID="sentinel-2-l2a__NDVI",
        TIME=DAY, TIMEAXIS="cube"),
    _op("WCS 1.1.1 DescribeCoverage", "/wcs", SERVICE="WCS",
        VERSION="1.1.1", REQUEST="DescribeCoverage", IDENTIFIERS="sentinel-2-l2a__NDVI"),
    _op("WCS 1.0.0 DescribeCoverage", "/wcs", SERVICE="WCS",
        VERSION="1.0.0", REQUEST="DescribeCoverage", COVERAGE="sentinel-2-l2a__NDVI"),
    _op("WFS GetFeature BBOX", "/wfs",
        **{**WFS_QUERY, "BBOX": "52.5,5.9,52.7,6.3,urn:ogc:def:crs:EPSG::4326"}),
    _op("WFS GetFeature FILTER", "/wfs", **{**WFS_QUERY, "FILTER": FILTER}),
    # Sentinel Hub's instance URLs with its parameters, as its client sends them
    _op("WMS GetMap Sentinel Hub", f"/ogc/wms/{INSTANCE}",
        **{**{k: v for k, v in WMS_MAP.items() if k != "EXPRESSION"}, "PRIORITY":
           "leastTimeDifference", "GEOMETRY": SH_TRIANGLE, "UPSAMPLING": "BICUBIC",
           "DOWNSAMPLING": "BOX", "WARNINGS": "False", "QUALITY": "80",
           "FORMAT": "image/jpeg"}),
    _op("WCS GetCoverage Sentinel Hub", f"/ogc/wcs/{INSTANCE}", SERVICE="wcs",
        VERSION="1.1.2", REQUEST="GetCoverage", COVERAGE="NDVI", CRS="EPSG:32631",
        BBOX="700000,5832000,700160,5832160", RESX="10m", RESY="10m", FORMAT="image/tiff",
        TIME=f"{DAY}T00:00:00Z/{DAY}T23:59:59Z", MAXCC="100.0", GEOMETRY=SH_TRIANGLE,
        DOWNSAMPLING="NEAREST", WARNINGS="False", QUALITY="75"),
    _op("WFS GetFeature Sentinel Hub", f"/ogc/wfs/{INSTANCE}", SERVICE="wfs",
        REQUEST="GetFeature", TYPENAMES="DSS2", BBOX="700000,5832000,702000,5834000",
        SRSNAME="EPSG:32631", OUTPUTFORMAT="application/json", MAXFEATURES="10",
        FEATURE_OFFSET="0", TIME="2025-06-01T00:00:00Z/2025-06-30T23:59:59Z"),
]  # fmt: skip
REST_SEGMENTS = ("layer", "tms", "time", "z", "x", "y", "ext")
REST_BASE = ("NDVI", "WebMercatorQuad", DAY, *TILE, "png")


@dataclass(frozen=True)
class Case:
    """One operation with one parameter changed (``mode``: value, twice, name case)."""

    operation: Operation
    param: str
    value: str
    mode: str = "value"

    @property
    def id(self) -> str:
        shown = self.value if len(self.value) <= 24 else self.value[:20] + f"..{len(self.value)}"
        return f"{self.operation.name}|{self.param}|{self.mode}|{shown!r}"


def _values(param: str, base: str) -> list[str]:
    values = GENERIC + KINDS.get(KIND_OF.get(param, ""), [])
    if base.swapcase() != base:
        values = [*values, base.swapcase()]  # the value in the wrong case
    return list(dict.fromkeys(values))


def _cases() -> Iterator[Case]:
    for operation in OPERATIONS:
        params = dict.fromkeys(name for name, _ in operation.params)
        for param in params:
            base = next(v for n, v in operation.params if n == param)
            for value in _values(param, base):
                yield Case(operation, param, value)
            yield Case(operation, param, MARKUP, "twice")
            yield Case(operation, param, base, "lower-case name")
    rest = Operation("WMTS REST", "/wmts", ())
    for index, segment in enumerate(REST_SEGMENTS):
        kind = {"time": "time", "z": "number", "tms": "tms"}.get(segment, "")
        values = GENERIC + KINDS.get(kind, [])
        for value in dict.fromkeys(values):
            yield Case(rest, segment, value, f"segment {index}")


CASES = [pytest.param(case, id=case.id) for case in _cases()]


def _encode(value: str) -> str:
    return value if value == RAW_SLASH else quote(value, safe="")


def _url(base: str, case: Case, listener_url: str) -> str:
    value = case.value.replace(LISTENER, listener_url + "/x")
    if case.operation.name == "WMTS REST":
        segments = list(REST_BASE)
        segments[REST_SEGMENTS.index(case.param)] = value
        path = "/".join(_encode(s) for s in segments[:-1]) + "." + _encode(segments[-1])
        return f"{base}/wmts/1.0.0/{path}"
    pairs = list(case.operation.params)
    if case.mode == "value":
        first = next(i for i, (name, _) in enumerate(pairs) if name == case.param)
        pairs = [p for p in pairs if p[0] != case.param]
        pairs.insert(first, (case.param, value))
    elif case.mode == "twice":
        pairs.append((case.param, value))
    else:
        pairs = [(n.lower() if n == case.param else n, v) for n, v in pairs]
    query = "&".join(f"{quote(n, safe='')}={_encode(v)}" for n, v in pairs)
    return f"{base}{case.operation.path}?{query}"


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=120) as found:
        yield found


def problems(case: Case, answer: httpx.Response, log: str, fetched: list[bytes]) -> list[str]:
    """What is wrong with the answer to ``case`` (and with what the server did)."""
    found = []
    code = None
    if 400 <= answer.status_code < 600:
        try:
            root = etree.fromstring(answer.content, etree.XMLParser(resolve_entities=False))
        except etree.XMLSyntaxError:
            root = None
        if root is None or etree.QName(root).localname not in EXCEPTION_ROOTS[case.operation.path]:
            found.append("not the door's exception document")
        else:
            codes = {e.get("code") or e.get("exceptionCode") for e in root.iter("{*}*", "*")}
            code = next(iter(codes & NOT_IMPLEMENTED), None)
    if answer.status_code >= 500 and not (answer.status_code == 501 and code):
        found.append(f"status {answer.status_code}")
    media_type = answer.headers.get("content-type", "")
    if not media_type.startswith(("image/", "multipart/")) and "<x>" in answer.text:
        found.append("markup echoed unescaped")
    if "Traceback" in log:
        found.append("a traceback in the log: " + log[-1500:])
    if fetched:
        found.append(f"the listener was called: {fetched[:1]}")
    return found


@pytest.mark.parametrize("case", CASES)
def test_hostile_value(gateway, listener, client, case: Case):
    listener.seen.clear()
    answer = client.get(_url(gateway.url, case, listener.url))
    assert not problems(case, answer, gateway.new_log(), listener.seen), answer.text[:600]


def test_the_corpus_is_what_the_docstring_says():
    """Every door and operation, every parameter of each, a few thousand cases."""
    names = {case.values[0].operation.name for case in CASES}
    assert len(names) == len(OPERATIONS) + 1
    assert 2000 < len(CASES) < 8000, len(CASES)


# EVALSCRIPT on every door that takes it, by GET and by a form-encoded POST body.
SCRIPT_OPERATIONS = [
    _op("WMS GetMap", "/wms", **{k: v for k, v in WMS_MAP.items() if k != "EXPRESSION"}),
    _op("WMS GetFeatureInfo", "/wms",
        **{**{k: v for k, v in WMS_MAP.items() if k != "EXPRESSION"}, "REQUEST": "GetFeatureInfo",
           "QUERY_LAYERS": "NDVI", "I": "3", "J": "4", "INFO_FORMAT": "application/json"}),
    _op("WMTS GetTile", "/wmts", **{k: v for k, v in WMTS_TILE.items() if k != "EXPRESSION"}),
    _op("WCS 2.0.1 GetCoverage", "/wcs", **{k: v for k, v in WCS_201.items() if k != "EXPRESSION"}),
    _op("WCS 1.0.0 GetCoverage", "/wcs", SERVICE="WCS",
        VERSION="1.0.0", REQUEST="GetCoverage", COVERAGE="sentinel-2-l2a__NDVI",
        CRS="EPSG:4326", BBOX="6.0,52.6,6.002,52.602", WIDTH="20", HEIGHT="20", FORMAT="GeoTIFF",
        TIME=DAY),
]  # fmt: skip
SCRIPT_VALUES = [*dict.fromkeys([*GENERIC[:4], MARKUP, *EVALSCRIPT_VALUES])]
LONG_SCRIPT = "//VERSION=3\n" + "x" * 200_000  # past URL limits: by POST only
SCRIPT_CASES = [
    pytest.param(operation, value, method, id=f"{operation.name}|{method}|{value[:20]!r}")
    for operation in SCRIPT_OPERATIONS
    for value, methods in [*((v, ("GET", "POST")) for v in SCRIPT_VALUES), (LONG_SCRIPT, ("POST",))]
    for method in methods
]


@pytest.mark.parametrize(("operation", "value", "method"), SCRIPT_CASES)
def test_hostile_evalscript(gateway, listener, client, operation, value, method):
    """Each hostile script by GET and by POST (and, by POST only, one of 200 000 characters:
    under the body cap, over the script's size limit)."""
    listener.seen.clear()
    case = Case(operation, "EVALSCRIPT", value)
    form = [*operation.params, ("EVALSCRIPT", value.replace(LISTENER, listener.url + "/x"))]
    url = f"{gateway.url}{operation.path}"
    post = method == "POST"
    answer = client.post(url, data=dict(form)) if post else client.get(url, params=form)
    assert not problems(case, answer, gateway.new_log(), listener.seen), answer.text[:600]


@pytest.mark.parametrize("path", ["/wms", "/wmts", "/wcs"])
def test_post_bodies_that_are_not_forms(gateway, client, path):
    """XML or JSON bodies, and a body over the cap: the door's exception, never a 500."""
    for content, media_type in ((b"<GetMap/>", "text/xml"), (b"{}", "application/json"),
                                (b"EVALSCRIPT=" + b"A" * (20 << 20), "application/"
                                 "x-www-form-urlencoded")):  # fmt: skip
        answer = client.post(f"{gateway.url}{path}", content=content,
                             headers={"content-type": media_type})  # fmt: skip
        case = Case(Operation("POST", path, ()), "body", "")
        assert answer.status_code in (400, 413, 501), (media_type, answer.status_code)
        assert not problems(case, answer, gateway.new_log(), []), answer.text[:600]
