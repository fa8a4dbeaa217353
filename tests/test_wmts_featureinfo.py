"""WMTS 1.0.0 GetFeatureInfo (KVP and REST) on a live server, values checked against numpy.

The expected value at a tile pixel is read with plain rasterio from the sample JPEG 2000
files at the pixel's centre (tile bounds from morecantile), from the scene the mosaic rule
picks (most recent first, SCL cloud classes skipped for cloud-masked layers).
"""

from __future__ import annotations

import json

import httpx
import morecantile
import numpy as np
import pytest
from lxml import etree
from owslib.wmts import WebMapTileService

from tests.support.expected import load_items, ndvi, pixel_centres, read_band
from tests.support.mapproxy_live import assert_valid, live_server, schema

DAY = "2025-06-13"
WMTS_NS = {"w": "http://www.opengis.net/wmts/1.0", "ows": "http://www.opengis.net/ows/1.1"}
FORMATS = {"text/plain": "txt", "application/json": "json", "text/xml": "xml"}
# (tile matrix set, z, x, y, i, j): pixels over the sample's two MGRS tiles.
PIXELS = [
    ("WebMercatorQuad", 14, 8465, 5367, 100, 50),
    ("WebMercatorQuad", 16, 33887, 21459, 200, 30),
    ("WorldCRS84Quad", 13, 8469, 1701, 17, 140),
    ("WebMercatorQuad512", 13, 4233, 2683, 400, 300),
]


@pytest.fixture(scope="module")
def live(sample_settings):
    with live_server(sample_settings) as server:
        yield server


def _centre(tms: str, z: int, x: int, y: int, i: int, j: int) -> tuple[float, float, str]:
    """The centre of pixel (i, j) of a tile, in the tile matrix set's CRS (morecantile's
    bounds: a ``...512`` set's tile covers its 256 px namesake's tile at the same z/x/y)."""
    size = 512 if tms.endswith("512") else 256
    bounds = tuple(morecantile.tms.get(tms.removesuffix("512")).xy_bounds(x, y, z))
    xs, ys = pixel_centres(bounds, size, size)
    crs = "EPSG:4326" if tms.startswith("WorldCRS84Quad") else "EPSG:3857"
    return float(xs[j, i]), float(ys[j, i]), crs


def _expected(archive, runtime, x: float, y: float, crs: str, assets: list[str], masked: bool):
    """(item, values at the point) of the first scene of DAY that has a valid pixel there."""
    items = [
        i for i in load_items(archive, "sentinel-2-l2a") if i["properties"]["datetime"][:10] == DAY
    ]
    items.sort(key=lambda i: (i["properties"]["datetime"], i["id"]), reverse=True)
    clouds = runtime.config.collection("sentinel-2-l2a").cloud_mask.classes
    point = np.array([x]), np.array([y])
    for item in items:
        values = [float(read_band(archive, item, key).sample(*point, crs)[0]) for key in assets]
        if not all(np.isfinite(values)):
            continue
        if masked:
            scl = read_band(archive, item, "SCL_20m", reflectance=False).sample(*point, crs)[0]
            if not np.isfinite(scl) or int(scl) in clouds:
                continue
        return item, values
    raise AssertionError("no scene covers the point")


def _kvp(live, tms, z, x, y, i, j, info_format, **extra) -> httpx.Response:
    params = {
        "SERVICE": "WMTS", "REQUEST": "GetFeatureInfo", "VERSION": "1.0.0", "LAYER": "NDVI",
        "STYLE": "default", "FORMAT": "image/png", "TILEMATRIXSET": tms, "TILEMATRIX": str(z),
        "TILECOL": str(x), "TILEROW": str(y), "I": str(i), "J": str(j),
        "INFOFORMAT": info_format, "TIME": DAY,
    }  # fmt: skip
    params.update(extra)
    params = {k: v for k, v in params.items() if v is not None}
    return httpx.get(f"{live.url}/wmts", params=params, timeout=60)


def _parse(response: httpx.Response, info_format: str) -> tuple[dict[str, float], str, str]:
    """(values by band, scene id, date) from any of the three answer formats."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(info_format)
    if info_format == "application/json":
        properties = json.loads(response.text)["features"][0]["properties"]
        return properties["values"], properties["scene"], properties["date"]
    if info_format == "text/xml":
        document = etree.fromstring(response.content)
        values = {v.get("band"): float(v.text) for v in document.iter("Value")}
        scene = document.find(".//Scene")
        return values, scene.get("id"), scene.get("date")
    lines = dict(line.split(" = ", 1) for line in response.text.strip().splitlines())
    scene, date = lines.pop("scene"), lines.pop("date")
    lines.pop("layer")
    return {k: float(v) for k, v in lines.items()}, scene, date


@pytest.mark.parametrize("info_format", list(FORMATS))
@pytest.mark.parametrize("pixel", PIXELS, ids=lambda p: f"{p[0]}-z{p[1]}")
def test_kvp_ndvi_value_scene_and_date_match_numpy(live, sample_archive, pixel, info_format):
    tms, z, x, y, i, j = pixel
    values, scene, date = _parse(_kvp(live, tms, z, x, y, i, j, info_format), info_format)
    px, py, crs = _centre(tms, z, x, y, i, j)
    item, (nir, red) = _expected(
        sample_archive, live.runtime, px, py, crs, ["B08_10m", "B04_10m"], masked=True
    )
    expected = float(ndvi(np.array([nir]), np.array([red]))[0])
    assert values["NDVI"] == pytest.approx(expected, abs=1e-5)
    assert scene == item["id"] and date.startswith(DAY)


def test_rest_template_from_owslib_gives_band_reflectances(live, sample_archive):
    """A client reads the FeatureInfo ResourceURL template from the capabilities (OWSLib;
    its ``getfeatureinfo`` is not implemented) and fills it in; TRUE_COLOR's three bands."""
    service = WebMapTileService(f"{live.url}/wmts/1.0.0/WMTSCapabilities.xml", timeout=60)
    layer = service.contents["TRUE_COLOR"]
    templates = {
        r["format"]: r["template"] for r in layer.resourceURLs if r["resourceType"] == "FeatureInfo"
    }
    assert set(templates) == set(FORMATS)
    tms, z, x, y, i, j = PIXELS[1]
    px, py, crs = _centre(tms, z, x, y, i, j)
    item, reflectances = _expected(
        sample_archive, live.runtime, px, py, crs, ["B04_10m", "B03_10m", "B02_10m"], masked=False
    )
    for info_format, template in templates.items():
        url = (
            template.replace("{TileMatrixSet}", tms).replace("{Time}", DAY)
            .replace("{TileMatrix}", str(z)).replace("{TileCol}", str(x))
            .replace("{TileRow}", str(y)).replace("{I}", str(i)).replace("{J}", str(j))
        )  # fmt: skip
        values, scene, date = _parse(httpx.get(url, timeout=60), info_format)
        assert list(values) == ["B04", "B03", "B02"]
        assert list(values.values()) == pytest.approx(reflectances, abs=1e-5)
        assert scene == item["id"] and date.startswith(DAY)


def test_rest_and_kvp_agree_and_expression_and_maxcc_reach_the_engine(live, sample_archive):
    tms, z, x, y, i, j = PIXELS[0]
    rest = httpx.get(
        f"{live.url}/wmts/1.0.0/NDVI/{tms}/{DAY}/{z}/{x}/{y}/{i}/{j}.json", timeout=60
    ).json()
    kvp = _kvp(live, tms, z, x, y, i, j, "application/json").json()
    assert rest == kvp
    px, py, crs = _centre(tms, z, x, y, i, j)
    item, (nir,) = _expected(sample_archive, live.runtime, px, py, crs, ["B08_10m"], masked=False)
    values, scene, _ = _parse(
        _kvp(live, tms, z, x, y, i, j, "application/json", EXPRESSION="B08"), "application/json"
    )
    # The value of an EXPRESSION is named after it (one meaning on every door), not the layer.
    assert values["B08"] == pytest.approx(nir, abs=1e-5) and scene == item["id"]
    # MAXCC=0 drops that day's scenes (0.24 % and 0.7 % cloud): no value, no scene.
    values, scene, date = _parse(
        _kvp(live, tms, z, x, y, i, j, "application/json", MAXCC="0"), "application/json"
    )
    assert values == {"NDVI": None} and scene is None and date is None


def test_capabilities_advertise_getfeatureinfo_and_stay_valid(live):
    for url, params, encoding in (
        (f"{live.url}/wmts/1.0.0/WMTSCapabilities.xml", {}, "RESTful"),
        (f"{live.url}/wmts", {"SERVICE": "WMTS", "REQUEST": "GetCapabilities"}, "KVP"),
    ):
        response = httpx.get(url, params=params, timeout=60)
        document = assert_valid(
            schema("wmts/1.0/wmtsGetCapabilities_response.xsd"), response.content
        )
        operation = document.xpath("//ows:Operation[@name='GetFeatureInfo']", namespaces=WMTS_NS)[0]
        href = operation.xpath(".//ows:Get/@xlink:href", namespaces={
            **WMTS_NS, "xlink": "http://www.w3.org/1999/xlink"
        })[0]  # fmt: skip
        assert href == f"{live.url}/wmts?"  # where the door answers KVP (not MapProxy's own)
        assert operation.xpath(".//ows:Value/text()", namespaces=WMTS_NS) == [encoding]
        for layer in document.xpath("//w:Contents/w:Layer", namespaces=WMTS_NS):
            formats = layer.xpath("w:InfoFormat/text()", namespaces=WMTS_NS)
            assert formats == list(FORMATS), layer.findtext("ows:Identifier", namespaces=WMTS_NS)
        if encoding == "RESTful":
            template = document.xpath(
                "//w:Layer[ows:Identifier='NDVI']/w:ResourceURL"
                "[@resourceType='FeatureInfo'][@format='application/json']/@template",
                namespaces=WMTS_NS,
            )[0]
            assert template == (
                f"{live.url}/wmts/1.0.0/NDVI/{{TileMatrixSet}}/{{Time}}/{{TileMatrix}}"
                "/{TileCol}/{TileRow}/{I}/{J}.json"
            )


BAD = [
    ({"I": "256"}, "PointIJOutOfRange", "i"),
    ({"J": "-1"}, "PointIJOutOfRange", "j"),
    ({"I": "x"}, "InvalidParameterValue", "i"),
    ({"J": None}, "MissingParameterValue", "j"),
    ({"INFOFORMAT": None}, "MissingParameterValue", "infoformat"),
    ({"INFOFORMAT": "text/html"}, "InvalidParameterValue", "infoformat"),
    ({"TILECOL": "99999"}, "TileOutOfRange", "tilecol"),
    ({"TILEMATRIX": "25"}, "TileOutOfRange", "tilematrix"),
    ({"LAYER": "NOPE"}, "InvalidParameterValue", "layer"),
    ({"TILEMATRIXSET": None}, "MissingParameterValue", "tilematrixset"),
    ({"TIME": "2025-13-01"}, "InvalidParameterValue", "time"),
    ({"EXPRESSION": "__import__('os')"}, "InvalidParameterValue", "expression"),
]


@pytest.mark.parametrize(("change", "code", "locator"), BAD)
def test_bad_getfeatureinfo_gets_an_ows_exception_report(live, change, code, locator):
    tms, z, x, y, i, j = PIXELS[0]
    response = _kvp(live, tms, z, x, y, i, j, "text/plain", **change)
    assert response.status_code == 400
    document = assert_valid(schema("ows/1.1.0/owsExceptionReport.xsd"), response.content)
    exception = document.find("{http://www.opengis.net/ows/1.1}Exception")
    assert (exception.get("exceptionCode"), exception.get("locator")) == (code, locator)


def test_bad_rest_getfeatureinfo(live):
    tms, z, x, y, _, _ = PIXELS[0]
    base = f"{live.url}/wmts/1.0.0/NDVI/{tms}/{DAY}"
    cases = {
        f"{base}/{z}/{x}/{y}/300/5.json": "PointIJOutOfRange",
        f"{base}/{z}/{x}/{y}/5/5.html": "InvalidParameterValue",
        f"{base}/3/{x}/{y}/5/5.json": "TileOutOfRange",
    }
    for url, code in cases.items():
        response = httpx.get(url, timeout=60)
        assert response.status_code == 400, url
        assert_valid(schema("ows/1.1.0/owsExceptionReport.xsd"), response.content)
        assert f'exceptionCode="{code}"'.encode() in response.content, url
