"""WMS 1.1.1 / 1.3.0 through MapProxy and the engine, with real clients on a live server.

Pictures are decoded and compared with the engine's own render of the same area, float
GeoTIFF maps with numpy on the sample JPEG 2000 files (tests/support/expected.py).
"""

from __future__ import annotations

import io
import json
import textwrap
from urllib.parse import urlencode

import httpx
import numpy as np
import pytest
import rasterio
from lxml import etree
from owslib.wms import WebMapService
from PIL import Image

from gateway.core.request import build_request
from tests.support.expected import load_items, ndvi, pixel_centres, read_band
from tests.support.mapproxy_live import assert_valid, live_server, schema, schema_root

# A 3 km square of T31UFU's window on its own 10 m grid, and the same area in lon/lat.
UTM31 = (700000.0, 5832000.0, 703000.0, 5835000.0)
LONLAT = (5.96, 52.58, 6.16, 52.66)
CLEAR_DAY = "2025-06-13"


@pytest.fixture(scope="module")
def live(sample_settings):
    with live_server(sample_settings) as server:
        yield server


def _get(live, **params) -> httpx.Response:
    return httpx.get(f"{live.url}/wms", params=params, timeout=60)


def _rgba(content: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(content)).convert("RGBA"))


def _getmap(version: str, **extra) -> dict[str, str]:
    params = {
        "SERVICE": "WMS", "VERSION": version, "REQUEST": "GetMap", "LAYERS": "NDVI",
        "STYLES": "", "FORMAT": "image/png", "TRANSPARENT": "TRUE", "TIME": CLEAR_DAY,
    }  # fmt: skip
    params.update(extra)
    return params


def _engine_picture(runtime, **kwargs) -> np.ndarray:
    request = build_request(runtime.config, **kwargs)
    return _rgba(runtime.engine.render(request).content)


def _item(archive, tile: str, day: str) -> dict:
    return next(
        item
        for item in load_items(archive, "sentinel-2-l2a")
        if item["properties"]["grid:code"] == f"MGRS-{tile}"
        and item["properties"]["datetime"].startswith(day)
    )


def _catalog_dates(archive) -> list[str]:
    return sorted({i["properties"]["datetime"][:10] for i in load_items(archive, "sentinel-2-l2a")})


# Capabilities ----------------------------------------------------------------------------


def test_capabilities_130_validate_against_the_ogc_xsd(live, sample_archive):
    response = _get(live, SERVICE="WMS", REQUEST="GetCapabilities", VERSION="1.3.0")
    # The SLD 1.1 capabilities schema imports WMS 1.3.0's and adds sld:GetLegendGraphic.
    document = assert_valid(schema("sld/1.1.0/sld_capabilities.xsd"), response.content)
    ns = {"w": "http://www.opengis.net/wms"}
    names = document.xpath("//w:Layer/w:Name/text()", namespaces=ns)
    assert {"NDVI", "TRUE_COLOR", "FALSE_COLOR", "NDWI", "EVI", "SCL"} <= set(names)
    ndvi_layer = document.xpath("//w:Layer[w:Name='NDVI']", namespaces=ns)[0]
    time = ndvi_layer.xpath("w:Dimension[@name='time']", namespaces=ns)[0]
    assert time.text.split(",") == _catalog_dates(sample_archive)
    crs = set(document.xpath("//w:Capability/w:Layer/w:CRS/text()", namespaces=ns))
    assert {"EPSG:3857", "EPSG:4326", "CRS:84", "EPSG:3035", "EPSG:32631", "EPSG:32760"} <= crs
    formats = document.xpath("//w:GetMap/w:Format/text()", namespaces=ns)
    assert {"image/png", "image/jpeg", "image/webp", "image/tiff"} <= set(formats)


def test_capabilities_111_validate_against_the_dtd(live, sample_archive):
    response = _get(live, SERVICE="WMS", REQUEST="GetCapabilities", VERSION="1.1.1")
    document = etree.fromstring(response.content)
    dtd = etree.DTD(str(schema_root() / "wms/1.1.1/WMS_MS_Capabilities.dtd"))
    assert dtd.validate(document), dtd.error_log.filter_from_errors()[:5]
    extent = document.xpath("//Layer[Name='NDVI']/Extent[@name='time']")[0]
    assert extent.text.split(",") == _catalog_dates(sample_archive)


def test_capabilities_bounding_boxes_are_right_per_crs(live):
    from pyproj import Transformer

    response = _get(live, SERVICE="WMS", REQUEST="GetCapabilities", VERSION="1.3.0")
    ns = {"w": "http://www.opengis.net/wms"}
    layer = etree.fromstring(response.content).xpath("//w:Layer[w:Name='NDVI']", namespaces=ns)[0]
    geo = layer.xpath("w:EX_GeographicBoundingBox", namespaces=ns)[0]
    west, east, south, north = (
        float(geo.findtext(f"w:{k}", namespaces=ns))
        for k in (
            "westBoundLongitude",
            "eastBoundLongitude",
            "southBoundLatitude",
            "northBoundLatitude",
        )
    )
    assert 5.8 < west < 5.95 and 6.2 < east < 6.3 and 52.5 < south < 52.6 and 52.6 < north < 52.75
    boxes = {b.get("CRS"): b for b in layer.xpath("w:BoundingBox", namespaces=ns)}
    assert {"EPSG:4326", "EPSG:3857", "EPSG:32631", "EPSG:32632"} <= set(boxes)
    # EPSG:4326 in 1.3.0 is lat/lon: minx holds the latitude.
    assert float(boxes["EPSG:4326"].get("minx")) == pytest.approx(south, abs=1e-6)
    assert float(boxes["EPSG:4326"].get("miny")) == pytest.approx(west, abs=1e-6)
    for code in ("EPSG:3857", "EPSG:32631", "EPSG:32632"):
        to = Transformer.from_crs("EPSG:4326", code, always_xy=True)
        x, y = to.transform((west + east) / 2, (south + north) / 2)
        box = boxes[code]
        assert float(box.get("minx")) < x < float(box.get("maxx")), code
        assert float(box.get("miny")) < y < float(box.get("maxy")), code


@pytest.mark.parametrize("version", ["1.1.1", "1.3.0"])
def test_owslib_reads_capabilities_and_fetches_a_map(live, version):
    service = WebMapService(f"{live.url}/wms", version=version, timeout=60)
    assert "NDVI" in service.contents and "TRUE_COLOR" in service.contents
    layer = service["NDVI"]
    assert any("32631" in str(crs) for crs in layer.crsOptions)
    times = layer.dimensions["time"]["values"] if version == "1.3.0" else layer.timepositions
    assert CLEAR_DAY in times
    reply = service.getmap(
        layers=["NDVI"], styles=[""], srs="EPSG:32631", bbox=UTM31, size=(300, 300),
        format="image/png", transparent=True, time=CLEAR_DAY,
    )  # fmt: skip
    picture = _rgba(reply.read())
    expected = _engine_picture(
        live.runtime, layer="NDVI", bbox=UTM31, crs="EPSG:32631", width=300, height=300,
        time=CLEAR_DAY,
    )  # fmt: skip
    assert picture.shape == (300, 300, 4)
    assert (picture == expected).all()
    assert (picture[..., 3] == 255).mean() > 0.9  # there is a picture, not a blank


def test_float_geotiff_matches_numpy(live, sample_archive):
    params = _getmap(
        "1.3.0", CRS="EPSG:32631", BBOX=",".join(map(str, UTM31)), WIDTH="300", HEIGHT="300",
        FORMAT="image/tiff", EXPRESSION="(B08-B04)/(B08+B04)",
    )  # fmt: skip
    response = _get(live, **params)
    assert response.headers["content-type"].startswith("image/tiff")
    with rasterio.MemoryFile(response.content) as memory, memory.open() as src:
        data, crs, transform = src.read(1), src.crs, src.transform
    item = _item(sample_archive, "31UFU", CLEAR_DAY)
    xs, ys = pixel_centres(UTM31, 300, 300)
    red = read_band(sample_archive, item, "B04_10m").sample(xs, ys, "EPSG:32631")
    nir = read_band(sample_archive, item, "B08_10m").sample(xs, ys, "EPSG:32631")
    expected = ndvi(nir, red)
    assert crs.to_epsg() == 32631
    assert transform.almost_equals(rasterio.transform.from_bounds(*UTM31, 300, 300))
    both = np.isfinite(data) & np.isfinite(expected)
    assert both.mean() > 0.95  # cloud-masked pixels (SCL) are NaN in ours only
    assert np.abs(data[both] - expected[both]).max() < 1e-4
    assert np.nanmax(expected) > 0.6 and np.nanmin(expected) < 0.1


def test_epsg_4326_axis_order_130_and_111_give_the_same_picture(live):
    west, south, east, north = LONLAT
    size = {"WIDTH": "256", "HEIGHT": "128"}
    v111 = _get(
        live, **_getmap("1.1.1", SRS="EPSG:4326", BBOX=f"{west},{south},{east},{north}", **size)
    )
    v130 = _get(
        live, **_getmap("1.3.0", CRS="EPSG:4326", BBOX=f"{south},{west},{north},{east}", **size)
    )
    crs84 = _get(
        live, **_getmap("1.3.0", CRS="CRS:84", BBOX=f"{west},{south},{east},{north}", **size)
    )
    a, b, c = (_rgba(r.content) for r in (v111, v130, crs84))
    assert (a == b).all() and (a == c).all()
    expected = _engine_picture(
        live.runtime, layer="NDVI", bbox=LONLAT, crs="EPSG:4326", width=256, height=128,
        time=CLEAR_DAY,
    )  # fmt: skip
    assert (a == expected).all()
    assert (a[..., 3] == 255).mean() > 0.5


def test_expression_maxcc_and_priority_reach_the_engine(live):
    area = {"CRS": "EPSG:32631", "BBOX": ",".join(map(str, UTM31)), "WIDTH": "200", "HEIGHT": "200"}
    base = {**area, "TIME": "2025-05-01/2025-06-30"}
    cases = [
        ({"EXPRESSION": "(B03-B08)/(B03+B08)"}, {"expression": "(B03-B08)/(B03+B08)"}),
        ({"MAXCC": "20"}, {"maxcc": 20}),
        ({"PRIORITY": "leastCC"}, {"order": "leastCC"}),
        ({"PRIORITY": "leastRecent", "MAXCC": "50"}, {"order": "leastRecent", "maxcc": 50}),
    ]
    pictures = []
    for extra, engine_args in cases:
        response = _get(live, **_getmap("1.3.0", **{**base, **extra}))
        picture = _rgba(response.content)
        expected = _engine_picture(
            live.runtime, layer="NDVI", bbox=UTM31, crs="EPSG:32631", width=200, height=200,
            time="2025-05-01/2025-06-30", **engine_args,
        )  # fmt: skip
        assert (picture == expected).all(), extra
        pictures.append(picture)
    # Each parameter really changed the picture.
    for i in range(len(pictures)):
        for j in range(i + 1, len(pictures)):
            assert (pictures[i] != pictures[j]).any(), (cases[i][0], cases[j][0])


def test_layer_names_are_case_insensitive(live):
    area = {"CRS": "EPSG:32631", "BBOX": ",".join(map(str, UTM31)), "WIDTH": "64", "HEIGHT": "64"}
    upper = _get(live, **_getmap("1.3.0", **area))
    lower = _get(live, **_getmap("1.3.0", **area, LAYERS="ndvi"))
    assert lower.status_code == 200 and lower.content == upper.content


def test_resx_resy_in_place_of_width_height(live):
    params = _getmap(
        "1.3.0", CRS="EPSG:32631", BBOX=",".join(map(str, UTM31)), RESX="20", RESY="20"
    )
    picture = _rgba(_get(live, **params).content)
    assert picture.shape == (150, 150, 4)


def test_jpeg_and_bgcolor_through_mapproxy(live):
    params = _getmap(
        "1.1.1", SRS="EPSG:4326", BBOX="6.1,52.6,6.4,52.7", WIDTH="300", HEIGHT="100",
        FORMAT="image/jpeg", TRANSPARENT="FALSE", BGCOLOR="0xFF0000",
    )  # fmt: skip
    response = _get(live, **params)
    assert response.headers["content-type"] == "image/jpeg"
    picture = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB")).astype(int)
    # East of the data the background shows through: red.
    east = picture[:, -20:]
    assert (east[..., 0] > 230).all() and (east[..., 1] < 30).all()


# Bad requests ----------------------------------------------------------------------------

GOOD = {"CRS": "EPSG:4326", "BBOX": "52.58,5.96,52.66,6.16", "WIDTH": "64", "HEIGHT": "64"}
BAD = [
    ("1.3.0", {"LAYERS": "NOPE"}, "LayerNotDefined"),
    ("1.1.1", {"LAYERS": "NOPE", "SRS": "EPSG:4326"}, "LayerNotDefined"),
    ("1.3.0", {"CRS": "EPSG:999999"}, "InvalidCRS"),
    ("1.1.1", {"SRS": "EPSG:2154"}, "InvalidSRS"),
    ("1.3.0", {"BBOX": "1,2,3"}, "InvalidParameterValue"),
    ("1.3.0", {"BBOX": "52.66,5.96,52.58,6.16"}, "InvalidParameterValue"),
    ("1.3.0", {"WIDTH": "100000"}, "InvalidParameterValue"),
    ("1.3.0", {"TIME": "2025-13-45"}, "InvalidDimensionValue"),
    ("1.3.0", {"TIME": "2025-06-30/2025-06-01"}, "InvalidDimensionValue"),
    ("1.3.0", {"EXPRESSION": "__import__('os')"}, "InvalidParameterValue"),
    ("1.3.0", {"EXPRESSION": "B99+1"}, "InvalidParameterValue"),
    ("1.3.0", {"MAXCC": "150"}, "InvalidParameterValue"),
    ("1.3.0", {"PRIORITY": "sometimes"}, "InvalidParameterValue"),
    ("1.3.0", {"FORMAT": "image/gif"}, "InvalidFormat"),
    ("1.3.0", {"STYLES": "nope"}, "StyleNotDefined"),
    ("1.3.0", {"BBOX": None}, "MissingParameterValue"),
    ("1.3.0", {"LAYERS": None}, "MissingParameterValue"),
    ("1.3.0", {"WIDTH": None}, "MissingParameterValue"),
]


@pytest.mark.parametrize(("version", "change", "code"), BAD)
def test_bad_getmap_gets_a_service_exception_report(live, version, change, code):
    params = {**_getmap(version), **GOOD}
    if version == "1.1.1":
        params["SRS"] = params.pop("CRS")
        params["BBOX"] = "5.96,52.58,6.16,52.66"
    for key, value in change.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    response = _get(live, **params)
    assert response.status_code == 400
    document = etree.fromstring(response.content)
    if version == "1.3.0":
        assert response.headers["content-type"].startswith("text/xml")
        assert_valid(schema("wms/1.3.0/exceptions_1_3_0.xsd"), response.content)
        found = document.findall("{http://www.opengis.net/ogc}ServiceException")
    else:
        assert response.headers["content-type"].startswith("application/vnd.ogc.se_xml")
        found = document.findall("ServiceException")
    assert [e.get("code") for e in found] == [code]
    assert "Traceback" not in response.text


def test_missing_request_and_unknown_operation(live):
    missing = _get(live, SERVICE="WMS", VERSION="1.3.0")
    unknown = _get(live, SERVICE="WMS", VERSION="1.3.0", REQUEST="DescribeEverything")
    assert b'code="MissingParameterValue"' in missing.content and missing.status_code == 400
    assert b'code="OperationNotSupported"' in unknown.content and unknown.status_code == 400


@pytest.mark.parametrize("version", ["1.1.1", "1.3.0"])
def test_exceptions_blank_and_inimage(live, version):
    mode = {"1.1.1": "application/vnd.ogc.se_", "1.3.0": ""}[version]
    base = {
        **_getmap(version),
        **GOOD,
        "LAYERS": "NOPE",
        "TRANSPARENT": "FALSE",
        "BGCOLOR": "0x00FF00",
    }
    if version == "1.1.1":
        base["SRS"] = base.pop("CRS")
    blank = _get(live, **base, EXCEPTIONS=mode + ("blank" if mode else "BLANK"))
    inimage = _get(live, **base, EXCEPTIONS=mode + ("inimage" if mode else "INIMAGE"))
    for response in (blank, inimage):
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    plain = np.asarray(Image.open(io.BytesIO(blank.content)).convert("RGB"))
    text = np.asarray(Image.open(io.BytesIO(inimage.content)).convert("RGB"))
    assert plain.shape == (64, 64, 3) and (plain == [0, 255, 0]).all()
    assert text.shape == (64, 64, 3) and (text != [0, 255, 0]).any(axis=2).sum() > 20


# GetFeatureInfo and GetLegendGraphic ----------------------------------------------------


@pytest.mark.parametrize("info_format", ["application/json", "text/plain", "text/xml"])
def test_getfeatureinfo_gives_the_value_scene_and_date(live, sample_archive, info_format):
    size, col, row = 300, 120, 80
    params = {
        **_getmap("1.3.0", CRS="EPSG:32631", BBOX=",".join(map(str, UTM31))),
        "REQUEST": "GetFeatureInfo", "QUERY_LAYERS": "NDVI", "WIDTH": str(size),
        "HEIGHT": str(size), "I": str(col), "J": str(row), "INFO_FORMAT": info_format,
    }  # fmt: skip
    response = _get(live, **params)
    assert response.status_code == 200 and response.headers["content-type"].startswith(info_format)
    request = build_request(
        live.runtime.config, layer="NDVI", bbox=UTM31, crs="EPSG:32631", width=size,
        height=size, time=CLEAR_DAY,
    )  # fmt: skip
    raster = live.runtime.engine.compute(request)
    value = float(raster.data[0, row, col])
    item = _item(sample_archive, "31UFU", CLEAR_DAY)
    xs, ys = pixel_centres(UTM31, size, size)
    nir = read_band(sample_archive, item, "B08_10m").sample(
        xs[row, col], ys[row, col], "EPSG:32631"
    )
    red = read_band(sample_archive, item, "B04_10m").sample(
        xs[row, col], ys[row, col], "EPSG:32631"
    )
    assert value == pytest.approx(float((nir - red) / (nir + red)), abs=1e-4)
    if info_format == "application/json":
        feature = json.loads(response.text)["features"][0]
        got, scene, date = (
            feature["properties"]["values"]["NDVI"],
            feature["properties"]["scene"],
            feature["properties"]["date"],
        )
        assert feature["geometry"]["coordinates"] == pytest.approx([xs[row, col], ys[row, col]])
    elif info_format == "text/xml":
        document = etree.fromstring(response.content)
        got = float(document.findtext(".//Value"))
        scene, date = document.find(".//Scene").get("id"), document.find(".//Scene").get("date")
    else:
        lines = dict(line.split(" = ", 1) for line in response.text.strip().splitlines())
        got, scene, date = float(lines["NDVI"]), lines["scene"], lines["date"]
    assert float(got) == pytest.approx(value, abs=1e-5)
    assert scene == item["id"] and date.startswith(CLEAR_DAY)


def test_getfeatureinfo_111_uses_x_y(live):
    params = {
        **_getmap("1.1.1", SRS="EPSG:4326", BBOX="5.96,52.58,6.16,52.66"),
        "REQUEST": "GetFeatureInfo", "QUERY_LAYERS": "NDVI", "WIDTH": "100", "HEIGHT": "100",
        "X": "50", "Y": "50", "INFO_FORMAT": "application/json",
    }  # fmt: skip
    feature = _get(live, **params).json()["features"][0]
    assert feature["properties"]["date"].startswith(CLEAR_DAY)
    assert feature["geometry"]["coordinates"] == pytest.approx([6.061, 52.6196], abs=1e-3)


def test_getlegendgraphic_shows_the_ramp_with_labels(live):
    response = _get(
        live,
        SERVICE="WMS",
        VERSION="1.3.0",
        REQUEST="GetLegendGraphic",
        LAYER="NDVI",
        FORMAT="image/png",
    )
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    legend = _rgba(response.content)[..., :3].reshape(-1, 3)
    style = live.runtime.config.style("ndvi")
    for stop in (style.stops[0], style.stops[-1]):
        colour = np.array(stop.rgba[:3])
        # MapProxy writes the legend as an 8-bit palette PNG: colours move a little.
        assert (np.abs(legend.astype(int) - colour).max(axis=1) <= 8).any(), stop
    text_pixels = (legend.sum(axis=1) < 60).sum()  # black label text
    assert text_pixels > 100
    bad = _get(live, SERVICE="WMS", VERSION="1.3.0", REQUEST="GetLegendGraphic", LAYER="NOPE")
    assert b'code="LayerNotDefined"' in bad.content


# GDAL's WMS driver ---------------------------------------------------------------------


def test_gdal_wms_driver_reads_the_map(live, tmp_path):
    description = textwrap.dedent(
        f"""\
        <GDAL_WMS>
          <Service name="WMS">
            <Version>1.1.1</Version>
            <ServerUrl>{live.url}/wms?TIME={CLEAR_DAY}</ServerUrl>
            <SRS>EPSG:32631</SRS>
            <ImageFormat>image/png</ImageFormat>
            <Layers>NDVI</Layers>
            <Transparent>TRUE</Transparent>
          </Service>
          <DataWindow>
            <UpperLeftX>{UTM31[0]}</UpperLeftX><UpperLeftY>{UTM31[3]}</UpperLeftY>
            <LowerRightX>{UTM31[2]}</LowerRightX><LowerRightY>{UTM31[1]}</LowerRightY>
            <SizeX>256</SizeX><SizeY>256</SizeY>
          </DataWindow>
          <BlockSizeX>256</BlockSizeX><BlockSizeY>256</BlockSizeY>
          <BandsCount>4</BandsCount>
          <Cache/>
        </GDAL_WMS>"""
    )
    path = tmp_path / "ndvi.xml"
    path.write_text(description)
    cache = str(tmp_path / "gdalcache")
    with rasterio.Env(GDAL_DEFAULT_WMS_CACHE_PATH=cache), rasterio.open(path) as src:
        assert src.crs.to_epsg() == 32631
        assert src.bounds == pytest.approx(UTM31)
        pixels = np.moveaxis(src.read(), 0, -1)
    expected = _engine_picture(
        live.runtime, layer="NDVI", bbox=UTM31, crs="EPSG:32631", width=256, height=256,
        time=CLEAR_DAY,
    )  # fmt: skip
    assert (pixels == expected).all()


def test_ows_endpoint_dispatches_to_wms(live):
    query = urlencode({"SERVICE": "WMS", "REQUEST": "GetCapabilities", "VERSION": "1.3.0"})
    response = httpx.get(f"{live.url}/ows?{query}", timeout=60, follow_redirects=True)
    assert response.status_code == 200 and b"<WMS_Capabilities" in response.content


def test_zoomed_out_ndvi_is_the_mosaic_and_preview_0_says_zoom_in(live):
    # T31UFU's 12 km window at 120 m a pixel: NDVI draws from its overview source, the
    # quarterly mosaic, so its picture is MOSAIC_NDVI's (same expression and style).
    window = "697780,5828020,709780,5840020"
    params = _getmap("1.3.0", CRS="EPSG:32631", BBOX=window, WIDTH="100", HEIGHT="100")
    ndvi_map = _get(live, **params)
    mosaic_map = _get(live, **{**params, "LAYERS": "MOSAIC_NDVI"})
    assert ndvi_map.status_code == mosaic_map.status_code == 200
    picture = _rgba(ndvi_map.content)
    assert (picture == _rgba(mosaic_map.content)).all()
    assert picture[..., 3].mean() > 200  # drawn, not empty
    # Zoomed in (30 m a pixel) it is the day's scene again.
    fine = {**params, "WIDTH": "400", "HEIGHT": "400"}
    assert not (_rgba(_get(live, **fine).content)[::4, ::4] == picture).all()
    # PREVIEW=0 reads up to 200 m a pixel: 300 m is "zoom in", before any read.
    coarse = {**params, "WIDTH": "40", "HEIGHT": "40", "PREVIEW": "0"}
    answer = _get(live, **coarse)
    assert answer.status_code == 400 and b'locator="preview"' in answer.content
    assert b"zoom in" in answer.content
