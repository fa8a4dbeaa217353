"""OGC API Processes under hostile input: every bad input is a 400 naming it, the ``crs``
input never makes GDAL read a URL or a file, and no area stalls the server.

The gateway (OGC API door only) runs in a uvicorn thread of this process; asynchronous jobs
go to a Dask scheduler without workers, so an accepted job stays in flight.
"""

from __future__ import annotations

import concurrent.futures
import logging
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.support.ows_live import live_gateway
from tests.support.process_checks import (
    BAND_MATH,
    check_cog,
    execute,
    idle_scheduler,
    utm_reference,
)

OGCAPI = ("gateway.ogcapi.door:build_door",)
PROCESSES = ("band-math", "statistics", "export")
SMALL = {**BAND_MATH, "bbox": [700000.0, 5832000.0, 700200.0, 5832200.0]}  # 20 x 20 px
VALID = {
    "band-math": {**SMALL, "format": "json"},
    "statistics": {**SMALL, "time": "2025-06-01/2025-06-20", "aggregation_interval": "P10D"},
    "export": SMALL,
}


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    with idle_scheduler() as address:
        yield address


@pytest.fixture(scope="module")
def settings(sample_settings, scheduler, tmp_path_factory):
    return sample_settings.model_copy(
        update={
            "dask_scheduler": scheduler,
            "output_dir": tmp_path_factory.mktemp("hostile-outputs"),
        }
    )


@pytest.fixture(scope="module")
def gateway(settings) -> Iterator[str]:
    with live_gateway(settings, doors=OGCAPI) as url:
        yield url


class Listener:
    """A TCP server on 127.0.0.1 that records every connection and closes it at once."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.socket.accept()
            except TimeoutError:
                continue
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.socket.close()


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


# -- inputs of the wrong type or out of range --------------------------------------------------

BAD_INPUTS = [
    ("band-math", {"maxcc": [1]}, "maxcc"),
    ("band-math", {"maxcc": 101}, "maxcc"),
    ("band-math", {"order": 5}, "order"),
    ("band-math", {"order": "newest"}, "order"),
    ("band-math", {"resampling": 5}, "resampling"),
    ("band-math", {"time": 5}, "time"),
    ("band-math", {"resolution": "10"}, "resolution"),
    ("band-math", {"resolution": -10}, "resolution"),
    ("band-math", {"cloud_mask": "yes"}, "cloud_mask"),
    ("band-math", {"orbit_direction": "UP"}, "orbit_direction"),
    ("band-math", {"orbit_direction": ["ASCENDING"]}, "orbit_direction"),
    ("band-math", {"back_coeff": "GAMMA0_TERRAIN"}, "back_coeff"),
    ("statistics", {"noise_removal": "no"}, "noise_removal"),
    ("band-math", {"bbox": [1, 2, 3]}, "bbox"),
    ("band-math", {"bbox": [700000, "5832000", 700200, 5832200]}, "bbox"),
    ("band-math", {"format": "exe"}, "format"),
    ("band-math", {"expression": ["B04"]}, "expression"),
    # the expression's errors name the band: L1C's cirrus band is not in L2A, SCL not in L1C
    ("band-math", {"expression": "B10"}, "Unknown band 'B10'"),
    ("band-math", {"collection": "sentinel-2-l1c", "expression": "SCL"}, "Unknown band 'SCL'"),
    ("band-math", {"collection": "sentinel-2-l1c", "expression": "MSK_CLASSI+B"}, "band 'B'"),
    ("band-math", {"geometry": {"type": "Point", "coordinates": [0, 0]}}, "geometry"),
    ("band-math", {"histogram": {"bins": 3}}, "histogram"),  # not an input of band-math
    ("band-math", {"bogus": 1}, "bogus"),
    ("export", {"format": "png"}, "format"),  # export has no format
    ("statistics", {"histogram": {"low": "nan"}}, "histogram"),
    ("statistics", {"histogram": 5}, "histogram"),
    ("statistics", {"histogram": {"bins": 0}}, "histogram"),
    ("statistics", {"histogram": {"bins": 2.5}}, "histogram"),
    ("statistics", {"histogram": {"low": 1, "high": 0}}, "histogram"),
    ("statistics", {"histogram": {"colour": "red"}}, "histogram"),
    ("statistics", {"aggregation_interval": 5}, "aggregation_interval"),
    ("statistics", {"aggregation_interval": "P0D"}, "aggregation_interval"),
    ("statistics", {"percentiles": [50, 101]}, "percentiles"),
    ("statistics", {"percentiles": []}, "percentiles"),
    ("statistics", {"percentiles": "50"}, "percentiles"),
    ("statistics", {"format": 5}, "format"),
    ("band-math", {"time": "0001-01-01/9999-12-31"}, "time"),
    ("band-math", {"time": "9999-12-31"}, "time"),
    ("statistics", {"time": "0001-01-01/9999-12-31"}, "time"),
    ("statistics", {"time": "9999-12-31"}, "time"),
]


@pytest.mark.parametrize("prefer", ["", "respond-async"])
@pytest.mark.parametrize(("process", "change", "field"), BAD_INPUTS)
def test_bad_inputs_are_a_400_naming_the_input(gateway, process, change, field, prefer):
    answer = execute(gateway, process, {**VALID[process], **change}, prefer)
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["code"] in ("InvalidParameterValue", "MissingParameterValue"), body
    assert field in body["description"], body


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e309", "1" + "0" * 400])
@pytest.mark.parametrize(
    ("process", "template"),
    [
        ("band-math", '{"resolution": %s}'),
        ("band-math", '{"maxcc": %s}'),
        ("band-math", '{"bbox": [700000, 5832000, %s, 5832200]}'),
        ("statistics", '{"histogram": {"low": %s}}'),
        ("statistics", '{"percentiles": [10, %s]}'),
    ],
)
def test_numbers_that_are_not_finite_are_a_400(gateway, process, template, literal):
    """Python's JSON reader takes NaN, Infinity and 1e309 (as inf), and integers of any size."""
    import json

    change = template % literal
    body = json.dumps({"inputs": VALID[process]})[:-2] + ", " + change[1:-1] + "}}"
    answer = httpx.post(
        f"{gateway}/ogcapi/processes/{process}/execution",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert answer.status_code == 400, answer.text
    field = change[2:].partition('"')[0]
    assert field in answer.json()["description"]


def test_a_missing_required_input_is_named(gateway):
    inputs = {k: v for k, v in VALID["band-math"].items() if k != "expression"}
    answer = execute(gateway, "band-math", inputs)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "MissingParameterValue"
    assert "expression" in answer.json()["description"]


def test_null_inputs_count_as_not_given(gateway):
    answer = execute(gateway, "band-math", {**VALID["band-math"], "geometry": None, "style": None})
    assert answer.status_code == 200, answer.text


# -- the crs input ---------------------------------------------------------------------------


def _hostile_crs(port: int, prj: Path) -> list[str]:
    url = f"http://127.0.0.1:{port}/crs.prj"
    return [
        url,
        f"/vsicurl/{url}",
        f"ESRI::{url}",
        f"urn:ogc:def:crs:EPSG::{url}",
        str(prj),
        f"file://{prj}",
        "+proj=utm +zone=31 +datum=WGS84 +units=m +no_defs",
        prj.read_text(),  # WKT
    ]


@pytest.fixture(scope="module")
def prj_file(tmp_path_factory) -> Path:
    """A .prj file holding EPSG:32631's WKT: a CRS read from it would make the request work."""
    from rasterio.crs import CRS

    path = tmp_path_factory.mktemp("prj") / "utm31.prj"
    path.write_text(CRS.from_epsg(32631).to_wkt())
    return path


@pytest.mark.parametrize("prefer", ["", "respond-async"])
@pytest.mark.parametrize("process", PROCESSES)
def test_the_crs_input_never_reaches_the_network_or_files(
    gateway, listener, prj_file, process, prefer
):
    for crs in _hostile_crs(listener.port, prj_file):
        answer = execute(gateway, process, {**VALID[process], "crs": crs}, prefer)
        assert answer.status_code == 400, (crs, answer.text)
        assert "crs" in answer.json()["description"], (crs, answer.text)
    assert listener.connections == 0


@pytest.mark.parametrize(
    "crs",
    [
        "EPSG:32631",
        "urn:ogc:def:crs:EPSG::32631",
        "urn:ogc:def:crs:EPSG:9.8.1:32631",
        "http://www.opengis.net/def/crs/EPSG/0/32631",
        "https://www.opengis.net/def/crs/EPSG/0/32631",
    ],
)
def test_the_documented_crs_forms_compute_the_same_pixels(sample_archive, gateway, crs, tmp_path):
    answer = execute(gateway, "band-math", {**BAND_MATH, "crs": crs, "format": "cog"})
    assert answer.status_code == 200, answer.text
    check_cog(answer.content, utm_reference(sample_archive), tmp_path / "crs.tif")


@pytest.mark.parametrize("crs", ["CRS:84", "OGC:CRS84", "urn:ogc:def:crs:OGC:1.3:CRS84"])
def test_lon_lat_areas_in_the_crs84_forms(gateway, crs):
    inputs = {**VALID["band-math"], "bbox": [5.93, 52.57, 5.94, 52.58], "crs": crs}
    answer = execute(gateway, "band-math", inputs)
    assert answer.status_code == 200, answer.text
    assert answer.json()["crs"] == "EPSG:32631"


# -- areas -----------------------------------------------------------------------------------

HUGE = [-1e15, -1e15, 1e15, 1e15]
HUGE_AREAS = [
    {"bbox": HUGE, "crs": "EPSG:3857", "resolution": 1e12},
    {"bbox": HUGE, "crs": "EPSG:3857", "resolution": 1e5},
    {"bbox": [-1e300, -1e300, 1e300, 1e300], "crs": "EPSG:3857", "resolution": 1e5},
    {"bbox": [-2e7, -2e7, 2e7, 2e7], "crs": "EPSG:3857", "resolution": 1e-300},
    {
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[-1e15, -1e15], [1e15, -1e15], [1e15, 1e15], [-1e15, -1e15]]],
        },
        "crs": "EPSG:3857",
        "resolution": 1e12,
    },
    {"bbox": [-180, -90, 180, 90], "crs": "CRS:84", "resolution": 1e5},
    {"bbox": [-200, -10, 10, 10], "crs": "CRS:84"},
]


def _probe_health(url: str, count: int = 5) -> float:
    """The median time /healthz takes to answer, over ``count`` probes."""
    times = []
    for _ in range(count):
        started = time.monotonic()
        httpx.get(f"{url}/healthz", timeout=60)
        times.append(time.monotonic() - started)
        time.sleep(0.05)
    return statistics.median(times)


@pytest.mark.parametrize("area", HUGE_AREAS)
@pytest.mark.parametrize("process", PROCESSES)
def test_huge_areas_are_refused_without_stalling_the_server(gateway, process, area):
    inputs = {k: v for k, v in VALID[process].items() if k not in ("bbox", "crs")}
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        attack = pool.submit(execute, gateway, process, {**inputs, **area})
        healthz = _probe_health(gateway)
        answer = attack.result()
        took = time.monotonic() - started
    assert answer.status_code == 400, answer.text
    assert healthz < 0.5 and took < 10, (healthz, took)


# -- jobs ------------------------------------------------------------------------------------


# Callers identified by access control (gateway.access): an API key each, sent as X-API-Key.
USERS: dict[str, str] = {}


def _as(user: str | None) -> dict[str, str]:
    return {"X-API-Key": USERS[user]} if user else {}


@pytest.fixture(scope="module")
def users(settings, tmp_path_factory) -> Iterator:
    """The gateway with access control on: alice, bob and carol have keys; callers without
    one may use everything (and own nothing)."""
    from starlette.testclient import TestClient

    from gateway.access.grants import Grant
    from gateway.access.keys import FileKeyStore, create
    from gateway.app import create_app

    folder = tmp_path_factory.mktemp("hostile-access")
    store = FileKeyStore(folder / "keys.json")
    USERS.update({name: create(store, name, Grant())[0] for name in ("alice", "bob", "carol")})
    (folder / "access.yaml").write_text("anonymous: {}\n")
    access = {"access": "on", "access_file": folder / "access.yaml", "access_key_file": store.path}
    app = create_app(settings.model_copy(update=access), doors=OGCAPI)
    with TestClient(app, base_url="http://testserver/ogcapi") as client:
        yield client


def _run(client, process: str, inputs: dict, user: str | None = None, prefer: str = ""):
    headers = {**_as(user), **({"Prefer": prefer} if prefer else {})}
    return client.post(f"/processes/{process}/execution", json={"inputs": inputs}, headers=headers)


def _jobs(client, user: str | None = None) -> list[str]:
    answer = client.get("/jobs", params={"f": "json"}, headers=_as(user))
    assert answer.status_code == 200, answer.text
    return [job["jobID"] for job in answer.json()["jobs"]]


def _job_id(answer) -> str:
    return answer.headers["location"].rpartition("/")[2]


def test_job_ids_are_random_uuids(users):
    import uuid

    ids = [_job_id(_run(users, "band-math", VALID["band-math"])) for _ in range(3)]
    versions = {uuid.UUID(job_id).version for job_id in ids}
    assert versions == {4} and len(set(ids)) == 3


def test_jobs_belong_to_whoever_made_them(users):
    made = _run(users, "band-math", VALID["band-math"], user="alice")
    assert made.status_code == 200, made.text
    job_id = _job_id(made)
    assert job_id in _jobs(users, "alice")
    assert job_id not in _jobs(users, "bob")
    assert _jobs(users) == []  # no listing without an owner
    for user in ("bob", None):
        headers = _as(user)
        assert users.get(f"/jobs/{job_id}", headers=headers).status_code == 404
        assert users.get(f"/jobs/{job_id}/results", headers=headers).status_code == 404
        assert users.delete(f"/jobs/{job_id}", headers=headers).status_code == 404
    mine = _as("alice")
    assert users.get(f"/jobs/{job_id}/results", params={"f": "json"}, headers=mine).json() == (
        made.json()
    )
    assert users.delete(f"/jobs/{job_id}", headers=mine).status_code == 200
    assert users.get(f"/jobs/{job_id}", headers=mine).status_code == 404


def test_a_job_without_owner_is_reached_through_its_id_only(users):
    made = _run(users, "band-math", VALID["band-math"])
    job_id = _job_id(made)
    assert job_id not in _jobs(users) and job_id not in _jobs(users, "alice")
    assert users.get(f"/jobs/{job_id}", params={"f": "json"}).json()["status"] == "successful"


@pytest.mark.parametrize("prefer", ["", "respond-async"])
def test_rejected_requests_leave_no_job_behind(users, prefer):
    before = _jobs(users, "carol")
    for process, change, _ in BAD_INPUTS[:20]:
        answer = _run(users, process, {**VALID[process], **change}, "carol", prefer)
        assert answer.status_code == 400
    for body in (b"null", b"[1]", b"{", b""):
        answer = users.post("/processes/band-math/execution", content=body, headers=_as("carol"))
        assert answer.status_code == 400
    assert _jobs(users, "carol") == before


def _gateway_records(caplog) -> list:
    ours = ("gateway", "pygeoapi", "uvicorn", "starlette")
    return [r for r in caplog.records if r.name.split(".")[0] in ours]


EXECUTE = "/processes/band-math/execution"
CLIENT_ERRORS = [
    ("POST", EXECUTE, {"inputs": {"maxcc": "x"}}),
    ("POST", EXECUTE, {"inputs": {**VALID["band-math"], "bbox": [3, 2, 1, 0]}}),
    ("POST", EXECUTE, {"inputs": {**VALID["band-math"], "expression": "B99"}}),
    ("POST", EXECUTE, {"inputs": {**VALID["band-math"], "collection": "x"}}),
    ("POST", EXECUTE, {"inputs": {**VALID["band-math"], "crs": "http://x/y"}}),
    ("POST", EXECUTE, {"inputs": [1]}),
    ("POST", EXECUTE, None),
    ("POST", "/processes/statistics/execution", {"inputs": {"histogram": 5}}),
    ("POST", "/processes/nope/execution", {"inputs": {}}),
    ("GET", "/jobs/00000000-0000-4000-8000-000000000000", None),
    ("GET", "/jobs/00000000-0000-4000-8000-000000000000/results", None),
    ("DELETE", "/jobs/00000000-0000-4000-8000-000000000000", None),
    ("GET", "/jobs?limit=abc", None),
    ("GET", "/jobs?offset=-1", None),
    ("GET", "/jobs?limit=0", None),
]


@pytest.mark.parametrize("prefer", ["", "respond-async"])
@pytest.mark.parametrize(("method", "path", "body"), CLIENT_ERRORS)
def test_client_errors_log_one_line_and_no_traceback(gateway, caplog, method, path, body, prefer):
    caplog.set_level(logging.INFO)
    answer = httpx.request(
        method,
        f"{gateway}/ogcapi{path}",
        json=body,
        headers={"Prefer": prefer} if prefer else {},
        timeout=60,
    )
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["code"] and answer.json()["description"]
    records = _gateway_records(caplog)
    assert len(records) <= 1, [r.getMessage() for r in records]
    assert all(r.levelno <= logging.WARNING and not r.exc_info for r in records)
    assert "Traceback" not in caplog.text


# -- admission -------------------------------------------------------------------------------


def _limited(settings, **update):
    limits = {"jobs_max_running": 2, "jobs_max_running_per_process": 1}
    return settings.model_copy(update={**limits, **update})


def _admission_round(urls: list[str]) -> None:
    """Two places, one per process: the second band-math job of any replica waits, a
    statistics job fits, an export does not fit any more."""
    first = execute(urls[0], "band-math", VALID["band-math"], "respond-async")
    assert first.status_code == 201, first.text
    for url in urls:
        for prefer in ("respond-async", ""):
            refused = execute(url, "band-math", VALID["band-math"], prefer)
            assert refused.status_code == 429, refused.text
            assert int(refused.headers["retry-after"]) > 0
            assert "band-math" in refused.json()["description"]
    assert execute(urls[-1], "statistics", VALID["statistics"], "respond-async").status_code == 201
    refused = execute(urls[0], "export", VALID["export"], "respond-async")
    assert refused.status_code == 429 and refused.json()["code"] == "TooManyJobs"


def test_jobs_in_flight_are_limited_per_process_and_overall(settings):
    with live_gateway(_limited(settings), doors=OGCAPI) as url:
        _admission_round([url])


def test_the_limits_hold_across_replicas_sharing_redis(settings, redis_client, redis_server):
    url = f"redis://127.0.0.1:{redis_server.port}/7"
    with redis.Redis.from_url(url) as client:
        client.flushdb()
    shared = _limited(settings, redis_url=url)
    with live_gateway(shared, doors=OGCAPI) as one, live_gateway(shared, doors=OGCAPI) as two:
        _admission_round([one, two])
