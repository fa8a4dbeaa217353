"""Classic doors: inputs that answered 500 (or were silently ignored) get the protocol's own
exception, with the exact code and status; MapProxy's real size cap is the advertised one."""

from __future__ import annotations

import base64

import httpx
import pytest
from lxml import etree

from gateway.config import load_config

UTM31 = "700000,5832000,703000,5835000"
Z5_TILE_3857 = "0,6261721.36,1252344.27,7514065.63"  # over the sample: 2,900 m ground pixels
PACIFIC_3857 = "-16000000,-1000000,-15000000,0"  # no scene there: a quick empty map
WMS_NS = "{http://www.opengis.net/wms}"


def _getmap(**change: str | None) -> dict[str, str]:
    params = {
        "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "NDVI",
        "STYLES": "", "CRS": "EPSG:32631", "BBOX": UTM31, "WIDTH": "32", "HEIGHT": "32",
        "FORMAT": "image/png", "TIME": "2025-06-13",
    }  # fmt: skip
    for key, value in change.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return params


def _b64(script: str) -> str:
    return base64.b64encode(script.encode()).decode()


def _exceptions(content: bytes) -> list[tuple[str | None, str | None]]:
    root = etree.fromstring(content)
    return [
        (e.get("code") or e.get("exceptionCode"), e.get("locator"))
        for e in root.iter("{*}ServiceException", "{*}Exception", "ServiceException")
    ]


# (name, path, params, status, [(code, locator)])
CASES = [
    ("WMS BGCOLOR=zzz", "/wms", _getmap(BGCOLOR="zzz"), 400,
     [("InvalidParameterValue", "bgcolor")]),
    ("WMS EVALSCRIPT not base64", "/wms", _getmap(EVALSCRIPT="not base64!"), 400,
     [("InvalidParameterValue", "evalscript")]),
    ("WMS EVALSCRIPT endless loop", "/wms", _getmap(EVALSCRIPT=_b64(
        "//VERSION=3\nfunction setup() { return {input: ['B04'], output: {bands: 1}}; }\n"
        "function evaluatePixel(s) { while (true) {} }")), 400,
     [("InvalidParameterValue", "evalscript")]),
    ("WMS PREVIEW=3", "/wms", _getmap(PREVIEW="3"), 400, [("InvalidParameterValue", "preview")]),
    ("WMS PREVIEW=0 zoomed out: zoom in", "/wms",
     _getmap(CRS="EPSG:3857", BBOX=Z5_TILE_3857, WIDTH="256", HEIGHT="256", PREVIEW="0"), 400,
     [("InvalidParameterValue", "preview")]),
    ("WMTS PREVIEW=1 at z5: zoom in", "/wmts",
     {"SERVICE": "WMTS", "VERSION": "1.0.0", "REQUEST": "GetTile", "LAYER": "NDVI",
      "STYLE": "default", "FORMAT": "image/png", "TILEMATRIXSET": "WebMercatorQuad",
      "TILEMATRIX": "5", "TILECOL": "16", "TILEROW": "10", "TIME": "2025-06-13",
      "PREVIEW": "1"}, 400, [("InvalidParameterValue", "preview")]),
    ("WCS 2.0.1 PREVIEW=yes", "/wcs",
     {"SERVICE": "WCS", "VERSION": "2.0.1", "REQUEST": "GetCoverage",
      "COVERAGEID": "sentinel-2-l2a__NDVI", "SUBSET": "Long(6.0,6.01)", "PREVIEW": "yes"},
     400, [("InvalidParameterValue", "preview")]),
    ("WMS VERSION=abc GetCapabilities", "/wms",
     {"SERVICE": "WMS", "VERSION": "abc", "REQUEST": "GetCapabilities"}, 400,
     [("InvalidParameterValue", "version")]),
    ("WMS EXPRESSION with 2 outputs on a 1-band style", "/wms", _getmap(EXPRESSION="B04;B03"),
     400, [("InvalidParameterValue", "expression")]),
    ("WMS VERSION=9.9.9 GetMap", "/wms", _getmap(VERSION="9.9.9"), 400,
     [("InvalidParameterValue", "version")]),
    ("WMS EXCEPTIONS=bogus", "/wms", _getmap(EXCEPTIONS="bogus"), 400,
     [("InvalidParameterValue", "exceptions")]),
    ("WMS TRANSPARENT=maybe", "/wms", _getmap(TRANSPARENT="maybe"), 400,
     [("InvalidParameterValue", "transparent")]),
    ("WMS GetLegendGraphic STYLE=nope", "/wms",
     {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetLegendGraphic", "LAYER": "NDVI",
      "STYLE": "nope", "FORMAT": "image/png"}, 400, [("StyleNotDefined", "style")]),
    ("WMS 1.3.0 without CRS", "/wms", _getmap(CRS=None), 400,
     [("MissingParameterValue", "crs")]),
    ("WMS RESX far too fine", "/wms", _getmap(WIDTH=None, HEIGHT=None, RESX="1e-320",
                                              RESY="1e-320"), 400,
     [("InvalidParameterValue", "size")]),
    ("WCS 2.0.1 EXPRESSION of 5 outputs", "/wcs",
     {"SERVICE": "WCS", "VERSION": "2.0.1", "REQUEST": "GetCoverage",
      "COVERAGEID": "sentinel-2-l2a__NDVI", "SUBSET": "Long(6.0,6.01)",
      "EXPRESSION": "__import__('os');a;b;c;d"}, 400, [("InvalidParameterValue", "expression")]),
    ("WCS 1.0.0 EXPRESSION of an unknown band", "/wcs",
     {"SERVICE": "WCS", "VERSION": "1.0.0", "REQUEST": "GetCoverage",
      "COVERAGE": "sentinel-2-l2a__NDVI", "CRS": "EPSG:32631", "BBOX": UTM31, "WIDTH": "16",
      "HEIGHT": "16", "FORMAT": "GeoTIFF", "EXPRESSION": "B99"}, 400,
     [("InvalidParameterValue", "expression")]),
    ("WCS 1.1.1 EXPRESSION with an import", "/wcs",
     {"SERVICE": "WCS", "VERSION": "1.1.1", "REQUEST": "GetCoverage",
      "IDENTIFIER": "sentinel-2-l2a__NDVI", "FORMAT": "image/tiff",
      "BOUNDINGBOX": UTM31 + ",urn:ogc:def:crs:EPSG::32631",
      "EXPRESSION": "__import__('os').system('id')"}, 400,
     [("InvalidParameterValue", "expression")]),
    ("WCS 2.0.1 PNG of an expression its style cannot show", "/wcs",
     {"SERVICE": "WCS", "VERSION": "2.0.1", "REQUEST": "GetCoverage", "FORMAT": "image/png",
      "COVERAGEID": "sentinel-2-l2a__NDVI", "SUBSET": "Long(6.0,6.01)", "EXPRESSION": "B04;B03"},
     400, [("InvalidParameterValue", "expression")]),
    ("WCS 2.0.1 SCALEFACTOR too small", "/wcs",
     {"SERVICE": "WCS", "VERSION": "2.0.1", "REQUEST": "GetCoverage",
      "COVERAGEID": "sentinel-2-l2a__NDVI", "SUBSET": "Long(6.0,6.01)", "SCALEFACTOR": "1e-320"},
     404, [("InvalidScaleFactor", "scale")]),
    ("WCS 1.0.0 RESX too small", "/wcs",
     {"SERVICE": "WCS", "VERSION": "1.0.0", "REQUEST": "GetCoverage",
      "COVERAGE": "sentinel-2-l2a__NDVI", "CRS": "EPSG:32631", "BBOX": UTM31, "RESX": "1e-320",
      "RESY": "1e-320", "FORMAT": "GeoTIFF"}, 400, [("InvalidParameterValue", "resx")]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "path", "params", "status", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_the_exact_exception(gateway, name, path, params, status, expected):
    answer = httpx.get(gateway.url + path, params=params, timeout=60)
    assert answer.status_code == status, answer.text[:500]
    assert _exceptions(answer.content) == expected
    assert "Traceback" not in gateway.new_log()


@pytest.mark.parametrize("segment", ["NDVI%2Fx", "%3Cb%3Ehello%3C%2Fb%3E%2F", "..%2F..%2Fetc"])
def test_wmts_rest_paths_with_encoded_slashes_are_client_errors(gateway, segment):
    url = f"{gateway.url}/wmts/1.0.0/{segment}/WebMercatorQuad/2025-06-13/3/4/2.png"
    answer = httpx.get(url, timeout=30)
    assert answer.status_code == 400
    assert _exceptions(answer.content) == [("InvalidParameterValue", "path")]
    assert b"<b>" not in answer.content and b"etc" not in answer.content
    assert "Traceback" not in gateway.new_log()


def test_wms_version_negotiation_answers_a_version_we_speak(gateway):
    for asked, answered in (("1.2.0", "1.1.1"), ("1.0.0", "1.1.1"), ("2.0", "1.3.0")):
        params = {"SERVICE": "WMS", "VERSION": asked, "REQUEST": "GetCapabilities"}
        answer = httpx.get(f"{gateway.url}/wms", params=params, timeout=60)
        assert answer.status_code == 200
        assert etree.fromstring(answer.content).get("version") == answered


def test_wms_size_limits_are_the_advertised_ones_and_mapproxys(gateway):
    limits = load_config(None).limits
    capabilities = httpx.get(
        f"{gateway.url}/wms",
        params={"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetCapabilities"},
        timeout=60,
    )
    service = etree.fromstring(capabilities.content).find(f"{WMS_NS}Service")
    assert int(service.findtext(f"{WMS_NS}MaxWidth")) == limits.max_width
    assert int(service.findtext(f"{WMS_NS}MaxHeight")) == limits.max_height
    # Within the limits but over MapProxy's default cap of 4000 x 4000 pixels: drawn.
    width, height = limits.max_width, limits.max_pixels // limits.max_width - 189
    assert width * height > 4000 * 4000
    params = _getmap(CRS="EPSG:3857", BBOX=PACIFIC_3857, WIDTH=str(width), HEIGHT=str(height))
    answer = httpx.get(f"{gateway.url}/wms", params=params, timeout=300)
    assert answer.status_code == 200, answer.text[:500]
    assert answer.headers["content-type"] == "image/png"
    over = httpx.get(f"{gateway.url}/wms", params={**params, "WIDTH": str(width + 1)}, timeout=60)
    assert over.status_code == 400
    assert _exceptions(over.content) == [("InvalidParameterValue", "size")]
    assert "Traceback" not in gateway.new_log()
