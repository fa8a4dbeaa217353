"""OGC API Processes on a live gateway with Redis jobs and a two-worker Dask cluster.

Statistics, band math and export are checked against plain rasterio + numpy reads of the
sample archive; the async statistics job must give the sync run's numbers exactly.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon

from tests.support.expected import ndvi, pixel_centres, read_band
from tests.support.gateway_server import GatewayServer
from tests.support.ogcapi_checks import item_of
from tests.support.process_checks import BAND_MATH, UTM_BOX, check_cog, utm_reference

# A polygon inside T31UFU's window (east of it T32ULD starts at lon 6.04), in EPSG:32631.
POLYGON = [(698503, 5829007), (703497, 5830003), (703011, 5838497), (699007, 5836013)]
GRID = (698500.0, 5829000.0, 703500.0, 5838500.0)  # its bounds snapped to 10 m: 500 x 950 px
# Two 10-day intervals with one T31UFU scene each: 2025-06-03 (cloudy) and 2025-06-13.
INTERVALS = {"2025-06-01T00:00:00Z": "2025-06-03", "2025-06-11T00:00:00Z": "2025-06-13"}
CLOUD_CLASSES = [3, 8, 9, 10]
WHOLE_AREA = {
    "expression": "NDVI",
    "bbox": [5.918, 52.561, 6.226, 52.678],
    "resolution": 20,
    "time": "2025-05-29/2025-06-23",
    "aggregation_interval": "P10D",
}


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator:
    """Two local worker processes, started once for this module (the only one using Dask)."""
    import logging

    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
        silence_logs=logging.ERROR,
    )  # fmt: skip
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture(scope="module")
def gateway_env(sample_archive, redis_server, dask_cluster, tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("processes")
    return {
        "GATEWAY_DATA_DIR": str(sample_archive),
        "GATEWAY_REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/5",
        "GATEWAY_DASK_SCHEDULER": dask_cluster.scheduler.address,
        "GATEWAY_OUTPUT_DIR": str(folder / "outputs"),
        "GATEWAY_JOB_RESULT_INLINE_BYTES": "100000",  # a COG result goes to the output folder
    }


@pytest.fixture(scope="module")
def server(gateway_env, tmp_path_factory) -> Iterator[GatewayServer]:
    log = tmp_path_factory.mktemp("processes-log") / "server.log"
    gateway = GatewayServer(gateway_env, log).start()
    try:
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture(scope="module")
def http(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server.url}/ogcapi", timeout=300) as client:
        yield client


def _execute(http: httpx.Client, process: str, inputs: dict, **headers) -> httpx.Response:
    return http.post(f"/processes/{process}/execution", json={"inputs": inputs}, headers=headers)


def _polygon_inputs(**extra) -> dict:
    ring = [list(p) for p in [*POLYGON, POLYGON[0]]]
    return {
        "expression": "NDVI",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "crs": "EPSG:32631",
        "resolution": 10,
        "resampling": "nearest",
        "time": "2025-06-01/2025-06-20",
        "aggregation_interval": "P10D",
        "percentiles": [10, 50, 90],
        **extra,
    }


def _reference(archive, day: str) -> dict:
    """Counts and statistics of NDVI over the polygon for one scene, with numpy."""
    item = item_of(archive, "31UFU", day)
    width, height = 500, 950
    xs, ys = pixel_centres(GRID, width, height)
    inside = shapely.contains_xy(Polygon(POLYGON), xs, ys)
    red = read_band(archive, item, "B04_10m").sample(xs, ys, "EPSG:32631")
    nir = read_band(archive, item, "B08_10m").sample(xs, ys, "EPSG:32631")
    scl = read_band(archive, item, "SCL_20m", reflectance=False).sample(xs, ys, "EPSG:32631")
    values = ndvi(nir, red)
    valid = np.isfinite(values) & np.isfinite(scl)
    cloudy = valid & np.isin(scl, CLOUD_CLASSES)
    good = inside & valid & ~cloudy
    picked = values[good]
    return {
        "sampleCount": int(inside.sum()),
        "validCount": int(good.sum()),
        "cloudMaskedCount": int((inside & cloudy).sum()),
        "min": picked.min(), "max": picked.max(), "mean": picked.mean(), "stDev": picked.std(),
        "percentiles": np.percentile(picked, [10, 50, 90]),
    }  # fmt: skip


def _wait(http: httpx.Client, job_id: str, timeout: float = 240) -> tuple[dict, list[int]]:
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = http.get(f"/jobs/{job_id}", params={"f": "json"}).json()
        seen.append(status.get("progress", -1))
        if status["status"] in ("successful", "failed", "dismissed"):
            return status, seen
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {status}")


# -- discovery ------------------------------------------------------------------------------


def test_processes_are_listed_and_described(http):
    listed = http.get("/processes", params={"f": "json"}).json()
    assert {p["id"] for p in listed["processes"]} == {"band-math", "statistics", "export"}
    statistics = http.get("/processes/statistics", params={"f": "json"}).json()
    assert {"expression", "geometry", "bbox", "aggregation_interval", "cloud_mask"} <= set(
        statistics["inputs"]
    )
    assert "async-execute" in statistics["jobControlOptions"]


def test_owslib_processes_client(server):
    from owslib.ogcapi.processes import Processes

    client = Processes(f"{server.url}/ogcapi")
    assert {p["id"] for p in client.processes()} == {"band-math", "statistics", "export"}
    assert client.process("band-math")["id"] == "band-math"
    inputs = {"expression": "(B08-B04)/(B08+B04)", "bbox": list(UTM_BOX), "crs": "EPSG:32631",
              "time": "2025-06-13", "format": "json", "resampling": "nearest"}  # fmt: skip
    result = client.execute("band-math", inputs=inputs)
    assert result["width"] == 300 and result["outputs"]["value"]["validCount"] > 80_000


# -- statistics -----------------------------------------------------------------------------


def test_statistics_match_numpy_for_a_polygon_and_two_intervals(sample_archive, http):
    answer = _execute(http, "statistics", _polygon_inputs())
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert [row["interval"]["from"] for row in data] == list(INTERVALS)
    for row in data:
        expected = _reference(sample_archive, INTERVALS[row["interval"]["from"]])
        for key in ("sampleCount", "validCount", "cloudMaskedCount"):
            assert row[key] == expected[key], (row["interval"], key)
        assert row["noDataCount"] == row["sampleCount"] - row["validCount"]
        stats = row["outputs"]["NDVI"]["stats"]
        for key in ("min", "max", "mean", "stDev"):
            assert stats[key] == pytest.approx(expected[key], abs=1e-5), key
        assert np.allclose([stats["percentiles"][k] for k in ("10", "50", "90")],
                           expected["percentiles"], atol=1e-5)  # fmt: skip
        bins = row["outputs"]["NDVI"]["histogram"]["bins"]
        assert sum(b["count"] for b in bins) == row["validCount"]
    cloudy, clear = data
    assert cloudy["cloudMaskedCount"] > 0.3 * cloudy["sampleCount"]  # 2025-06-03: ~65 % cloud
    assert clear["cloudMaskedCount"] < 0.02 * clear["sampleCount"]


def test_statistics_as_csv(http):
    as_json = _execute(http, "statistics", _polygon_inputs()).json()
    answer = _execute(http, "statistics", _polygon_inputs(format="csv"))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(rows) == 2
    for row, expected in zip(rows, as_json["data"], strict=True):
        assert int(row["validCount"]) == expected["validCount"]
        assert float(row["mean"]) == pytest.approx(expected["outputs"]["NDVI"]["stats"]["mean"])
        assert float(row["p50"]) == pytest.approx(
            expected["outputs"]["NDVI"]["stats"]["percentiles"]["50"]
        )


def test_async_statistics_on_two_dask_workers_equal_the_sync_run(http, dask_cluster):
    from distributed import get_task_stream

    sync = _execute(http, "statistics", WHOLE_AREA)
    assert sync.status_code == 200, sync.text
    with get_task_stream(dask_cluster) as stream:
        accepted = _execute(http, "statistics", WHOLE_AREA, Prefer="respond-async")
        assert accepted.status_code == 201, accepted.text
        job_id = accepted.json()["jobID"]
        assert accepted.headers["location"].endswith(f"/jobs/{job_id}")
        status, progress = _wait(http, job_id)
    assert status["status"] == "successful", status
    assert status["progress"] == 100
    assert any(10 < p < 100 for p in progress), progress  # progress reported on the way
    result = http.get(f"/jobs/{job_id}/results", params={"f": "json"})
    assert result.status_code == 200
    assert result.json() == sync.json()
    chunks = [t for t in stream.data if t["key"].startswith("chunk_statistics")]
    assert len(chunks) == 3 * 6  # 3 intervals x 6 chunks of 512 px
    assert len({t["worker"] for t in chunks}) == 2  # both workers computed
    valid = [row["validCount"] for row in sync.json()["data"]]
    assert all(v > 100_000 for v in valid)


def test_async_job_survives_the_web_worker_that_accepted_it(gateway_env, tmp_path, http):
    inputs = {**WHOLE_AREA, "time": "2025-06-01/2025-06-23", "aggregation_interval": "P1M"}
    first = GatewayServer(gateway_env, tmp_path / "first.log").start()
    with httpx.Client(base_url=f"{first.url}/ogcapi", timeout=120) as client:
        accepted = _execute(client, "statistics", inputs, Prefer="respond-async")
        assert accepted.status_code == 201, accepted.text
        job_id = accepted.json()["jobID"]
        deadline = time.monotonic() + 60
        while client.get(f"/jobs/{job_id}", params={"f": "json"}).json()["status"] == "accepted":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    first.stop(kill=True)  # the web worker dies with the job in flight
    second = GatewayServer(gateway_env, tmp_path / "second.log").start()
    try:
        with httpx.Client(base_url=f"{second.url}/ogcapi", timeout=120) as client:
            status, _ = _wait(client, job_id)
            assert status["status"] == "successful", status
            result = client.get(f"/jobs/{job_id}/results", params={"f": "json"}).json()
    finally:
        second.stop()
    assert result == _execute(http, "statistics", inputs).json()


def test_without_redis_async_jobs_run_from_this_process(sample_settings, dask_cluster, tmp_path):
    """No Redis: jobs stay in the web process's memory, chunks still go to the Dask cluster."""
    from starlette.testclient import TestClient

    from gateway.app import create_app

    settings = sample_settings.model_copy(
        update={"dask_scheduler": dask_cluster.scheduler.address, "output_dir": tmp_path}
    )
    inputs = _polygon_inputs()
    with TestClient(create_app(settings), base_url="http://testserver/ogcapi") as client:
        sync = _execute(client, "statistics", inputs).json()
        accepted = _execute(client, "statistics", inputs, Prefer="respond-async")
        assert accepted.status_code == 201, accepted.text
        status, _ = _wait(client, accepted.json()["jobID"])
        assert status["status"] == "successful", status
        result = client.get(f"/jobs/{accepted.json()['jobID']}/results", params={"f": "json"})
    assert result.json() == sync


def test_jobs_are_dismissed_and_not_listed_to_unknown_callers(http):
    inputs = {**BAND_MATH, "expression": "B04", "format": "json"}
    accepted = _execute(http, "band-math", inputs, Prefer="respond-async")
    job_id = accepted.json()["jobID"]
    status, _ = _wait(http, job_id)
    assert status["status"] == "successful"
    listed = http.get("/jobs", params={"f": "json"}).json()
    assert listed["jobs"] == []  # callers are not identified: nobody's jobs are listed
    assert http.delete(f"/jobs/{job_id}", params={"f": "json"}).status_code in (200, 204)
    assert http.get(f"/jobs/{job_id}", params={"f": "json"}).status_code == 404


def test_an_async_cog_result_is_kept_in_the_output_folder(
    sample_archive, gateway_env, http, tmp_path
):
    inputs = {**BAND_MATH, "format": "cog"}
    accepted = _execute(http, "band-math", inputs, Prefer="respond-async")
    assert accepted.status_code == 201, accepted.text
    job_id = accepted.json()["jobID"]
    status, _ = _wait(http, job_id)
    assert status["status"] == "successful", status
    result = http.get(f"/jobs/{job_id}/results")
    assert result.status_code == 200 and result.headers["content-type"].startswith("image/tiff")
    kept = Path(gateway_env["GATEWAY_OUTPUT_DIR"]) / "results" / job_id
    assert kept.read_bytes() == result.content
    check_cog(result.content, utm_reference(sample_archive), tmp_path / "async.tif")


# -- band math and export -------------------------------------------------------------------


def test_band_math_cog_matches_numpy(sample_archive, http, tmp_path):
    answer = _execute(http, "band-math", {**BAND_MATH, "format": "cog"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("image/tiff")
    check_cog(answer.content, utm_reference(sample_archive), tmp_path / "band-math.tif")


def test_band_math_summary_and_png(sample_archive, http):
    summary = _execute(http, "band-math", {**BAND_MATH, "format": "json"}).json()
    expected = utm_reference(sample_archive)
    out = summary["outputs"]["value"]
    assert out["validCount"] == int(np.isfinite(expected).sum())
    assert out["mean"] == pytest.approx(np.nanmean(expected), abs=1e-5)
    assert summary["crs"] == "EPSG:32631" and summary["bbox"] == list(UTM_BOX)
    png = _execute(http, "band-math", {**BAND_MATH, "format": "png", "style": "ndvi"})
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    from PIL import Image

    assert Image.open(io.BytesIO(png.content)).size == (300, 300)


def test_export_writes_a_cog_and_returns_its_href(sample_archive, server, http, tmp_path):
    answer = _execute(http, "export", BAND_MATH)
    assert answer.status_code == 200, answer.text
    href = answer.json()["href"]
    assert href.startswith(f"{server.url}/ogcapi/outputs/export-")
    content = httpx.get(href, timeout=60).content
    check_cog(content, utm_reference(sample_archive), tmp_path / "export.tif")


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("process", "inputs", "status"),
    [
        ("statistics", _polygon_inputs(expression="B99+1"), 400),
        ("statistics", _polygon_inputs(expression="__import__('os').system('id')"), 400),
        ("statistics", _polygon_inputs(aggregation_interval="ten days"), 400),
        ("statistics", _polygon_inputs(collection="nope"), 404),
        ("statistics", {"expression": "NDVI", "time": "2025-06-01/2025-06-20"}, 400),
        (
            "statistics",
            _polygon_inputs(aggregation_interval="P1D", time="2024-06-01/2025-05-31", resolution=2),
            400,
        ),  # too many pixel-intervals
        ("band-math", {**BAND_MATH, "bbox": [-10, 40, 10, 60], "crs": "CRS:84"}, 400),  # huge area
        ("band-math", {**BAND_MATH, "bbox": [5, 52, 4, 53], "crs": "CRS:84"}, 400),
        ("band-math", {**BAND_MATH, "format": "exe"}, 400),
        ("export", {**BAND_MATH, "geometry": {"type": "Point", "coordinates": [0, 0]}}, 400),
        ("nope", BAND_MATH, 404),
    ],
)
@pytest.mark.parametrize("prefer", ["", "respond-async"])
def test_bad_input_gets_problem_details(http, process, inputs, status, prefer):
    headers = {"Prefer": prefer} if prefer else {}
    answer = _execute(http, process, inputs, **headers)
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["code"] and body["description"]
    assert "Traceback" not in answer.text and "internal" not in body["description"]


@pytest.mark.parametrize("body", [b"null", b"[1, 2]", b"{not json"])
def test_a_body_that_is_not_a_json_object_is_a_client_error(http, body):
    answer = http.post(
        "/processes/statistics/execution",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "InvalidParameterValue"
