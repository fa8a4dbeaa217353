"""Sentinel Hub-style instance URLs: ``/ogc/{wms,wmts,wcs,wfs}/<instance>`` serve the
instance's layers only, through the same doors, with capabilities pointing back to them."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import rasterio
import yaml
from lxml import etree
from owslib.wmts import WebMapTileService
from rasterio.windows import Window

from gateway.app import DOORS
from gateway.config import load_config
from gateway.core.tiles.grids import TileGrids
from tests.support.configs import portable_default_config
from tests.support.mapproxy_live import assert_valid, schema
from tests.support.ows_live import live_gateway
from tests.support.pictures import rgba

INSTANCE = "0d9e7e3a-5b1c-4c47-9f2e-5a0c0e7f1b2d"  # config/gateway.yaml's sample instance
LAYERS = {"TRUE_COLOR", "NDVI", "NDVI_RAMP", "SCL"}
UTM31 = "700000,5832000,702000,5834000"
CAPABILITIES = {
    "wms": {"SERVICE": "WMS", "REQUEST": "GetCapabilities"},
    "wmts": {"SERVICE": "WMTS", "REQUEST": "GetCapabilities"},
    "wcs": {"SERVICE": "WCS", "REQUEST": "GetCapabilities", "VERSION": "1.0.0"},
    "wfs": {"SERVICE": "WFS", "REQUEST": "GetCapabilities"},
}


@pytest.fixture(scope="module")
def gateway(sample_settings):
    with live_gateway(sample_settings, doors=DOORS) as url:
        yield url


def _getmap(layer: str) -> dict[str, str]:
    return {
        "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": layer, "STYLES": "",
        "CRS": "EPSG:32631", "BBOX": UTM31, "WIDTH": "64", "HEIGHT": "64",
        "FORMAT": "image/png", "TIME": "2025-06-13",
    }  # fmt: skip


def _names(document: etree._Element, tag: str) -> set[str]:
    return {(e.text or "").strip() for e in document.iter(f"{{*}}{tag}", tag)}


@pytest.mark.parametrize("service", sorted(CAPABILITIES))
def test_capabilities_point_back_to_the_instance(gateway, service):
    response = httpx.get(
        f"{gateway}/ogc/{service}/{INSTANCE}", params=CAPABILITIES[service], timeout=60
    )
    assert response.status_code == 200, response.text[:300]
    text = response.text
    assert f"{gateway}/ogc/{service}/{INSTANCE}" in text
    for door in ("wms", "wmts", "wcs", "wfs", "service", "ows"):
        assert f'"{gateway}/{door}?' not in text and f'"{gateway}/{door}"' not in text


def test_wms_capabilities_list_only_the_instance_layers(gateway):
    plain = etree.fromstring(
        httpx.get(f"{gateway}/wms", params=CAPABILITIES["wms"], timeout=60).content
    )
    response = httpx.get(f"{gateway}/ogc/wms/{INSTANCE}", params=CAPABILITIES["wms"], timeout=60)
    document = etree.fromstring(response.content)
    layers = {(n.text or "") for n in document.iterfind(".//{*}Layer/{*}Layer/{*}Name")}
    assert layers == LAYERS
    assert len(plain.findall(".//{*}Layer/{*}Layer")) > len(LAYERS)  # /wms as it was


def test_wcs_capabilities_list_the_instance_coverages(gateway):
    response = httpx.get(f"{gateway}/ogc/wcs/{INSTANCE}", params=CAPABILITIES["wcs"], timeout=60)
    names = _names(etree.fromstring(response.content), "name") - {"WCS"}  # the service's
    assert names == {"sentinel-2-l2a", *(f"sentinel-2-l2a__{n}" for n in LAYERS - {"NDVI_RAMP"})}


def test_getmap_through_the_instance_is_the_door_s_picture(gateway):
    ours = httpx.get(f"{gateway}/ogc/wms/{INSTANCE}", params=_getmap("NDVI"), timeout=60)
    plain = httpx.get(f"{gateway}/wms", params=_getmap("NDVI"), timeout=60)
    assert ours.status_code == 200 and ours.headers["content-type"] == "image/png"
    assert np.array_equal(rgba(ours.content), rgba(plain.content))
    assert len(np.unique(rgba(ours.content).reshape(-1, 4), axis=0)) > 20


def test_wmts_rest_tile_through_the_instance(gateway):
    path = "/1.0.0/NDVI/default/2025-06-13/WebMercatorQuad/12/2114/1347.png"
    ours = httpx.get(f"{gateway}/ogc/wmts/{INSTANCE}{path}", timeout=60)
    plain = httpx.get(f"{gateway}/wmts{path}", timeout=60)
    assert ours.status_code == plain.status_code
    assert ours.content == plain.content


@pytest.mark.parametrize(
    ("service", "params", "code"),
    [
        ("wms", _getmap("NDWI"), "LayerNotDefined"),
        (
            "wcs",
            {
                "SERVICE": "WCS",
                "VERSION": "1.0.0",
                "REQUEST": "DescribeCoverage",
                "COVERAGE": "sentinel-1-grd",
            },
            "CoverageNotDefined",
        ),
        # WMTS has no LayerNotDefined: its InvalidParameterValue, the locator says layer
        (
            "wmts",
            {"SERVICE": "WMTS", "REQUEST": "GetTile", "LAYER": "NDWI"},
            "InvalidParameterValue",
        ),
    ],
)
def test_a_layer_outside_the_instance_gets_the_door_s_exception(gateway, service, params, code):
    response = httpx.get(f"{gateway}/ogc/{service}/{INSTANCE}", params=params, timeout=60)
    assert response.status_code == 404
    assert code in response.text and "not in this instance" in response.text
    etree.fromstring(response.content)  # an exception report, in XML


@pytest.mark.parametrize("service", sorted(CAPABILITIES))
def test_an_unknown_instance_is_the_door_s_404(gateway, service):
    response = httpx.get(f"{gateway}/ogc/{service}/no-such-instance", params=CAPABILITIES[service])
    assert response.status_code == 404
    assert "no instance 'no-such-instance'" in response.text
    etree.fromstring(response.content)


def test_an_unknown_service_under_ogc_is_an_ows_404(gateway):
    response = httpx.get(f"{gateway}/ogc/wps/{INSTANCE}")
    assert response.status_code == 404 and b"ExceptionReport" in response.content


@pytest.mark.parametrize(
    ("instances", "message"),
    [
        ([{"name": "a", "layers": ["NO_SUCH"]}], "instance a: unknown layer NO_SUCH"),
        ([{"name": "a", "layers": ["ndvi"]}], "instance a: unknown layer ndvi"),
        ([{"name": "a", "layers": ["NDVI"]}] * 2, "instance a is defined twice"),
        ([{"name": "a/b", "layers": ["NDVI"]}], "String should match pattern"),
        ([{"name": "a", "layers": []}], "at least 1 item"),
    ],
)
def test_instances_are_validated_at_load(tmp_path, instances, message):
    raw = portable_default_config()
    raw["instances"] = instances
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match=message):
        load_config(path)


def test_form_posts_are_checked_like_gets(gateway):
    """POST application/x-www-form-urlencoded (scripts overflow URLs): the body's layers are
    the instance's or refused, as in a GET."""
    url = f"{gateway}/ogc/wms/{INSTANCE}"
    refused = httpx.post(url, data=_getmap("NDWI"), timeout=60)
    assert refused.status_code == 404 and "not in this instance" in refused.text
    posted = httpx.post(url, data=_getmap("NDVI"), timeout=60)
    got = httpx.get(url, params=_getmap("NDVI"), timeout=60)
    assert posted.status_code == 200 and np.array_equal(rgba(posted.content), rgba(got.content))
    wcs = {"SERVICE": "WCS", "VERSION": "1.0.0", "REQUEST": "DescribeCoverage"}
    described = httpx.post(f"{gateway}/ogc/wcs/{INSTANCE}", data={**wcs, "COVERAGE": "NDVI"})
    assert described.status_code == 200 and b"sentinel-2-l2a__NDVI" in described.content


def test_sentinel_hub_s_shortest_getmap(gateway):
    """Sentinel Hub's documented example: no SERVICE, VERSION, CRS (EPSG:3857) or STYLES."""
    box = "660000,6890000,662000,6892000"
    short = dict(REQUEST="GetMap", BBOX=box, LAYERS="NDVI", MAXCC="20", WIDTH="64",
                 HEIGHT="64", FORMAT="image/png", TIME="2025-06-01/2025-06-30")  # fmt: skip
    ours = httpx.get(f"{gateway}/ogc/wms/{INSTANCE}", params=short, timeout=60)
    full = {**short, "SERVICE": "WMS", "VERSION": "1.3.0", "CRS": "EPSG:3857", "STYLES": ""}
    plain = httpx.get(f"{gateway}/wms", params=full, timeout=60)
    assert ours.status_code == plain.status_code == 200, ours.text[:300]
    assert np.array_equal(rgba(ours.content), rgba(plain.content))
    del full["STYLES"]  # the plain door too: the default style (MapProxy answered 500)
    assert httpx.get(f"{gateway}/wms", params=full, timeout=60).content == plain.content


# Sentinel Hub's tile matrix sets ---------------------------------------------------------

WMTS_NS = {"w": "http://www.opengis.net/wmts/1.0", "ows": "http://www.opengis.net/ows/1.1"}
WEB_MERCATOR = 20037508.342789244
# A PopularWebMercator512 tile over the sample area: WebMercatorQuad's scale of level 12 in
# 512 px tiles, over WebMercatorQuad tiles 12/2116-2117/1340-1341 (tests/test_wmts.py's).
POPULAR = (12, 1058, 670)
DAY = "2025-06-13"


def _wmts_tile(gateway: str, tms: str, z: int, x: int, y: int, path: str = "/wmts", **params):
    """A KVP GetTile of NDVI on ``path`` (``params`` added), checked to be a PNG."""
    query = {
        "SERVICE": "WMTS", "REQUEST": "GetTile", "VERSION": "1.0.0", "LAYER": "NDVI",
        "STYLE": "default", "FORMAT": "image/png", "TILEMATRIXSET": tms, "TILEMATRIX": str(z),
        "TILECOL": str(x), "TILEROW": str(y), **params,
    }  # fmt: skip
    answer = httpx.get(f"{gateway}{path}", params=query, timeout=60)
    assert answer.status_code == 200, answer.text[:300]
    assert answer.headers["content-type"] == "image/png"
    return answer


def _quad(gateway: str, z: int, x: int, y: int, **params) -> np.ndarray:
    """The 2x2 WebMercatorQuad tiles of level ``z`` under PopularWebMercator512's z/x/y."""

    def tile(i: int, j: int) -> np.ndarray:
        answer = _wmts_tile(gateway, "WebMercatorQuad", z, 2 * x + i, 2 * y + j, **params)
        return rgba(answer.content)

    return np.vstack([np.hstack([tile(i, j) for i in (0, 1)]) for j in (0, 1)])


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/wmts/1.0.0/WMTSCapabilities.xml", {}),
        (f"/ogc/wmts/{INSTANCE}", {"SERVICE": "WMTS", "REQUEST": "GetCapabilities"}),
    ],
)
def test_capabilities_list_sentinel_hub_s_sets_on_every_layer(gateway, path, params):
    """PopularWebMercator256 is WebMercatorQuad; PopularWebMercator512's level z has
    WebMercatorQuad z's scale in 512 px tiles, max(1, 2^(z-1)) across, from the top left."""
    answer = httpx.get(f"{gateway}{path}", params=params, timeout=60)
    document = assert_valid(schema("wmts/1.0/wmtsGetCapabilities_response.xsd"), answer.content)

    def matrices(name: str) -> list[etree._Element]:
        found = f"//w:Contents/w:TileMatrixSet[ows:Identifier='{name}']/w:TileMatrix"
        return document.xpath(found, namespaces=WMTS_NS)

    def text(matrix: etree._Element, tag: str) -> str:
        return matrix.findtext(tag if ":" in tag else f"w:{tag}", namespaces=WMTS_NS)

    quad, popular256, popular512 = (
        matrices(n) for n in ("WebMercatorQuad", "PopularWebMercator256", "PopularWebMercator512")
    )
    assert len(quad) == len(popular256) == len(popular512) == 20
    fields = ("ScaleDenominator", "TopLeftCorner", "TileWidth", "MatrixWidth", "MatrixHeight")
    for z, (ours, theirs) in enumerate(zip(popular512, quad, strict=True)):
        assert [text(popular256[z], f) for f in fields] == [text(theirs, f) for f in fields]
        assert int(text(ours, "ows:Identifier")) == z
        scale = float(text(ours, "ScaleDenominator"))
        assert scale == pytest.approx(float(text(theirs, "ScaleDenominator")), rel=1e-12)
        corner = [float(v) for v in text(ours, "TopLeftCorner").split()]
        assert corner == pytest.approx([-WEB_MERCATOR, WEB_MERCATOR])
        assert (text(ours, "TileWidth"), text(ours, "TileHeight")) == ("512", "512")
        side = str(max(1, 2 ** (z - 1)))
        assert (text(ours, "MatrixWidth"), text(ours, "MatrixHeight")) == (side, side)
    layers = document.xpath("//w:Contents/w:Layer", namespaces=WMTS_NS)
    for layer in layers:
        links = set(layer.xpath("w:TileMatrixSetLink/w:TileMatrixSet/text()", namespaces=WMTS_NS))
        assert {"PopularWebMercator256", "PopularWebMercator512"} <= links


@pytest.mark.parametrize("path", ["/wmts", f"/ogc/wmts/{INSTANCE}"])
def test_a_popular_web_mercator_512_tile_is_four_web_mercator_quad_tiles(gateway, path):
    """Pixel for pixel (decoded): the same ground pixels as the 2x2 WebMercatorQuad tiles of
    the same level, with TIME, MAXCC and an EXPRESSION; by KVP and REST; PopularWebMercator256
    is WebMercatorQuad's tile, byte for byte."""
    z, x, y = POPULAR
    params = {"TIME": DAY, "MAXCC": "80", "EXPRESSION": "(B08-B04)/(B08+B04+0.1)"}
    kvp = _wmts_tile(gateway, "PopularWebMercator512", z, x, y, path, **params)
    picture = rgba(kvp.content)
    assert picture.shape == (512, 512, 4)
    assert (picture[..., 3] == 255).mean() > 0.3  # there is data in it
    assert np.array_equal(picture, _quad(gateway, z, x, y, **params))
    rest_path = f"{path}/1.0.0/NDVI/PopularWebMercator512/{DAY}/{z}/{x}/{y}.png"
    rest = httpx.get(
        f"{gateway}{rest_path}",
        params={"MAXCC": "80", "EXPRESSION": params["EXPRESSION"]},
        timeout=60,
    )
    assert rest.content == kvp.content
    tiles = [
        _wmts_tile(gateway, tms, z, 2 * x, 2 * y, path, TIME=DAY).content
        for tms in ("PopularWebMercator256", "WebMercatorQuad")
    ]
    assert tiles[0] == tiles[1]


def test_sentinel_hub_s_tiles_share_the_cache_entry_and_etag_of_the_same_ground(gateway):
    """PopularWebMercator512 z/x/y covers WebMercatorQuad512 (z-1)/x/y at the same size: one
    cache entry, one ETag (a 304 for either); another level is another entry."""
    z, x, y = POPULAR
    popular = _wmts_tile(gateway, "PopularWebMercator512", z, x, y, TIME=DAY)
    quad512 = _wmts_tile(gateway, "WebMercatorQuad512", z - 1, x, y, TIME=DAY)
    assert popular.content == quad512.content
    assert popular.headers["etag"] == quad512.headers["etag"]
    assert quad512.headers["x-cache"] == "hit"
    query = {
        "SERVICE": "WMTS", "REQUEST": "GetTile", "LAYER": "NDVI", "TILEMATRIXSET":
        "PopularWebMercator512", "TILEMATRIX": str(z), "TILECOL": str(x), "TILEROW": str(y),
        "TIME": DAY,
    }  # fmt: skip
    headers = {"If-None-Match": quad512.headers["etag"]}
    again = httpx.get(f"{gateway}/ogc/wmts/{INSTANCE}", params=query, headers=headers)
    assert again.status_code == 304
    deeper = _wmts_tile(gateway, "PopularWebMercator512", z + 1, 2 * x, 2 * y, TIME=DAY)
    assert deeper.headers["etag"] != popular.headers["etag"]


def test_sentinel_hub_s_documented_tile_is_where_its_example_box_is():
    """Sentinel Hub's WMTS example (TILEMATRIXSET=PopularWebMercator512, TILEMATRIX=14,
    TILEROW=3065, TILECOL=4758) shows the box of its WMS example, BBOX=3238005,5039853,
    3244050,5045897 (EPSG:3857): the tile holds that box's centre."""
    west, south, east, north = TileGrids()["PopularWebMercator512"].tile_bbox(4758, 3065, 14)
    x, y = (3238005 + 3244050) / 2, (5039853 + 5045897) / 2
    assert west < x < east and south < y < north
    assert east - west == pytest.approx(2 * WEB_MERCATOR / 2**13)


def test_owslib_and_gdal_read_popular_web_mercator_512(gateway):
    """OWSLib (the instance's KVP capabilities, then GetTile) and GDAL's WMTS driver (REST
    capabilities, tile matrix set and level by name) get the door's tile."""
    z, x, y = POPULAR
    expected = rgba(_wmts_tile(gateway, "PopularWebMercator512", z, x, y).content)
    service = WebMapTileService(f"{gateway}/ogc/wmts/{INSTANCE}", timeout=60)
    matrix = service.tilematrixsets["PopularWebMercator512"].tilematrix[f"{z:02d}"]
    assert (matrix.tilewidth, matrix.matrixwidth) == (512, 2 ** (z - 1))
    reply = service.gettile(
        layer="NDVI", tilematrixset="PopularWebMercator512", tilematrix=f"{z:02d}", row=y,
        column=x, format="image/png",
    )  # fmt: skip
    assert np.array_equal(rgba(reply.read()), expected)

    capabilities = f"{gateway}/wmts/1.0.0/WMTSCapabilities.xml"
    url = f"WMTS:{capabilities},layer=NDVI,tilematrixset=PopularWebMercator512,tilematrix={z:02d}"
    west, south, east, north = TileGrids()["PopularWebMercator512"].tile_bbox(x, y, z)
    with rasterio.Env(GDAL_HTTP_TIMEOUT="60"), rasterio.open(url) as src:
        assert src.crs.to_epsg() == 3857
        assert src.res == pytest.approx(((east - west) / 512,) * 2)
        window = src.window(west, south, east, north).round_offsets().round_lengths()
        assert (window.width, window.height) == (512, 512)
        # the raster ends at the layer's extent: the part of the tile on it
        inside = window.intersection(Window(0, 0, src.width, src.height))
        pixels = np.moveaxis(src.read(window=inside), 0, -1)
    top, left = int(inside.row_off - window.row_off), int(inside.col_off - window.col_off)
    expected = expected[top : top + pixels.shape[0], left : left + pixels.shape[1]]
    assert pixels.shape[0] * pixels.shape[1] > 512 * 300
    assert (pixels[..., 3] == 255).mean() > 0.3
    # GDAL fills {Time} with the capabilities' default, what a request without TIME gets
    assert np.array_equal(pixels, expected)


def test_feature_info_on_popular_web_mercator_512_is_that_of_the_same_ground_pixel(gateway):
    """REST GetFeatureInfo at I/J 300/400 of a 512 px tile (past 256: its own size counts) is
    the one at 44/144 of the WebMercatorQuad tile under that pixel; 512 is out of range."""
    z, x, y = POPULAR
    base = f"{gateway}/ogc/wmts/{INSTANCE}/1.0.0/NDVI"
    ours = httpx.get(f"{base}/PopularWebMercator512/{DAY}/{z}/{x}/{y}/300/400.json", timeout=60)
    theirs = httpx.get(
        f"{base}/WebMercatorQuad/{DAY}/{z}/{2 * x + 1}/{2 * y + 1}/44/144.json", timeout=60
    )
    assert ours.status_code == theirs.status_code == 200, ours.text[:300]
    [mine], [other] = ours.json()["features"], theirs.json()["features"]
    assert mine["properties"] == other["properties"]  # values, scene, date
    assert mine["properties"]["values"]["NDVI"] is not None
    point = mine["geometry"]["coordinates"]
    assert point == pytest.approx(other["geometry"]["coordinates"], abs=1e-6)
    outside = httpx.get(f"{base}/PopularWebMercator512/{DAY}/{z}/{x}/{y}/512/0.json", timeout=60)
    assert outside.status_code == 400 and "PointIJOutOfRange" in outside.text
