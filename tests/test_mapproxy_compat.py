"""gateway/ows/mapproxy/_compat.py against the MapProxy it was written for.

Each test states the MapProxy behaviour a patch answers and fails when MapProxy changes it:
then the patch can go, or must follow. MapProxy runs bare here (its WSGI app built from the
door's generated configuration, without the door in front) unless a test applies a patch.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode
from wsgiref.util import setup_testing_defaults

import pytest
from lxml import etree
from mapproxy.request.base import RequestParams
from mapproxy.request.wms import WMS130MapRequest
from mapproxy.request.wmts import URLTemplateConverter, WMTS100RestTileRequest

from gateway import registry
from gateway.context import current
from gateway.ows.mapproxy import _compat
from gateway.ows.mapproxy.app import build_mapproxy
from gateway.ows.mapproxy.config import mapproxy_config

WMS = "http://www.opengis.net/wms"
WMTS = "http://www.opengis.net/wmts/1.0"
OWS = "http://www.opengis.net/ows/1.1"


@pytest.fixture(scope="module")
def bare(runtime, tmp_path_factory) -> Iterator[tuple[Any, Any]]:
    """MapProxy's WSGI app and configuration from the door's generated configuration."""
    key = registry.register(runtime)
    base_dir = str(tmp_path_factory.mktemp("mapproxy"))
    yield build_mapproxy(mapproxy_config(runtime, key, base_dir=base_dir), base_dir)
    registry.unregister(key)


def _call(app: Any, path: str, **params: str) -> tuple[str, bytes]:
    """One WSGI request; (status line, body)."""
    environ: dict[str, Any] = {"PATH_INFO": path, "QUERY_STRING": urlencode(params)}
    setup_testing_defaults(environ)
    environ["wsgi.input"] = io.BytesIO()
    answer: dict[str, str] = {}

    def start_response(status: str, headers: list, exc_info: Any = None) -> None:
        answer["status"] = status

    body = b"".join(app(environ, start_response))
    return answer["status"], body


def _capabilities(app: Any, version: str) -> bytes:
    status, body = _call(app, "/service", SERVICE="WMS", REQUEST="GetCapabilities", VERSION=version)
    assert status.startswith("200"), body[:300]
    return body


def _unexpected_failure(error: Exception, params: dict[str, str]) -> Any:
    raise AssertionError(f"no failure expected: {error}")


def test_mapproxy_refuses_every_style_but_the_default():
    """Why the door hands STYLES on under ``STYLES_KEY``."""
    request = WMS130MapRequest(param=RequestParams({"styles": "ndvi"}))
    with pytest.raises(Exception, match="unsupported styles"):
        request.validate_styles()
    WMS130MapRequest(param=RequestParams({"styles": "", _compat.STYLES_KEY: "x"})).validate_styles()


def test_sources_read_the_request_context_inside_mapproxy(bare):
    """``with_request_context``: a source called by MapProxy sees the request's parameters,
    STYLES restored from ``STYLES_KEY``; nothing is left behind after the call."""
    app, proxy = bare
    seen: list[dict[str, str]] = []
    source = proxy.sources["NDVI_source"].source()
    original = type(source).get_map

    def recording(self: Any, query: Any) -> Any:
        seen.append(dict(current().params))
        return original(self, query)

    type(source).get_map = recording
    try:
        status, _ = _call(
            _compat.with_request_context(app, _unexpected_failure), "/service", SERVICE="WMS",
            REQUEST="GetMap",
            VERSION="1.3.0", LAYERS="NDVI", STYLES="", CRS="EPSG:3857", FORMAT="image/png",
            BBOX="662350,6905684,684614,6920353", WIDTH="64", HEIGHT="40", MAXCC="37",
            **{_compat.STYLES_KEY: "ndvi"},
        )  # fmt: skip
    finally:
        type(source).get_map = original
    assert status.startswith("200")
    assert seen and seen[0]["MAXCC"] == "37" and seen[0]["STYLES"] == "ndvi"
    assert _compat.STYLES_KEY not in seen[0]
    assert dict(current().params) == {}


def test_kvp_wmts_capabilities_fail_upstream_on_a_layer_with_a_dimension(runtime, tmp_path, caplog):
    """MapProxy's KVP WMTS capabilities raise NameError (``dimension_keys``) for a layer with
    a TIME dimension and name ``/service``; ``fix_kvp_capabilities`` gives them a working
    document whose operations point at ``/wmts``."""
    key = registry.register(runtime)
    try:
        app, _ = build_mapproxy(
            mapproxy_config(runtime, key, base_dir=str(tmp_path)), str(tmp_path)
        )
        ask = {"SERVICE": "WMTS", "REQUEST": "GetCapabilities"}
        failed, _ = _call(app, "/service", **ask)
        assert failed.startswith("500") and "dimension_keys" in caplog.text
        _compat.fix_kvp_capabilities(app)
        status, body = _call(app, "/service", **ask)
    finally:
        registry.unregister(key)
    assert status.startswith("200")
    document = etree.fromstring(body)
    dimensions = document.findall(f".//{{{WMTS}}}Layer/{{{WMTS}}}Dimension")
    assert dimensions and all(d.findtext(f"{{{OWS}}}Identifier") == "Time" for d in dimensions)
    urls = document.xpath("//ows:Get/@xlink:href", namespaces={
        "ows": OWS, "xlink": "http://www.w3.org/1999/xlink"})  # fmt: skip
    assert urls and all(url.split("?")[0].endswith("/wmts") for url in urls)


def test_wms130_dimensions_say_nearest_value_0_upstream(bare):
    app, _ = bare
    document = _capabilities(app, "1.3.0")
    upstream = etree.fromstring(document).findall(f".//{{{WMS}}}Dimension[@name='time']")
    assert upstream and {d.get("nearestValue") for d in upstream} == {"0"}

    fixed = etree.fromstring(_compat.nearest_time_values(document))
    dimensions = fixed.findall(f".//{{{WMS}}}Dimension[@name='time']")
    assert {d.get("nearestValue") for d in dimensions} == {"1"}
    assert [d.text for d in dimensions] == [d.text for d in upstream]
    assert [d.get("default") for d in dimensions] == [d.get("default") for d in upstream]


def test_wms111_capabilities_carry_the_130_dimension_form_upstream(bare):
    """MapProxy writes ``<Dimension default nearestValue>values</Dimension>`` into WMS 1.1.1;
    ``wms111_dimensions`` writes 1.1.1's ``<Dimension name units/>`` + ``<Extent>``."""
    app, _ = bare
    document = _capabilities(app, "1.1.1")
    upstream = etree.fromstring(document).findall(".//Layer/Dimension")
    assert upstream and all(d.get("default") and d.text for d in upstream)
    assert not etree.fromstring(document).findall(".//Extent")

    fixed = _compat.wms111_dimensions(document)
    assert b"<!DOCTYPE WMT_MS_Capabilities" in fixed and b"VendorSpecificCapabilities" in fixed
    root = etree.fromstring(fixed)
    for before, dimension in zip(upstream, root.findall(".//Layer/Dimension"), strict=True):
        assert dict(dimension.attrib) == {"name": "time", "units": before.get("units", "")}
        assert not dimension.text
        extent = dimension.getnext()
        assert extent.tag == "Extent" and extent.text == before.text
        assert dict(extent.attrib) == {
            "name": "time", "default": before.get("default"), "nearestValue": "1"}  # fmt: skip


def test_wms111_extents_follow_the_last_dimension_of_a_layer():
    """The 1.1.1 DTD orders a layer's ``Dimension*`` before its ``Extent*``."""
    document = (
        b'<?xml version="1.0"?>\n<WMT_MS_Capabilities version="1.1.1"><Capability><Layer>'
        b"<Name>A</Name>"
        b'<Dimension name="time" default="2025-06-03" nearestValue="0" units="ISO8601" >'
        b"2025-06-01,2025-06-03</Dimension>"
        b'<Dimension name="elevation" default="0" nearestValue="0" >0,10</Dimension>'
        b"<Style/></Layer></Capability></WMT_MS_Capabilities>"
    )
    layer = etree.fromstring(_compat.wms111_dimensions(document)).find(".//Layer")
    shape = [(child.tag, child.get("name"), child.get("nearestValue")) for child in layer]
    assert shape == [
        ("Name", None, None),
        ("Dimension", "time", None),
        ("Dimension", "elevation", None),
        ("Extent", "time", "1"),
        ("Extent", "elevation", "0"),
        ("Style", None, None),
    ]
    assert layer[2].get("units") == ""  # required by the DTD
    unchanged = b'<?xml version="1.0"?>\n<WMT_MS_Capabilities version="1.1.1"/>'
    assert _compat.wms111_dimensions(unchanged) == unchanged


def test_capabilities_read_the_dimension_objects_time_dimensions_finds(runtime, tmp_path):
    """``time_dimensions`` finds the Dimension lists MapProxy's WMS and WMTS capabilities
    read at each request, so ``dates.CapabilityDates`` edits them in place."""
    key = registry.register(runtime)
    try:
        app, proxy = build_mapproxy(
            mapproxy_config(runtime, key, base_dir=str(tmp_path)), str(tmp_path)
        )
        found = _compat.time_dimensions(proxy)
        assert {name for name, _ in found} >= {"NDVI", "TRUE_COLOR"}
        for _, dimension in found:
            dimension[:] = ["2030-01-01", "2030-01-02"]
            dimension.default = "2030-01-02"
        wms = etree.fromstring(_capabilities(app, "1.3.0"))
        _, wmts = _call(app, "/wmts/1.0.0/WMTSCapabilities.xml")
    finally:
        registry.unregister(key)
    times = wms.findall(f".//{{{WMS}}}Dimension[@name='time']")
    assert times and {(d.text, d.get("default")) for d in times} == {
        ("2030-01-01,2030-01-02", "2030-01-02")}  # fmt: skip
    values = etree.fromstring(wmts).findall(f".//{{{WMTS}}}Dimension/{{{WMTS}}}Value")
    assert values and {v.text for v in values} == {"2030-01-01", "2030-01-02"}


def test_rest_wmts_requests_share_one_dimensions_dict():
    """MapProxy's REST tile requests write their TIME into a class attribute shared by all
    requests; that is why the door answers REST GetTile and GetFeatureInfo itself."""
    converter = URLTemplateConverter(
        "/{Layer}/{TileMatrixSet}/{Time}/{TileMatrix}/{TileCol}/{TileRow}.png"
    )
    http = SimpleNamespace(base_url="http://127.0.0.1/wmts")

    def request(time: str) -> WMTS100RestTileRequest:
        variables = {"Layer": "NDVI", "TileMatrixSet": "WebMercatorQuad", "TileMatrix": "3",
                     "TileCol": "4", "TileRow": "2", "time": time}  # fmt: skip
        made = WMTS100RestTileRequest(http, variables, url_converter=converter)
        made.make_request()
        return made

    first, second = request("2025-06-01"), request("2025-06-03")
    assert first.dimensions is second.dimensions
    assert first.dimensions["time"] == "2025-06-03"
