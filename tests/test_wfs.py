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

from gateway.config import load_config
from tests.support.expected import load_items
from tests.support.ogc_schemas import assert_valid, ogc_schema, schema_from
from tests.support.ogr import feature_count
from tests.support.ows_live import live_gateway
from tests.support.wfs_filters import FILTERS, fes

L2A = "sentinel-2-l2a"
MOSAICS = "sentinel-2-global-mosaics"
WFS = "http://www.opengis.net/wfs/2.0"
OWS11 = "http://www.opengis.net/ows/1.1"
FES = "http://www.opengis.net/fes/2.0"
CDSE = "urn:cdse-gateway:features"
GML = "http://www.opengis.net/gml/3.2"
BY_ID = "urn:ogc:def:query:OGC-WFS::GetFeatureById"


@pytest.fixture(scope="module")
def server(sample_settings):
    with live_gateway(sample_settings) as url:
        yield url


@pytest.fixture(scope="module")
def wfs(server):
    return f"{server}/wfs"


@pytest.fixture(scope="module")
def items(sample_archive):
    """Every collection's sample items (each collection is a feature type)."""
    return {c.id: load_items(sample_archive, c.id) for c in load_config().collections}


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
        f"cdse:{cid}": len(found) for cid, found in items.items()
    }
    for field in ("cloud_cover: Real", "datetime: DateTime", "relative_orbit: Integer"):
        assert field in out.stdout


def test_ogrinfo_where_and_spatial_filter(wfs, items):
    def count(*args: str) -> int:
        return feature_count(f"WFS:{wfs}", f"cdse:{L2A}", *args)

    clear = [i for i in items[L2A] if i["properties"]["eo:cloud_cover"] < 20]
    assert count("-where", "cloud_cover < 20") == len(clear)
    area = box(6.15, 52.56, 6.25, 52.68)
    inside = [i for i in items[L2A] if shape(i["geometry"]).intersects(area)]
    assert 0 < len(inside) < len(items[L2A])
    assert count("-spat", "6.15", "52.56", "6.25", "52.68") == len(inside)


def test_owslib_parses_capabilities_and_fetches(wfs, items):
    service = WebFeatureService(wfs, version="2.0.0")
    assert set(service.contents) == {f"cdse:{cid}" for cid in items}
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
    return fes(body)


def _cc(item: dict) -> float:
    return item["properties"]["eo:cloud_cover"]


@pytest.mark.parametrize(("body", "expected"), FILTERS)
def test_filter_encoding(wfs, items, body, expected):
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
    body, params = POST_AS_KVP["filter-sort-page"]
    posted = httpx.post(f"{server}/ows?service=WFS", content=body.encode(), timeout=60)
    assert _comparable(posted) == _comparable(_get(f"{server}/wfs", **params))


def test_geojson_counts_and_paging_links(wfs, items):
    total = len(items[L2A])
    params = {"request": "GetFeature", "typeNames": f"cdse:{L2A}", "outputFormat": "geojson",
              "count": "3", "sortBy": "cloud_cover DESC"}  # fmt: skip
    first = _get(wfs, **params).json()
    assert (first["numberMatched"], first["numberReturned"]) == (total, 3)
    links = {link["rel"]: link for link in first["links"]}
    assert set(links) == {"next"} and links["next"]["type"] == "application/geo+json"
    second = httpx.get(links["next"]["href"], timeout=60).json()  # the link as given
    assert (second["numberMatched"], second["numberReturned"]) == (total, 3)
    assert {link["rel"] for link in second["links"]} == {"next", "previous"}
    ordered = sorted(items[L2A], key=lambda i: -_cc(i))
    ids = [f["id"] for f in first["features"] + second["features"]]
    assert ids == [i["id"] for i in ordered[:6]]
    back = next(link["href"] for link in second["links"] if link["rel"] == "previous")
    assert [f["id"] for f in httpx.get(back, timeout=60).json()["features"]] == ids[:3]
    hits = _get(wfs, **params, resultType="hits").json()
    assert (hits["numberMatched"], hits["numberReturned"], hits["features"]) == (total, 0, [])


# --- XML POST ----------------------------------------------------------------------------

XML_NS = ('xmlns:wfs="http://www.opengis.net/wfs/2.0" xmlns:fes="http://www.opengis.net/fes/2.0" '
          'xmlns:gml="http://www.opengis.net/gml/3.2" xmlns:ows="http://www.opengis.net/ows/1.1" '
          'xmlns:cdse="urn:cdse-gateway:features"')  # fmt: skip
LESS_20 = FILTERS[0][0].replace("<", "<fes:").replace("<fes:/", "</fes:")
DURING = FILTERS[6][0]


def _xml(request: str, body: str = "", **attributes: str) -> str:
    attrs = " ".join(f'{k}="{v}"' for k, v in {"service": "WFS", "version": "2.0.0",
                                                **attributes}.items())  # fmt: skip
    return f"<wfs:{request} {attrs} {XML_NS}>{body}</wfs:{request}>"


def _post(url: str, body: str, media_type: str = "application/xml") -> httpx.Response:
    data = body.encode()
    return httpx.post(url, content=data, headers={"content-type": media_type}, timeout=60)


def _comparable(response: httpx.Response) -> object:
    """An answer without what differs between two requests for the same thing."""
    if response.headers["content-type"].startswith("application/geo+json"):
        body = response.json()
        return {k: v for k, v in body.items() if k not in ("timeStamp", "links")}
    root = etree.fromstring(response.content)
    for element in root.iter():
        for name in ("timeStamp", "next", "previous"):
            element.attrib.pop(name, None)
    return etree.tostring(root, method="c14n")


# (XML body, the same request in KVP)
POST_AS_KVP = {
    "capabilities": (
        _xml("GetCapabilities", "<ows:AcceptVersions><ows:Version>2.0.0</ows:Version>"
             "</ows:AcceptVersions>", version="2.0.0"),
        {"request": "GetCapabilities", "acceptVersions": "2.0.0"},
    ),
    "describe-feature-type": (
        _xml("DescribeFeatureType", f"<wfs:TypeName>cdse:{MOSAICS}</wfs:TypeName>"),
        {"request": "DescribeFeatureType", "typeNames": f"cdse:{MOSAICS}"},
    ),
    "filter-sort-page": (
        _xml("GetFeature", f'<wfs:Query typeNames="cdse:{L2A}"><fes:Filter>{LESS_20}</fes:Filter>'
             "<fes:SortBy><fes:SortProperty><fes:ValueReference>cdse:cloud_cover"
             "</fes:ValueReference><fes:SortOrder>DESC</fes:SortOrder></fes:SortProperty>"
             "</fes:SortBy></wfs:Query>", count="2", startIndex="1"),
        {"request": "GetFeature", "typeNames": f"cdse:{L2A}", "filter": fes(FILTERS[0][0]),
         "sortBy": "cloud_cover DESC", "count": "2", "startIndex": "1"},
    ),
    "during-utm-geojson": (
        _xml("GetFeature", f'<wfs:Query typeNames="cdse:{L2A}" srsName="EPSG:32631">'
             f"{fes(DURING)}</wfs:Query>", outputFormat="application/geo+json"),
        {"request": "GetFeature", "typeNames": f"cdse:{L2A}", "filter": fes(DURING),
         "srsName": "EPSG:32631", "outputFormat": "application/geo+json"},
    ),
    "hits-two-queries": (
        _xml("GetFeature", f'<wfs:Query typeNames="cdse:{L2A}"/>'
             f'<wfs:Query typeNames="cdse:{MOSAICS}"/>', resultType="hits"),
        {"request": "GetFeature", "typeNames": f"cdse:{L2A},cdse:{MOSAICS}", "resultType": "hits"},
    ),
    "property-names": (
        _xml("GetFeature", f'<wfs:Query typeNames="cdse:{MOSAICS}"><wfs:PropertyName>'
             "cdse:grid_code</wfs:PropertyName><wfs:PropertyName>footprint</wfs:PropertyName>"
             "</wfs:Query>"),
        {"request": "GetFeature", "typeNames": f"cdse:{MOSAICS}",
         "propertyName": "grid_code,footprint"},
    ),
    "property-value": (
        _xml("GetPropertyValue", f'<wfs:Query typeNames="cdse:{L2A}"><fes:SortBy>'
             "<fes:SortProperty><fes:ValueReference>datetime</fes:ValueReference>"
             "</fes:SortProperty></fes:SortBy></wfs:Query>", valueReference="cloud_cover",
             count="5"),
        {"request": "GetPropertyValue", "typeNames": f"cdse:{L2A}", "sortBy": "datetime",
         "valueReference": "cloud_cover", "count": "5"},
    ),
    "stored-query": (
        _xml("GetFeature", f'<wfs:StoredQuery id="{BY_ID}"><wfs:Parameter name="ID">'
             "Sentinel-2_mosaic_2025_Q2_32ULD_0_0</wfs:Parameter></wfs:StoredQuery>"),
        {"request": "GetFeature", "storedQuery_id": BY_ID,
         "ID": "Sentinel-2_mosaic_2025_Q2_32ULD_0_0"},
    ),
    "list-stored-queries": (_xml("ListStoredQueries"), {"request": "ListStoredQueries"}),
    "describe-stored-queries": (
        _xml("DescribeStoredQueries", f"<wfs:StoredQueryId>{BY_ID}</wfs:StoredQueryId>"),
        {"request": "DescribeStoredQueries", "storedQuery_id": BY_ID},
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(POST_AS_KVP))
def test_xml_post_answers_as_kvp(wfs, name):
    body, params = POST_AS_KVP[name]
    posted, got = _post(wfs, body), _get(wfs, **params)
    assert posted.status_code == got.status_code == 200, posted.text
    assert posted.headers["content-type"] == got.headers["content-type"]
    assert _comparable(posted) == _comparable(got)
    if name == "filter-sort-page":  # a page that really was filtered, sorted and paged
        root = etree.fromstring(posted.content)
        assert (root.get("numberMatched"), root.get("numberReturned")) == ("4", "2")
        assert "STARTINDEX=3" in root.get("next") and "STARTINDEX=0" in root.get("previous")


def test_xml_post_with_form_content_type_and_on_capabilities(wfs):
    """curl -d sends XML as a form; the capabilities advertise POST at the same URL."""
    body, params = POST_AS_KVP["hits-two-queries"]
    posted = _post(wfs, body, "application/x-www-form-urlencoded")
    assert _comparable(posted) == _comparable(_get(wfs, **params))
    service = WebFeatureService(wfs, version="2.0.0")
    for name in ("GetCapabilities", "DescribeFeatureType", "GetFeature", "GetPropertyValue",
                 "ListStoredQueries", "DescribeStoredQueries"):  # fmt: skip
        methods = {m["type"]: m["url"] for m in service.getOperationByName(name).methods}
        assert methods == {"Get": f"{wfs}?", "Post": wfs}, name
    root = etree.fromstring(_get(wfs, request="GetCapabilities").content)
    xml_encoding = root.find(f".//{{{OWS11}}}Constraint[@name='XMLEncoding']")
    assert xml_encoding.findtext(f"{{{OWS11}}}DefaultValue") == "TRUE"


def test_owslib_post_equals_get(wfs, items):
    service = WebFeatureService(wfs, version="2.0.0")

    def ids(**kwargs) -> list[str]:
        root = etree.fromstring(service.getfeature(**kwargs).read())
        return [m[0].get(f"{{{GML}}}id") for m in root.findall(f"{{{WFS}}}member")]

    for kwargs in [
        {"typename": [f"cdse:{L2A}"], "bbox": (6.15, 52.56, 6.25, 52.68)},
        {"typename": [f"cdse:{L2A}"], "sortby": ["cloud_cover DESC"], "maxfeatures": 3,
         "startindex": 2, "propertyname": ["cloud_cover"]},
    ]:  # fmt: skip
        posted = ids(**kwargs, method="Post")
        assert posted and posted == ids(**kwargs)
    # OWSLib sends a filter by GET as a "query" parameter: compare with our own KVP request.
    posted = ids(typename=[f"cdse:{L2A}"], filter=fes(FILTERS[3][0]), method="Post")
    got = _get(wfs, request="GetFeature", typeNames=f"cdse:{L2A}", filter=fes(FILTERS[3][0]))
    assert posted == [f.get(f"{{{GML}}}id") for f in _features(got)]
    assert set(posted) == {i["id"] for i in items[L2A] if FILTERS[3][1](i)}
    area = box(6.15, 52.56, 6.25, 52.68)
    inside = {i["id"] for i in items[L2A] if shape(i["geometry"]).intersects(area)}
    assert set(ids(typename=[f"cdse:{L2A}"], bbox=(6.15, 52.56, 6.25, 52.68), method="Post")) == (
        inside
    )
    scene = items[MOSAICS][1]["id"]
    by_id = service.getfeature(storedQueryID=BY_ID, storedQueryParams={"ID": scene}, method="Post")
    assert etree.fromstring(by_id.read()).get(f"{{{GML}}}id") == scene


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("<wfs:GetFeature", 400, "OperationParsingFailed"),
        ("<GetFeature service='WFS' version='2.0.0'/>", 400, "OperationParsingFailed"),
        (_xml("Fly"), 400, "OperationParsingFailed"),
        (_xml("Transaction"), 501, "OperationNotSupported"),
        (_xml("GetFeature", f'<wfs:Query typeNames="cdse:{L2A}"><wfs:Bogus/></wfs:Query>'), 400,
         "OperationParsingFailed"),
        (_xml("GetFeature", "<wfs:Nope/>"), 400, "OperationParsingFailed"),
        (_xml("GetCapabilities", "<wfs:Nope/>"), 400, "OperationParsingFailed"),
        (_xml("ListStoredQueries", "<wfs:Nope/>"), 400, "OperationParsingFailed"),
        ("<!DOCTYPE x [<!ENTITY a SYSTEM 'file:///etc/passwd'>]>" + _xml("GetFeature"), 400,
         "OperationParsingFailed"),
        (_xml("GetFeature"), 400, "MissingParameterValue"),
        (_xml("GetFeature", '<wfs:Query typeNames="cdse:nope"/>'), 400, "InvalidParameterValue"),
        (_xml("GetFeature", f'<wfs:Query typeNames="cdse:{L2A}"/>', version="1.1.0"), 400,
         "InvalidParameterValue"),
        (_xml("GetFeature", f'<wfs:Query typeNames="cdse:{L2A}"/>', count="many"), 400,
         "InvalidParameterValue"),
        (_xml("GetFeature", f'<wfs:Query typeNames="cdse:{L2A}"><fes:Filter>'
              "<fes:PropertyIsLessThan><fes:ValueReference>nope</fes:ValueReference>"
              "<fes:Literal>1</fes:Literal></fes:PropertyIsLessThan></fes:Filter></wfs:Query>"),
         400, "InvalidParameterValue"),
        (_xml("GetFeature", f'<wfs:Query typeNames="cdse:{L2A}"><fes:SortBy><fes:SortProperty>'
              "<fes:SortOrder>DESC</fes:SortOrder></fes:SortProperty></fes:SortBy></wfs:Query>"),
         400, "OperationParsingFailed"),
        (_xml("GetFeature", f'<wfs:Query typeNames="cdse:{L2A}"/><wfs:Query typeNames='
              f'"cdse:{MOSAICS}" srsName="EPSG:3857"/>'), 501, "OperationNotSupported"),
        (_xml("GetFeature", f'<wfs:StoredQuery id="{BY_ID}"><wfs:Parameter name="ID">nope'
              "</wfs:Parameter></wfs:StoredQuery>"), 404, "NotFound"),
        # over the HTTP edge's body cap (GATEWAY_MAX_BODY_BYTES, 1 MiB): 413, never parsed
        (_xml("GetFeature", f"<!-- {'x' * (1 << 20)} -->"), 413, "NoApplicableCode"),
    ],
)  # fmt: skip
def test_xml_post_errors_are_ows11_reports(wfs, body, status, code):
    response = _post(wfs, body)
    assert response.status_code == status, response.text
    root = etree.fromstring(response.content)
    assert root.tag == f"{{{OWS11}}}ExceptionReport" and root.get("version") == "2.0.0"
    assert root.find(f"{{{OWS11}}}Exception").get("exceptionCode") == code
    assert_valid(ogc_schema(), root)


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
