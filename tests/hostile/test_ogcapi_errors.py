"""OGC API client errors: problem details with the right status, one INFO line in the log.

Each case once answered with a 500 or logged tracebacks (issues #11 item 2 and #13). The
gateway runs as ``cdse-gateway serve`` does (its INFO logging on), on a free port.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from tests.hostile.test_ows_fuzz import EVALSCRIPT_VALUES
from tests.support.configs import hostile_config_file
from tests.support.gateway_server import GatewayServer, deployed
from tests.support.ogcapi_checks import L2A, rgba

MAP = "/collections/NDVI/map"
BOX = "5.94,52.58,5.99,52.62"
FAR = "1e20,1e20,2e20,2e20"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
POST = {"method": "POST"}


@pytest.fixture(scope="module")
def gateway(sample_archive, tmp_path_factory) -> Iterator[GatewayServer]:
    folder = tmp_path_factory.mktemp("ogcapi-hostile")
    with deployed(sample_archive, folder, hostile_config_file(folder)) as server:
        yield server


@pytest.fixture(scope="module")
def http(gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{gateway.url}/ogcapi", timeout=60) as client:
        yield client


def _logged_lines(text: str) -> list[str]:
    """The log lines of a request other than uvicorn's access line."""
    return [line for line in text.splitlines() if line.strip() and "HTTP/1.1" not in line]


@pytest.mark.parametrize(
    ("path", "params", "request_args", "status"),
    [
        (MAP, {"crs": "[EPSG:999999]"}, {}, 400),
        (MAP, {"bbox-crs": "foo:bar"}, {}, 400),
        (MAP, {"crs": "[EPSG:999999]", "bbox": BOX}, {}, 400),
        (MAP, {"bbox-crs": "foo:bar", "bbox": BOX}, {}, 400),
        (MAP, {"bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/999999", "bbox": BOX}, {}, 400),
        (MAP, {"crs": "EPSG:5703", "bbox": BOX}, {}, 400),  # a vertical CRS
        ("/collections/NDVI/coverage", {"bbox-crs": "foo:bar", "bbox": BOX}, {}, 400),
        # coordinates GDAL's transform_bounds never returns on: a worker thread lost for good
        (MAP, {"f": "png", "bbox": FAR, "crs": "[EPSG:3857]", "bbox-crs": "[EPSG:3857]"}, {}, 400),
        ("/collections/NDVI/coverage", {"bbox": FAR, "bbox-crs": "[EPSG:3857]"}, {}, 400),
        (f"/collections/{L2A}/items", {}, POST, 415),  # no Content-Type
        (f"/collections/{L2A}/items", {}, {**POST, "content": b"{}"}, 415),
        ("/collections/NDVI/items", {}, {}, 404),  # a collection without features
        ("/collections/NDVI/items", {"limit": "10"}, {}, 404),
        ("/collections/NDVI/items/some-id", {}, {}, 404),
        ("/collections/MOSAIC_NDVI/items", {}, {"method": "OPTIONS"}, 404),
        ("/collections/TRUE_COLOR/items", {}, {**POST, "json": {"op": "="}}, 404),
    ],
)
def test_client_errors_are_problem_details_logged_in_one_line(
    gateway, http, path, params, request_args, status
):
    start = gateway.log_offset()
    answer = http.request(
        request_args.get("method", "GET"),
        path,
        params={"f": "json", **params},
        timeout=30,
        **{k: v for k, v in request_args.items() if k != "method"},
    )
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    problem = answer.json()
    assert problem["code"] and problem["description"]
    logged = _logged_lines(gateway.log_since(start))
    assert len(logged) == 1, logged
    assert logged[0].startswith("INFO ") and problem["description"] in logged[0]


def test_a_map_error_is_json_even_when_a_picture_was_asked_for(http):
    answer = http.get(MAP, params={"f": "png", "crs": "[EPSG:999999]"})
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/json"
    assert "999999" in answer.json()["description"]


@pytest.mark.parametrize(
    "params",
    [
        {"crs": CRS84},  # pygeoapi lower-cased it, then could not resolve it: a 500
        {"bbox-crs": CRS84},
        {"crs": "[OGC:CRS84]", "bbox-crs": "4326"},  # bbox-crs as pygeoapi documents it
    ],
)
def test_every_spelling_of_crs84_draws_the_same_map(gateway, http, params):
    common = {"f": "png", "bbox": BOX, "width": 96, "height": 80, "datetime": "2025-06-13"}
    start = gateway.log_offset()
    answer = http.get(MAP, params={**common, **params})
    assert answer.status_code == 200, answer.text
    default = http.get(MAP, params=common)  # checked against numpy in tests/test_ogcapi.py
    assert default.status_code == 200
    picture = rgba(answer.content)
    assert picture.shape == (80, 96, 4) and picture[..., 3].mean() > 200  # the area has data
    assert np.array_equal(picture, rgba(default.content))
    assert not _logged_lines(gateway.log_since(start))


def test_a_cql2_json_post_still_filters(http):
    answer = http.post(
        f"/collections/{L2A}/items",
        params={"f": "json", "limit": 100},
        json={"op": "=", "args": [{"property": "grid:code"}, "MGRS-31UFU"]},
        headers={"Content-Type": "application/query-cql-json"},
    )
    assert answer.status_code == 200, answer.text
    features = answer.json()["features"]
    assert len(features) == 4
    assert {f["properties"]["grid:code"] for f in features} == {"MGRS-31UFU"}


SCRIPTED = [
    MAP,
    "/collections/NDVI/coverage",
    "/collections/NDVI/tiles/WebMercatorQuad/12/1341/2116",
]


@pytest.mark.parametrize("path", SCRIPTED)
@pytest.mark.parametrize("script", ["", "x" * 5000, "<x>hostile</x>", *EVALSCRIPT_VALUES])
def test_hostile_evalscripts_are_problem_details(gateway, http, path, script):
    """The ``evalscript`` query parameter of maps, coverages and tiles: a 4xx problem (or a
    picture), never a 5xx or a traceback."""
    start = gateway.log_offset()
    params = {"f": "json" if "coverage" in path else "png", "bbox": "5.95,52.60,5.952,52.602",
              "width": "16", "height": "16", "evalscript": script}  # fmt: skip
    answer = http.get(path, params=params, timeout=60)
    assert answer.status_code < 500, answer.text[:500]
    if answer.status_code >= 400:
        assert answer.headers["content-type"] == "application/json"
        assert "<x>" not in answer.text
    assert "Traceback" not in gateway.log_since(start)
