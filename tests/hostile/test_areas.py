"""Areas: non-finite boxes and boxes far outside their CRS's area of use are refused, by every
door, with its own exception and before any transformation; one such request never holds up
the others (GDAL's ``transform_bounds`` of ``±1e16`` m kept the GIL for seconds, of
``±1e308`` for minutes)."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from lxml import etree
from rasterio.crs import CRS

from gateway.core.grid import Grid
from gateway.errors import InvalidParameterValue
from tests.hostile.conftest import LoggedServer, running_gateway

WORLD_3857 = (-20037508.34, -20037508.34, 20037508.34, 20037508.34)
HUGE = "-1e16,-1e16,1e16,1e16"
URN = "urn:ogc:def:crs:EPSG::"
UTM31 = "700000,5832000,703000,5835000"


@pytest.mark.parametrize(
    ("code", "bounds"),
    [
        (3857, WORLD_3857),  # QGIS's whole world
        (3857, (-40075016.7, -20037508.34, 40075016.7, 20037508.34)),  # a wide canvas
        (4326, (-180.0, -90.0, 180.0, 90.0)),
        (4326, (-180.0, -180.0, 180.0, 180.0)),  # the world on a square canvas
        (4326, (170.0, 50.0, 200.0, 60.0)),  # across the antimeridian
        (32631, (700000.0, 5832000.0, 1400000.0, 5900000.0)),  # into UTM zone 32
        (32760, (166021.0, 1116915.0, 833978.0, 10000000.0)),
        (3035, (2500000.0, 1300000.0, 7500000.0, 5500000.0)),
    ],
)
def test_areas_clients_ask_for_pass(code, bounds):
    from gateway.core.crs import check_area

    check_area(CRS.from_epsg(code), bounds)
    Grid(CRS.from_epsg(code), bounds, 256, 256)


@pytest.mark.parametrize(
    ("code", "bounds"),
    [
        (3857, (-1e16, -1e16, 1e16, 1e16)),
        (3857, (-1e308, -1e308, 1e308, 1e308)),
        (3857, (0.0, 0.0, 1e9, 1.0)),
        (4326, (-1000.0, -1000.0, 1000.0, 1000.0)),
        (4326, (0.0, 0.0, 1.0, 300.0)),
        (3035, (-1e9, -1e9, 1e9, 1e9)),
        (32631, (0.0, 0.0, 1e8, 1.0)),
        (3857, (float("nan"), 0.0, 1.0, 1.0)),
        (3857, (float("-inf"), 0.0, 1.0, 1.0)),
        (3857, (10.0, 0.0, 1.0, 1.0)),
    ],
)
def test_areas_beyond_the_crs_are_refused(code, bounds):
    with pytest.raises(InvalidParameterValue) as refused:
        Grid.of_client(CRS.from_epsg(code), bounds, 256, 256)
    assert refused.value.locator == "bbox"


def _wms(request: str = "GetMap", version: str = "1.3.0", **extra: str) -> dict:
    params = {
        "SERVICE": "WMS", "VERSION": version, "REQUEST": request, "LAYERS": "NDVI",
        "STYLES": "", "CRS": "EPSG:3857", "BBOX": HUGE, "WIDTH": "64", "HEIGHT": "64",
        "FORMAT": "image/png",
    }  # fmt: skip
    if request == "GetFeatureInfo":
        params.update(QUERY_LAYERS="NDVI", I="32", J="32", INFO_FORMAT="text/plain")
    params.update(extra)
    return params


FES_HUGE = (
    '<fes:Filter xmlns:fes="http://www.opengis.net/fes/2.0" '
    'xmlns:gml="http://www.opengis.net/gml/3.2"><fes:BBOX><gml:Envelope '
    'srsName="urn:ogc:def:crs:EPSG::3857"><gml:lowerCorner>-1e16 -1e16</gml:lowerCorner>'
    "<gml:upperCorner>1e16 1e16</gml:upperCorner></gml:Envelope></fes:BBOX></fes:Filter>"
)
WFS = {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature",
       "TYPENAMES": "cdse:sentinel-2-l2a"}  # fmt: skip
WCS100 = {"SERVICE": "WCS", "VERSION": "1.0.0", "REQUEST": "GetCoverage", "WIDTH": "16",
          "COVERAGE": "sentinel-2-l2a__NDVI", "HEIGHT": "16", "FORMAT": "GeoTIFF"}  # fmt: skip
WCS111 = {"SERVICE": "WCS", "VERSION": "1.1.1", "REQUEST": "GetCoverage",
          "IDENTIFIER": "sentinel-2-l2a__NDVI", "FORMAT": "image/tiff"}  # fmt: skip
WCS201 = {"SERVICE": "WCS", "VERSION": "2.0.1", "REQUEST": "GetCoverage",
          "COVERAGEID": "sentinel-2-l2a__NDVI"}  # fmt: skip

# (name, path, params, HTTP status, exception code, locator)
REFUSED = [
    ("WMS GetMap 3857 1e16", "/wms", _wms(), 400, "InvalidParameterValue", "bbox"),
    ("WMS GetMap 3857 1e308", "/wms", _wms(BBOX="-1e308,-1e308,1e308,1e308"), 400,
     "InvalidParameterValue", "bbox"),
    ("WMS GetMap 4326 1000", "/wms", _wms(CRS="EPSG:4326", BBOX="-1000,-1000,1000,1000"), 400,
     "InvalidParameterValue", "bbox"),
    ("WMS GetMap 3035 1e9", "/wms", _wms(CRS="EPSG:3035", BBOX="-1e9,-1e9,1e9,1e9"), 400,
     "InvalidParameterValue", "bbox"),
    ("WMS GetMap 1.1.1 nan", "/wms", _wms(version="1.1.1", SRS="EPSG:3857", BBOX="nan,0,1,1"),
     400, "InvalidParameterValue", None),  # WMS 1.1.1 exceptions have no locator
    ("WMS GetFeatureInfo 3857 1e16", "/wms", _wms("GetFeatureInfo"), 400,
     "InvalidParameterValue", "bbox"),
    ("WFS BBOX nan", "/wfs", {**WFS, "BBOX": "nan,nan,nan,nan"}, 400,
     "InvalidParameterValue", "bbox"),
    ("WFS BBOX 3857 1e16", "/wfs", {**WFS, "BBOX": HUGE + ",urn:ogc:def:crs:EPSG::3857"}, 400,
     "InvalidParameterValue", "bbox"),
    ("WFS FES Envelope 1e16", "/wfs", {**WFS, "FILTER": FES_HUGE}, 400,
     "InvalidParameterValue", "filter"),
    ("WFS FES Envelope nan", "/wfs", {**WFS, "FILTER": FES_HUGE.replace("-1e16", "nan")}, 400,
     "InvalidParameterValue", "filter"),
    ("WFS FES Envelope inf", "/wfs", {**WFS, "FILTER": FES_HUGE.replace("1e16", "inf")}, 400,
     "InvalidParameterValue", "filter"),
    ("WCS 1.0.0 -inf", "/wcs", {**WCS100, "CRS": "EPSG:4326", "BBOX": "-inf,-inf,inf,inf"},
     400, "InvalidParameterValue", "bbox"),
    ("WCS 1.0.0 3857 1e16", "/wcs", {**WCS100, "CRS": "EPSG:3857", "BBOX": HUGE,
     "RESPONSE_CRS": "EPSG:4326"}, 400, "InvalidParameterValue", "bbox"),
    ("WCS 1.1.1 nan", "/wcs", {**WCS111, "BOUNDINGBOX": "nan,nan,nan,nan," + URN + "4326"},
     400, "InvalidParameterValue", "boundingbox"),
    ("WCS 1.1.1 3857 1e16", "/wcs", {**WCS111, "BOUNDINGBOX": f"{HUGE},{URN}3857",
     "GRIDBASECRS": URN + "4326"}, 400, "InvalidParameterValue", "boundingbox"),
    ("WCS 2.0.1 3857 1e16", "/wcs", {**WCS201, "SUBSET": "E(-1e16,1e16)",
     "SUBSETTINGCRS": "EPSG:3857", "OUTPUTCRS": "EPSG:4326"}, 404, "InvalidSubsetting", "subset"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "path", "params", "status", "code", "locator"), REFUSED, ids=[r[0] for r in REFUSED]
)
def test_every_door_refuses_such_areas_with_its_own_exception(
    gateway, name, path, params, status, code, locator
):
    answer = httpx.get(gateway.url + path, params=params, timeout=60)
    assert answer.status_code == status, answer.text[:500]
    root = etree.fromstring(answer.content)
    found = [
        (e.get("code") or e.get("exceptionCode"), e.get("locator"))
        for e in root.iter("{*}ServiceException", "{*}Exception", "ServiceException")
    ]
    assert found == [(code, locator)]
    assert "Traceback" not in gateway.new_log()


def test_processes_refuse_such_areas(gateway):
    inputs = {"expression": "NDVI", "bbox": [-1e16, -1e16, 1e16, 1e16], "crs": "EPSG:3857",
              "resolution": 1e15, "time": "2025-06-13"}  # fmt: skip
    answer = httpx.post(
        f"{gateway.url}/ogcapi/processes/statistics/execution",
        json={"inputs": inputs},
        timeout=60,
    )
    assert answer.status_code == 400, answer.text[:500]
    assert answer.json()["code"] == "InvalidParameterValue"
    # processes/runner.py logs every failed job with its traceback, client errors too (the
    # processes' own concern): the log is not checked here.
    gateway.new_log()


@pytest.mark.parametrize(
    ("crs", "bbox", "version"),
    [
        ("EPSG:3857", ",".join(map(str, WORLD_3857)), "1.3.0"),
        ("EPSG:4326", "-90,-180,90,180", "1.3.0"),  # 1.3.0: latitude first
        ("EPSG:4326", "-180,-90,180,90", "1.1.1"),
        ("EPSG:32631", "700000,5832000,1400000,5900000", "1.3.0"),
    ],
)
def test_the_whole_world_and_a_utm_neighbourhood_still_draw(gateway, crs, bbox, version):
    key = "CRS" if version == "1.3.0" else "SRS"
    params = {**_wms(version=version, BBOX=bbox, TIME="2025-06-13"), key: crs}
    params.pop("CRS" if key == "SRS" else "SRS", None)
    answer = httpx.get(f"{gateway.url}/wms", params=params, timeout=120)
    assert answer.status_code == 200, answer.text[:500]
    assert answer.headers["content-type"] == "image/png"


# -- one request never holds up the others ---------------------------------------------------


@pytest.fixture(scope="module")
def busy_gateway(sample_archive, tmp_path_factory) -> Iterator[LoggedServer]:
    """A gateway of its own: before the fix an attack here froze it for minutes."""
    with running_gateway(sample_archive, tmp_path_factory.mktemp("busy-gateway")) as server:
        yield server


PROBES = 9
PROBE_EVERY_S = 0.25
PROBE_TIMEOUT_S = 10.0
HEALTH_BUDGET_S = 0.1

STATISTICS = {"expression": "NDVI", "bbox": [-1e16, -1e16, 1e16, 1e16], "crs": "EPSG:3857",
              "resolution": 1e15, "time": "2025-06-13"}  # fmt: skip
ATTACKS = [
    ("WMS GetMap 1e16", "GET", "/wms", {"params": _wms()}),
    ("WMS GetFeatureInfo 1e16", "GET", "/wms", {"params": _wms("GetFeatureInfo")}),
    ("Processes 1e16", "POST", "/ogcapi/processes/statistics/execution",
     {"json": {"inputs": STATISTICS}}),
    ("WMS GetMap 1e308", "GET", "/wms", {"params": _wms(BBOX="-1e308,-1e308,1e308,1e308")}),
    # An exception drawn as a 4096 px picture: drawn and encoded in a worker thread.
    ("WMS INIMAGE exception", "GET", "/wms", {"params": _wms(
        LAYERS="NOPE", BBOX="-1,-1,1,1", WIDTH="4096", HEIGHT="4096", EXCEPTIONS="INIMAGE",
        TRANSPARENT="FALSE", BGCOLOR="0x123456")}),
]  # fmt: skip


def _probe(url: str) -> float:
    """Seconds /healthz took to answer (the timeout when it did not)."""
    start = time.perf_counter()
    try:
        httpx.get(f"{url}/healthz", timeout=PROBE_TIMEOUT_S).raise_for_status()
    except httpx.HTTPError:
        return PROBE_TIMEOUT_S
    return time.perf_counter() - start


def _probes(url: str) -> list[float]:
    """PROBES probes started PROBE_EVERY_S apart, each on its own connection and thread (a
    probe stuck behind a frozen server does not delay the next one)."""
    found: list[float] = []
    threads = []
    for _ in range(PROBES):
        thread = threading.Thread(target=lambda: found.append(_probe(url)))
        thread.start()
        threads.append(thread)
        time.sleep(PROBE_EVERY_S)
    for thread in threads:
        thread.join()
    return found


@pytest.mark.parametrize(
    ("name", "method", "path", "request_args"), ATTACKS, ids=[a[0] for a in ATTACKS]
)
def test_healthz_answers_while_the_attack_is_in_flight(
    busy_gateway, name, method, path, request_args
):
    url = busy_gateway.url
    idle = statistics.median(_probes(url))
    statuses: list[int] = []
    stop = threading.Event()

    def attack() -> None:  # the attack again and again while the probes run
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                try:
                    statuses.append(client.request(method, url + path, **request_args).status_code)
                except httpx.TimeoutException:
                    statuses.append(0)

    attacker = threading.Thread(target=attack)
    attacker.start()
    time.sleep(0.05)
    try:
        busy = _probes(url)
    finally:
        stop.set()
        attacker.join(timeout=60)
    # The budget comes on top of what the (loaded) machine takes when the server is idle.
    assert statistics.median(busy) < HEALTH_BUDGET_S + idle, (busy, idle)
    expected = 200 if "INIMAGE" in name else 400  # the picture comes with a 200
    assert statuses and all(expected <= s < 500 for s in statuses), statuses
    log = busy_gateway.new_log()
    assert path.startswith("/ogcapi/processes") or "Traceback" not in log  # see above
