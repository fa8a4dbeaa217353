"""OGC API Processes as deployed without a scheduler or Redis: async jobs on the default
``LocalCluster`` the web process starts itself, and exports written to S3 (moto's server).

The gateway runs in a uvicorn thread of this process, so its Dask client and its log records
are visible here; everything is asked over HTTP.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from tests.support.ows_live import live_gateway
from tests.support.process_checks import BAND_MATH, UTM_BOX, check_cog, utm_reference
from tests.support.s3_server import S3Server, s3_client, start_s3

OGCAPI = "gateway.ogcapi.door:build_door"
BUCKET = "exports"
PREFIX = "runs/2025"
# Keys only this test uses, so finding them anywhere means they leaked (moto takes any key).
KEY_ID = "EXPORTKEYID7F3A9C"
SECRET = "export-secret-93bd51e0c4"
STATISTICS = {
    "expression": "NDVI", "bbox": list(UTM_BOX), "crs": "EPSG:32631", "resolution": 20,
    "time": "2025-05-29/2025-06-23", "aggregation_interval": "P10D", "resampling": "nearest",
}  # fmt: skip


@pytest.fixture(scope="module")
def s3(tmp_path_factory) -> Iterator[S3Server]:
    """moto's S3 server with an empty ``eodata`` bucket and the ``exports`` bucket."""
    server = start_s3(tmp_path_factory.mktemp("no-eodata"), tmp_path_factory.mktemp("moto"))
    s3_client(server.direct_url).create_bucket(Bucket=BUCKET)
    yield server
    server.stop()


def _settings(sample_settings, s3: S3Server, bucket: str = BUCKET):
    return sample_settings.model_copy(
        update={
            "dask_scheduler": None,
            "redis_url": None,
            "output_s3_url": f"s3://{bucket}/{PREFIX}",
            "output_s3_endpoint": s3.endpoint,
            "output_s3_https": False,
            "output_s3_region": "us-east-1",
            "output_s3_access_key_id": KEY_ID,
            "output_s3_secret_access_key": SecretStr(SECRET),
        }
    )


@pytest.fixture(scope="module")
def gateway(sample_settings, s3) -> Iterator[str]:
    with live_gateway(_settings(sample_settings, s3), doors=(OGCAPI,)) as url:
        yield url


def _execute(url: str, process: str, inputs: dict, **headers) -> httpx.Response:
    return httpx.post(
        f"{url}/ogcapi/processes/{process}/execution",
        json={"inputs": inputs},
        headers=headers,
        timeout=300,
    )


def _wait(url: str, job_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = httpx.get(f"{url}/ogcapi/jobs/{job_id}", params={"f": "json"}).json()
        if status["status"] in ("successful", "failed", "dismissed"):
            return status
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


def _async_result(url: str, process: str, inputs: dict) -> dict:
    accepted = _execute(url, process, inputs, Prefer="respond-async")
    assert accepted.status_code == 201, accepted.text
    job_id = accepted.json()["jobID"]
    status = _wait(url, job_id)
    assert status["status"] == "successful", status
    return httpx.get(f"{url}/ogcapi/jobs/{job_id}/results", params={"f": "json"}).json()


def _read_export(s3: S3Server, href: str) -> bytes:
    assert href.startswith(f"s3://{BUCKET}/{PREFIX}/export-") and href.endswith(".tif")
    key = href.removeprefix(f"s3://{BUCKET}/")
    found = s3_client(s3.direct_url).get_object(Bucket=BUCKET, Key=key)
    assert found["ContentType"].startswith("image/tiff")
    return found["Body"].read()


def _no_keys(text: str) -> None:
    assert KEY_ID not in text and SECRET not in text


def test_export_writes_a_cog_to_s3(sample_archive, s3, gateway, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    answer = _execute(gateway, "export", BAND_MATH)
    assert answer.status_code == 200, answer.text
    _no_keys(answer.text)
    content = _read_export(s3, answer.json()["href"])
    check_cog(content, utm_reference(sample_archive), tmp_path / "export.tif")
    _no_keys(caplog.text)


def test_async_jobs_run_on_the_default_local_cluster(sample_archive, s3, gateway, tmp_path):
    from distributed import get_task_stream

    from gateway.processes.cluster import get_client

    sync = _execute(gateway, "statistics", STATISTICS)
    assert sync.status_code == 200, sync.text
    client = get_client(None)  # the cluster the gateway started (none configured)
    workers = client.scheduler_info()["workers"]
    assert len(workers) == 2
    with get_task_stream(client) as stream:
        result = _async_result(gateway, "statistics", STATISTICS)
        exported = _async_result(gateway, "export", BAND_MATH)
    assert result == sync.json()
    rows = result["data"]
    assert len(rows) == 3 and all(row["validCount"] > 1000 for row in rows)
    assert any(row["cloudMaskedCount"] > 1000 for row in rows)  # 2025-06-03 is cloudy
    chunks = Counter(t["key"].partition("-")[0] for t in stream.data if t["worker"] in workers)
    assert chunks == {"chunk_statistics": 3, "chunk_values": 1}  # 3 intervals x 1 chunk; export
    content = _read_export(s3, exported["href"])
    check_cog(content, utm_reference(sample_archive), tmp_path / "async-export.tif")


def test_an_unwritable_output_storage_is_a_502_without_keys(sample_settings, s3, caplog):
    caplog.set_level(logging.DEBUG, logger="gateway.processes")
    caplog.set_level(logging.INFO)
    settings = _settings(sample_settings, s3, bucket="no-such-bucket")
    with live_gateway(settings, doors=(OGCAPI,)) as url:
        answer = _execute(url, "export", BAND_MATH)
    assert answer.status_code == 502, answer.text
    body = answer.json()
    assert body["description"] == "the output storage could not be written"
    _no_keys(answer.text)
    assert "no-such-bucket" in caplog.text  # the failure is logged, the keys are not
    _no_keys(caplog.text)


def test_large_results_and_their_expiry_in_s3(sample_archive, sample_settings, s3, tmp_path):
    from gateway.processes.storage import remove_older_than

    settings = _settings(sample_settings, s3).model_copy(update={"job_result_inline_bytes": 10_000})
    bucket = s3_client(s3.direct_url)
    with live_gateway(settings, doors=(OGCAPI,)) as url:
        answer = _execute(url, "band-math", {**BAND_MATH, "format": "cog"})
        assert answer.status_code == 200, answer.text
        job_id = answer.headers["location"].rpartition("/")[2]
        key = f"{PREFIX}/results/{job_id}"
        assert bucket.get_object(Bucket=BUCKET, Key=key)["Body"].read() == answer.content
        result = httpx.get(f"{url}/ogcapi/jobs/{job_id}/results", timeout=60)
        assert result.status_code == 200 and result.content == answer.content
        check_cog(result.content, utm_reference(sample_archive), tmp_path / "result.tif")
        assert httpx.delete(f"{url}/ogcapi/jobs/{job_id}").status_code == 200
        assert "Contents" not in bucket.list_objects_v2(Bucket=BUCKET, Prefix=key)
    old = {f"{PREFIX}/export-old.tif", f"{PREFIX}/results/old"}
    for key in (*old, f"{PREFIX}/keep.txt"):
        bucket.put_object(Bucket=BUCKET, Key=key, Body=b"x")

    def keys() -> set[str]:
        return {i["Key"] for i in bucket.list_objects_v2(Bucket=BUCKET)["Contents"]}

    assert remove_older_than(settings, "export-", 3600) == 0 and old <= keys()
    remove_older_than(settings, "export-", 0)
    remove_older_than(settings, "results/", 0)
    assert not old & keys() and f"{PREFIX}/keep.txt" in keys()
