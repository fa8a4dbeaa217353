"""WFS 2.0.0 on a live server: ogrinfo, OWSLib, filters and paging vs. the STAC items."""

from __future__ import annotations

import re
import subprocess
from datetime import datetime

import httpx
import pytest
from lxml import etree
from owslib.wfs import WebFeatureService
from pyproj import Transformer
from shapely.geometry import box, shape

from tests.support.expected import load_items
from tests.support.ogc_schemas import assert_valid, ogc_schema, schema_from
from tests.support.ows_live import live_gateway

L2A = "sentinel-2-l2a"
MOSAICS = "sentinel-2-global-mosaics"
WFS = "http://www.opengis.net/wfs/2.0"
OWS11 = "http://www.opengis.net/ows/1.1"
FES = "http://www.opengis.net/fes/2.0"
CDSE = "urn:cdse-gateway:features"
GML = "http://www.opengis.net/gml/3.2"
BY_ID = "urn:ogc:def:query:OGC-WFS::GetFeatureById"
FILTER_NS = 'xmlns="http://www.opengis.net/fes/2.0" xmlns:gml="http://www.opengis.net/gml/3.2"'


@pytest.fixture(scope="module")
def server(sample_settings):
    with live_gateway(sample_settings) as url:
        yield url


@pytest.fixture(scope="module")
def wfs(server):
    return f"{server}/wfs"


@pytest.fixture(scope="module")
def items(sample_archive):
    return {c: load_items(sample_archive, c) for c in (L2A, MOSAICS)}


def _get(url: str, **params: str) -> httpx.Response:
    base = {"service": "WFS", "version": "2.0.0"}
    return httpx.get(url, params={**base, **params}, timeout=60, follow_redirects=True)


def _features(response: httpx.Response) -> list[etree._Element]:
    root = etree.fromstring(response.content)
    return [m[0] for m in root.findall(f"{{{WFS}}}member")]


def _ids(response: httpx.Response) -> set[str]:
    return {f.findtext(f"{{{CDSE}}}scene_id") for f in _features(response)}


def _when(item: dict) -> datetime:
    return datetime.fromisoformat(item["properties"]["datetime"].replace("Z", "+00:00"))


# --- real clients ------------------------------------------------------------------------


def test_ogrinfo_lists_layers_and_counts_features(wfs, items):
    out = subprocess.run(
        ["ogrinfo", "-ro", "-so", "-al", f"WFS:{wfs}"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    layers = re.findall(r"Layer name: (\S+)", out.stdout)
    counts = [int(c) for c in re.findall(r"Feature Count: (\d+)", out.stdout)]
    assert dict(zip(layers, counts, strict=True)) == {
        f"cdse:{L2A}": len(items[L2A]),
        f"cdse:{MOSAICS}": len(items[MOSAICS]),
    }
    for field in ("cloud_cover: Real", "datetime: DateTime", "relative_orbit: Integer"):
        assert field in out.stdout


def test_ogrinfo_where_and_spatial_filter(wfs, items):
    def count(*args: str) -> int:
        out = subprocess.run(
            ["ogrinfo", "-ro", "-so", f"WFS:{wfs}", f"cdse:{L2A}", *args],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        return int(re.search(r"Feature Count: (\d+)", out.stdout).group(1))

    clear = [i for i in items[L2A] if i["properties"]["eo:cloud_cover"] < 20]
    assert count("-where", "cloud_cover < 20") == len(clear)
    area = box(6.15, 52.56, 6.25, 52.68)
    inside = [i for i in items[L2A] if shape(i["geometry"]).intersects(area)]
    assert 0 < len(inside) < len(items[L2A])
    assert count("-spat", "6.15", "52.56", "6.25", "52.68") == len(inside)


def test_owslib_parses_capabilities_and_fetches(wfs, items):
    service = WebFeatureService(wfs, version="2.0.0")
    assert set(service.contents) == {f"cdse:{L2A}", f"cdse:{MOSAICS}"}
    layer = service.contents[f"cdse:{L2A}"]
    union = [min(i["bbox"][k] for i in items[L2A]) for k in (0, 1)]
    union += [max(i["bbox"][k] for i in items[L2A]) for k in (2, 3)]
    assert layer.boundingBoxWGS84[:4] == pytest.approx(tuple(union))
    ops = {op.name for op in service.operations}
    assert {"GetFeature", "GetPropertyValue", "ListStoredQueries"} <= ops
    response = service.getfeature(typename=[f"cdse:{L2A}"], bbox=(6.15, 52.56, 6.25, 52.68))
    root = etree.fromstring(response.read())
    area = box(6.15, 52.56, 6.25, 52.68)
    expected = {i["id"] for i in items[L2A] if shape(i["geometry"]).intersects(area)}
    got = {m[0].findtext(f"{{{CDSE}}}scene_id") for m in root.findall(f"{{{WFS}}}member")}
    assert got == expected
    scene = items[L2A][0]
    response = service.getfeature(
        storedQueryID="urn:ogc:def:query:OGC-WFS::GetFeatureById",
        storedQueryParams={"ID": scene["id"]},
    )
    feature = etree.fromstring(response.read())
    assert feature.tag == f"{{{CDSE}}}{L2A}" and feature.get(f"{{{GML}}}id") == scene["id"]
    assert [q.id for q in service.storedqueries] == ["urn:ogc:def:query:OGC-WFS::GetFeatureById"]


# --- GetFeature semantics ----------------------------------------------------------------


def _filter(body: str) -> str:
    return f"<Filter {FILTER_NS}>{body}</Filter>"


def _cc(item: dict) -> float:
    return item["properties"]["eo:cloud_cover"]


FILTERS = [
    (
        "<PropertyIsLessThan><ValueReference>cdse:cloud_cover</ValueReference>"
        "<Literal>20</Literal></PropertyIsLessThan>",
        lambda i: _cc(i) < 20,
    ),
    (
        "<PropertyIsGreaterThanOrEqualTo><ValueReference>eo:cloud_cover</ValueReference>"
        "<Literal>36.7</Literal></PropertyIsGreaterThanOrEqualTo>",
        lambda i: _cc(i) >= 36.7,
    ),
    (
        "<And><PropertyIsLessThan><ValueReference>cloud_cover</ValueReference><Literal>40</Literal>"
        "</PropertyIsLessThan><PropertyIsEqualTo><ValueReference>grid_code</ValueReference>"
        "<Literal>MGRS-31UFU</Literal></PropertyIsEqualTo></And>",
        lambda i: _cc(i) < 40 and i["properties"]["grid:code"] == "MGRS-31UFU",
    ),
    (
        "<Or><PropertyIsLessThan><ValueReference>cloud_cover</ValueReference><Literal>1</Literal>"
        "</PropertyIsLessThan><PropertyIsGreaterThan><ValueReference>cloud_cover</ValueReference>"
        "<Literal>60</Literal></PropertyIsGreaterThan></Or>",
        lambda i: _cc(i) < 1 or _cc(i) > 60,
    ),
    (
        "<Not><PropertyIsLike wildCard='*' singleChar='.' escapeChar='!'>"
        "<ValueReference>grid_code</ValueReference><Literal>*32U.D</Literal></PropertyIsLike></Not>",
        lambda i: not i["properties"]["grid:code"].endswith("32ULD"),
    ),
    (
        "<PropertyIsBetween><ValueReference>cloud_cover</ValueReference>"
        "<LowerBoundary><Literal>10</Literal></LowerBoundary>"
        "<UpperBoundary><Literal>40</Literal></UpperBoundary></PropertyIsBetween>",
        lambda i: 10 <= _cc(i) <= 40,
    ),
    (
        "<During><ValueReference>datetime</ValueReference><gml:TimePeriod gml:id='t'>"
        "<gml:beginPosition>2025-06-01</gml:beginPosition>"
        "<gml:endPosition>2025-06-15</gml:endPosition></gml:TimePeriod></During>",
        lambda i: "2025-06-01" <= i["properties"]["datetime"][:10] <= "2025-06-15",
    ),
    (
        "<After><ValueReference>datetime</ValueReference><gml:TimeInstant gml:id='t'>"
        "<gml:timePosition>2025-06-03</gml:timePosition></gml:TimeInstant></After>",
        lambda i: i["properties"]["datetime"][:10] > "2025-06-03",
    ),
    (  # an envelope in UTM 32N (x/y): only tile 32ULD's east part
        "<BBOX><ValueReference>footprint</ValueReference>"
        "<gml:Envelope srsName='http://www.opengis.net/def/crs/EPSG/0/32632'>"
        "<gml:lowerCorner>308000 5830000</gml:lowerCorner>"
        "<gml:upperCorner>311000 5838000</gml:upperCorner></gml:Envelope></BBOX>",
        "utm",
    ),
]


@pytest.mark.parametrize(("body", "expected"), FILTERS)
def test_filter_encoding(wfs, items, body, expected):
    if expected == "utm":
        to_lonlat = Transformer.from_crs("EPSG:32632", "EPSG:4326", always_xy=True)
        corners = [to_lonlat.transform(x, y) for x in (308000, 311000) for y in (5830000, 5838000)]
        area = box(*(min(c[0] for c in corners), min(c[1] for c in corners)),
                   *(max(c[0] for c in corners), max(c[1] for c in corners)))  # fmt: skip

        def expected(i):
            return shape(i["geometry"]).intersects(area)

    want = {i["id"] for i in items[L2A] if expected(i)}
    assert 0 < len(want) < len(items[L2A])  # the filter really selects
    response = _get(wfs, request="GetFeature", typeNames=f"cdse:{L2A}", filter=_filter(body))
    assert response.status_code == 200, response.text
    assert _ids(response) == want


def test_paging_hits_and_sorting(wfs, items):
    total = len(items[L2A])
    ordered = sorted(items[L2A], key=lambda i: (_cc(i), i["id"]))
    seen = []
    start = 0
    while True:
        response = _get(wfs, request="GetFeature", typeNames=f"cdse:{L2A}", count="3",
                        startIndex=str(start), sortBy="cloud_cover ASC")  # fmt: skip
        root = etree.fromstring(response.content)
        assert root.get("numberMatched") == str(total)
        page = [m[0].findtext(f"{{{CDSE}}}scene_id") for m in root.findall(f"{{{WFS}}}member")]
        assert root.get("numberReturned") == str(len(page))
        seen += page
        if root.get("next") is None:
            break
        assert "STARTINDEX=" + str(start + 3) in root.get("next")
        start += 3
    assert seen == [i["id"] for i in ordered]
    hits = etree.fromstring(_get(wfs, request="GetFeature", typeNames=f"cdse:{L2A}",
                                 resultType="hits").content)  # fmt: skip
    assert hits.get("numberMatched") == str(total) and hits.get("numberReturned") == "0"
    assert hits.find(f"{{{WFS}}}member") is None


def test_srsname_transforms_and_orders_axes(wfs, items):
    scene = items[L2A][0]
    ring = shape(scene["geometry"]).exterior.coords[0]
    resource = {"request": "GetFeature", "typeNames": f"cdse:{L2A}", "resourceId": scene["id"]}
    lat_first = _features(_get(wfs, **resource))[0]
    pos = lat_first.find(f".//{{{GML}}}posList").text.split()
    assert (float(pos[0]), float(pos[1])) == pytest.approx((ring[1], ring[0]))
    utm = _features(_get(wfs, **resource, srsName="urn:ogc:def:crs:EPSG::32631"))[0]
    polygon = utm.find(f".//{{{GML}}}Polygon")
    assert polygon.get("srsName") == "urn:ogc:def:crs:EPSG::32631"
    pos = polygon.find(f".//{{{GML}}}posList").text.split()
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32631", always_xy=True).transform(*ring[:2])
    assert (float(pos[0]), float(pos[1])) == pytest.approx((x, y), abs=0.01)


def test_geojson_output(wfs, items):
    response = _get(wfs, request="GetFeature", typeNames=f"cdse:{MOSAICS}",
                    outputFormat="application/json")  # fmt: skip
    assert response.headers["content-type"] == "application/geo+json"
    body = response.json()
    assert body["numberMatched"] == len(items[MOSAICS]) == len(body["features"])
    by_id = {i["id"]: i for i in items[MOSAICS]}
    for feature in body["features"]:
        item = by_id[feature["properties"]["scene_id"]]
        assert shape(feature["geometry"]).equals_exact(shape(item["geometry"]), 1e-9)
        assert feature["properties"]["grid_code"] == item["properties"]["grid:code"]
        hrefs = set(feature["properties"]["assets"].values())
        assert hrefs and hrefs <= {a["href"] for a in item["assets"].values()}


def test_propertyname_selects_properties(wfs, items):
    response = _get(wfs, request="GetFeature", typeNames=f"cdse:{L2A}", outputFormat="json",
                    propertyName="cloud_cover,eo:cloud_cover")  # fmt: skip
    features = response.json()["features"]
    assert [set(f["properties"]) for f in features] == [{"cloud_cover"}] * len(items[L2A])
    assert all(f["geometry"] is None for f in features)
    member = _features(_get(wfs, request="GetFeature", typeNames=f"cdse:{L2A}",
                            propertyName="grid_code,footprint"))[0]  # fmt: skip
    names = [etree.QName(child).localname for child in member]
    assert names == ["boundedBy", "grid_code", "footprint"]


def test_get_property_value(wfs, items):
    response = _get(wfs, request="GetPropertyValue", typeNames=f"cdse:{L2A}",
                    valueReference="cloud_cover", sortBy="cloud_cover DESC")  # fmt: skip
    root = etree.fromstring(response.content)
    assert root.tag == f"{{{WFS}}}ValueCollection"
    values = [float(m.text) for m in root.findall(f"{{{WFS}}}member")]
    assert values == sorted((_cc(i) for i in items[L2A]), reverse=True)


def test_time_parameter(wfs, items):
    response = _get(wfs, request="GetFeature", typeNames=f"cdse:{L2A}", time="2025-06-13")
    want = {i["id"] for i in items[L2A] if i["properties"]["datetime"].startswith("2025-06-13")}
    assert want and _ids(response) == want


def test_ows_endpoint(server, items):
    response = httpx.get(f"{server}/ows", params={"service": "WFS", "request": "GetCapabilities"},
                         follow_redirects=True)  # fmt: skip
    assert etree.fromstring(response.content).tag == f"{{{WFS}}}WFS_Capabilities"


# --- XML schemas -------------------------------------------------------------------------


def test_feature_type_schema_and_gml_output_validate(wfs, items):
    xsd = _get(wfs, request="DescribeFeatureType", typeNames=f"cdse:{L2A},cdse:{MOSAICS}")
    schema = schema_from(xsd.content)  # compiles against GML 3.2.1: a valid application schema
    members = _features(_get(wfs, request="GetFeature", typeNames=f"cdse:{L2A},cdse:{MOSAICS}"))
    assert len(members) == len(items[L2A]) + len(items[MOSAICS])
    for member in members:
        assert_valid(schema, member)
    by_id = _get(wfs, request="GetFeature", storedQuery_id=BY_ID, id=items[MOSAICS][0]["id"],
                 srsName="EPSG:3857")  # fmt: skip
    assert_valid(schema, etree.fromstring(by_id.content))


def test_capabilities_ows_and_fes_parts_validate(wfs):
    root = etree.fromstring(_get(wfs, request="GetCapabilities").content)
    assert root.get("version") == "2.0.0"
    for name in ("ServiceIdentification", "ServiceProvider", "OperationsMetadata"):
        assert_valid(ogc_schema(), root.find(f"{{{OWS11}}}{name}"))
    assert_valid(ogc_schema(), root.find(f"{{{FES}}}Filter_Capabilities"))


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"request": "GetFeature"}, 400, "MissingParameterValue"),
        ({"request": "GetFeature", "typeNames": "cdse:nope"}, 400, "InvalidParameterValue"),
        ({"request": "GetFeature", "typeNames": f"cdse:{L2A}", "filter": "<Filter"}, 400,
         "OperationParsingFailed"),
        ({"request": "GetFeature", "typeNames": f"cdse:{L2A}",
          "filter": _filter("<PropertyIsLessThan><ValueReference>nope</ValueReference>"
                            "<Literal>1</Literal></PropertyIsLessThan>")}, 400,
         "InvalidParameterValue"),
        ({"request": "GetFeature", "typeNames": f"cdse:{L2A}",
          "filter": _filter("<Beyond><ValueReference>footprint</ValueReference></Beyond>")}, 501,
         "OperationNotSupported"),
        ({"request": "GetFeature", "typeNames": f"cdse:{L2A}", "bbox": "1,2,3,4",
          "filter": _filter("<ResourceId rid='x'/>")}, 400, "InvalidParameterValue"),
        ({"request": "GetFeature", "typeNames": f"cdse:{L2A}", "bbox": "a,b,c,d"}, 400,
         "InvalidParameterValue"),
        ({"request": "GetFeature", "typeNames": f"cdse:{L2A}", "count": "-1"}, 400,
         "InvalidParameterValue"),
        ({"request": "GetFeature", "typeNames": f"cdse:{L2A}", "srsName": "EPSG:0"}, 400,
         "InvalidParameterValue"),
        ({"request": "GetFeature", "typeNames": f"cdse:{L2A}", "outputFormat": "shapezip"}, 400,
         "InvalidParameterValue"),
        ({"request": "GetFeature", "typeNames": f"cdse:{L2A}", "resultType": "all"}, 400,
         "InvalidParameterValue"),
        ({"request": "GetFeature", "storedQuery_id": "urn:ogc:def:query:OGC-WFS::GetFeatureById",
          "id": "nope"}, 404, "NotFound"),
        ({"request": "GetFeature", "storedQuery_id": "urn:x:nope", "id": "x"}, 400,
         "InvalidParameterValue"),
        ({"request": "GetPropertyValue", "typeNames": f"cdse:{L2A}"}, 400,
         "MissingParameterValue"),
        ({"request": "Transaction"}, 501, "OperationNotSupported"),
        ({"request": "GetFeature", "typeNames": f"cdse:{L2A}",
          "filter": "<!DOCTYPE x [<!ENTITY a SYSTEM 'file:///etc/passwd'>]>" + _filter(
              "<PropertyIsEqualTo><ValueReference>platform</ValueReference><Literal>&a;"
              "</Literal></PropertyIsEqualTo>")}, 400, "OperationParsingFailed"),
        ({"request": "GetFeature", "typeNames": f"cdse:{L2A}", "srsName": "EPSG:4978"}, 400,
         "InvalidParameterValue"),  # geocentric: no map
        ({"request": "GetFeature", "version": "1.1.0", "typeNames": f"cdse:{L2A}"}, 400,
         "InvalidParameterValue"),
        ({"request": "GetCapabilities", "version": "", "acceptVersions": "1.0.0"}, 400,
         "VersionNegotiationFailed"),
    ],
)  # fmt: skip
def test_errors_are_ows11_reports(wfs, params, status, code):
    response = _get(wfs, **params)
    assert response.status_code == status, response.text
    root = etree.fromstring(response.content)
    assert root.tag == f"{{{OWS11}}}ExceptionReport" and root.get("version") == "2.0.0"
    assert root.find(f"{{{OWS11}}}Exception").get("exceptionCode") == code
    assert_valid(ogc_schema(), root)
