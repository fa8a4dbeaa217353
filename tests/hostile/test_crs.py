"""One strict CRS parser for every door: names only, never a URL, a file, WKT or a PROJ string.

Every door that takes a CRS is asked with CRS values that GDAL's and PROJ's own parsers would
follow (a URL on a listener of this test, ``/vsicurl/``, ``ESRI::`` + URL, a ``.prj`` path):
the listener must see no connection and the door must answer with its own exception. PROJ must
not fetch grids either, whatever the environment says.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from lxml import etree

from tests.hostile.conftest import Listener

REPO = Path(__file__).resolve().parents[2]
LONLAT = "5.96,52.58,6.16,52.66"
UTM31 = "700000,5832000,703000,5835000"


@pytest.mark.parametrize(
    ("text", "code", "epsg_axis_order"),
    [
        ("EPSG:3857", 3857, False),
        ("epsg:32631", 32631, False),
        ("[EPSG:3035]", 3035, False),
        ("urn:ogc:def:crs:EPSG::4326", 4326, True),
        ("urn:ogc:def:crs:EPSG:6.6:4326", 4326, True),
        ("urn:x-ogc:def:crs:EPSG:3035", 3035, True),  # OpenLayers 2 writes no version field
        ("urn:x-ogc:def:crs:EPSG::3035", 3035, True),
        ("http://www.opengis.net/def/crs/EPSG/0/3857", 3857, True),
        ("https://www.opengis.net/def/crs/EPSG/0/25832", 25832, True),
        ("CRS:84", "CRS84", False),
        ("CRS84", "CRS84", False),
        ("OGC:CRS84", "CRS84", False),
        ("urn:ogc:def:crs:OGC:1.3:CRS84", "CRS84", False),
        ("http://www.opengis.net/def/crs/OGC/1.3/CRS84", "CRS84", False),
    ],
)
def test_the_names_every_door_accepts(text, code, epsg_axis_order):
    from gateway.core.crs import parse_crs_name

    name = parse_crs_name(text)
    assert name.crs.to_epsg() == (4326 if code == "CRS84" else code)
    assert name.code == (None if code == "CRS84" else code)
    assert name.epsg_axis_order is epsg_axis_order


@pytest.mark.parametrize(
    "text",
    [
        'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],'
        'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]]',
        "+proj=longlat +datum=WGS84 +no_defs",
        "+init=epsg:4326",
        "ESRI:102100",
        "ESRI::http://127.0.0.1:9/x",
        "http://127.0.0.1:9/x",
        "/vsicurl/http://127.0.0.1:9/x",
        "/etc/passwd",
        "../../x.prj",
        "EPSG:4978",  # geocentric
        "EPSG:5773",  # vertical
        "EPSG:7415",  # compound
        "EPSG:999999",
        "EPSG:" + "9" * 40,
        "http://www.opengis.net/def/crs/EPSG/0/3857/../../../x",
        "http://evil.example/def/crs/OGC/1.3/CRS84",
        "x" * 10_000,
        "",
    ],
)
def test_everything_else_is_refused_before_gdal_or_proj(text):
    from gateway.core.crs import parse_crs_name
    from gateway.errors import InvalidParameterValue

    with pytest.raises(InvalidParameterValue):
        parse_crs_name(text)


def _hostile_crs(listener: Listener) -> list[str]:
    """CRS values that make GDAL (OSRSetFromUserInput) or PROJ fetch a URL or read a file."""
    return [
        f"{listener.url}/crs",
        f"/vsicurl/{listener.url}/crs",
        f"ESRI::{listener.url}/crs.prj",
        str(REPO / "tests" / "hostile" / "nothing.prj"),
        "+proj=merc +datum=WGS84",
    ]


def _wms(crs: str) -> tuple[str, dict]:
    params = {
        "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "NDVI", "STYLES": "",
        "CRS": crs, "BBOX": UTM31, "WIDTH": "16", "HEIGHT": "16", "FORMAT": "image/png",
    }  # fmt: skip
    return "GET", {"path": "/wms", "params": params}


def _wms111(crs: str) -> tuple[str, dict]:
    _, request = _wms(crs)
    params = dict(request["params"], VERSION="1.1.1", SRS=crs)
    del params["CRS"]
    return "GET", {"path": "/wms", "params": params}


def _wms_info(crs: str) -> tuple[str, dict]:
    _, request = _wms(crs)
    params = dict(request["params"], REQUEST="GetFeatureInfo", QUERY_LAYERS="NDVI", I="1", J="1")
    return "GET", {"path": "/wms", "params": params}


def _wcs(version: str, **params: str) -> tuple[str, dict]:
    return "GET", {"path": "/wcs", "params": {"SERVICE": "WCS", "VERSION": version, **params}}


def _wcs100(key: str) -> Callable[[str], tuple[str, dict]]:
    def build(crs: str) -> tuple[str, dict]:
        params = {
            "REQUEST": "GetCoverage", "COVERAGE": "sentinel-2-l2a__NDVI", "CRS": "EPSG:32631",
            "BBOX": UTM31, "WIDTH": "16", "HEIGHT": "16", "FORMAT": "GeoTIFF", key: crs,
        }  # fmt: skip
        return _wcs("1.0.0", **params)

    return build


def _wcs111(key: str) -> Callable[[str], tuple[str, dict]]:
    def build(crs: str) -> tuple[str, dict]:
        params = {"REQUEST": "GetCoverage", "IDENTIFIER": "sentinel-2-l2a__NDVI",
                  "BOUNDINGBOX": f"{UTM31},urn:ogc:def:crs:EPSG::32631"}  # fmt: skip
        if key == "BOUNDINGBOX":
            params[key] = f"{UTM31},{crs}"
        else:
            params[key] = crs
        return _wcs("1.1.1", **params)

    return build


def _wcs201(key: str) -> Callable[[str], tuple[str, dict]]:
    def build(crs: str) -> tuple[str, dict]:
        return _wcs(
            "2.0.1", REQUEST="GetCoverage", COVERAGEID="sentinel-2-l2a__NDVI",
            SUBSET="Long(6.0,6.01)", **{key: crs},
        )  # fmt: skip

    return build


def _wfs(**params: str) -> tuple[str, dict]:
    base = {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature",
            "TYPENAMES": "cdse:sentinel-2-l2a", "COUNT": "1"}  # fmt: skip
    return "GET", {"path": "/wfs", "params": {**base, **params}}


def _wfs_filter(crs: str) -> tuple[str, dict]:
    envelope = (
        '<fes:Filter xmlns:fes="http://www.opengis.net/fes/2.0" '
        'xmlns:gml="http://www.opengis.net/gml/3.2"><fes:BBOX><gml:Envelope srsName="{}">'
        "<gml:lowerCorner>52.58 5.96</gml:lowerCorner><gml:upperCorner>52.66 6.16"
        "</gml:upperCorner></gml:Envelope></fes:BBOX></fes:Filter>"
    )
    crs_attribute = crs.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return _wfs(FILTER=envelope.format(crs_attribute))


def _ogcapi(path: str, **params: str) -> Callable[[str], tuple[str, dict]]:
    def build(crs: str) -> tuple[str, dict]:
        values = {key: crs if value == "{crs}" else value for key, value in params.items()}
        return "GET", {"path": "/ogcapi" + path, "params": {"f": "json", **values}}

    return build


def _process(crs: str) -> tuple[str, dict]:
    inputs = {"expression": "NDVI", "bbox": [698500, 5829000, 699500, 5830000], "crs": crs,
              "resolution": 100, "time": "2025-06-13"}  # fmt: skip
    return "POST", {
        "path": "/ogcapi/processes/statistics/execution",
        "json": {"inputs": inputs},
    }


# (door, request builder, what a refusal is: the door's exception format)
DOORS: list[tuple[str, Callable[[str], tuple[str, dict]], str]] = [
    ("WMS 1.3.0 CRS", _wms, "ows"),
    ("WMS 1.1.1 SRS", _wms111, "ows"),
    ("WMS GetFeatureInfo CRS", _wms_info, "ows"),
    ("WCS 1.0.0 CRS", _wcs100("CRS"), "ows"),
    ("WCS 1.0.0 RESPONSE_CRS", _wcs100("RESPONSE_CRS"), "ows"),
    ("WCS 1.1.1 BOUNDINGBOX", _wcs111("BOUNDINGBOX"), "ows"),
    ("WCS 1.1.1 GRIDBASECRS", _wcs111("GRIDBASECRS"), "ows"),
    ("WCS 2.0.1 SUBSETTINGCRS", _wcs201("SUBSETTINGCRS"), "ows"),
    ("WCS 2.0.1 OUTPUTCRS", _wcs201("OUTPUTCRS"), "ows"),
    ("WFS SRSNAME", lambda crs: _wfs(SRSNAME=crs), "ows"),
    ("WFS BBOX crs", lambda crs: _wfs(BBOX=f"52.58,5.96,52.66,6.16,{crs}"), "ows"),
    ("WFS FES srsName", _wfs_filter, "ows"),
    ("OGC API items bbox-crs", _ogcapi("/collections/sentinel-2-l2a/items",
                                       bbox=LONLAT, **{"bbox-crs": "{crs}"}), "json"),
    ("OGC API items crs", _ogcapi("/collections/sentinel-2-l2a/items", crs="{crs}"), "json"),
    ("OGC API coverage bbox-crs", _ogcapi("/collections/NDVI/coverage",
                                          bbox=LONLAT, **{"bbox-crs": "{crs}"}), "json"),
    ("OGC API map crs", _ogcapi("/collections/NDVI/map", bbox=LONLAT, crs="{crs}"), "json"),
    ("Processes crs", _process, "json"),
]  # fmt: skip


@pytest.mark.parametrize(("door", "build", "form"), DOORS, ids=[d[0] for d in DOORS])
def test_no_door_lets_a_crs_reach_the_network_or_a_file(gateway, listener, door, build, form):
    for crs in _hostile_crs(listener):
        listener.seen.clear()
        method, request = build(crs)
        path = request.pop("path")
        answer = httpx.request(method, gateway.url + path, timeout=30, **request)
        assert listener.seen == [], (door, crs)
        assert 400 <= answer.status_code < 500, (door, crs, answer.status_code, answer.text[:300])
        if form == "ows":
            root = etree.fromstring(answer.content)
            assert root.tag.endswith("ExceptionReport"), (door, crs)
            # pygeoapi's own items handler logs its refusals with tracebacks (OGC API door's
            # concern): the log is checked for the doors of this package's scope.
            assert "Traceback" not in gateway.new_log(), (door, crs)
        else:
            problem = answer.json()
            assert problem.get("code") or problem.get("type"), (door, crs, problem)
            gateway.new_log()


def test_proj_never_fetches_grids_once_the_runtime_is_built(sample_settings):
    """PROJ_NETWORK=ON in the environment (and a listener as PROJ's CDN): after build_runtime,
    a datum shift that needs a grid from the network, in the main thread and in a new one,
    through pyproj and through GDAL, fetches nothing."""
    listener = Listener()
    script = f"""
import threading
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.warp import transform
from gateway.runtime import build_runtime
from gateway.settings import Settings

build_runtime(Settings(data_dir={str(sample_settings.data_dir)!r}, sample_data=False,
                       redis_url=None, stac_url=None, storage="local"))

def shift():  # NAD27 -> NAD83 over Kansas: PROJ wants a NADCON grid
    transform(CRS.from_epsg(4267), CRS.from_epsg(4269), [-100.0], [40.0])
    Transformer.from_crs(4267, 4269, always_xy=True).transform(-100.0, 40.0)

shift()
worker = threading.Thread(target=shift)
worker.start()
worker.join()
"""
    env = {
        **os.environ,
        "PROJ_NETWORK": "ON",
        "PROJ_NETWORK_ENDPOINT": listener.url,
        "PYTHONPATH": str(REPO),
    }
    env.pop("PROJ_USER_WRITABLE_DIRECTORY", None)
    try:
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, cwd=REPO, capture_output=True, timeout=120
        )
    finally:
        listener.close()
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert listener.seen == []
