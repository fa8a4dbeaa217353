"""``cdse-gateway ingest --s3`` with ``GATEWAY_STAC_URL``: the COGs go to S3 (moto), the
collection and the item to a STAC API's Transaction extension (stac-fastapi-pgstac), and a
gateway on that STAC API and S3 serves the collection (WCS 2.0.1 pixels against a numpy
read of the input). Re-ingest replaces (PUT), ``--remove`` deletes."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import rasterio
from pydantic import SecretStr
from rasterio.io import MemoryFile
from typer.testing import CliRunner

from gateway.byod.catalog import BYOD_KEY
from gateway.cli import STAC_API_NEEDS_S3, app
from gateway.settings import Settings
from tests.support.ows_live import live_gateway
from tests.support.s3_server import ACCESS_KEY, REGION, SECRET_KEY, S3Server, s3_client, start_s3
from tests.support.stac_api import StacApi, start_stac_api
from tests.support.wcs_checks import get
from tests.test_byod import (
    PLOTS_NAME,
    assert_same,
    cli_env,
    native_grid,
    nearest_reference,
    wcs,
    write_plots,
)

BUCKET = "own-data"
ITEM = "plots_20250614"


@dataclass
class Stand:
    """The STAC API, S3 and the ingest's folders."""

    api: StacApi
    s3: S3Server
    data: Path
    inputs: Path

    def env(self) -> dict[str, str]:
        return {
            **cli_env(self.data, self.inputs), **self.s3.env(),
            "GATEWAY_OUTPUT_S3_URL": f"s3://{BUCKET}/cogs", "GATEWAY_STAC_URL": self.api.url,
        }  # fmt: skip

    def ingest(self, *options: str, collection: str = "mine") -> tuple[int, str]:
        args = ["ingest", str(self.inputs / PLOTS_NAME), "--collection", collection, *options]
        result = CliRunner().invoke(app, args, env=self.env())
        return result.exit_code, result.output

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.api.url + path, timeout=10)

    def objects(self) -> list[str]:
        listed = s3_client(self.s3.direct_url).list_objects_v2(Bucket=BUCKET)
        return [o["Key"] for o in listed.get("Contents", [])]


@pytest.fixture(scope="module")
def stand(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stand]:
    root = tmp_path_factory.mktemp("byod-stac")
    (root / "stac").mkdir()
    s3 = start_s3(root / "no-eodata", root / "moto")
    try:
        s3_client(s3.direct_url).create_bucket(Bucket=BUCKET)
        api = start_stac_api(root / "stac", transactions=True)
        try:
            (root / "inputs").mkdir()
            yield Stand(api=api, s3=s3, data=root / "data", inputs=root / "inputs")
        finally:
            api.stop()
    finally:
        s3.stop()


def gateway_settings(stand: Stand, **more: Any) -> Settings:
    return Settings(
        data_dir=stand.data, sample_data=False, redis_url=None, stac_url=stand.api.url,
        storage="s3", s3_endpoint=stand.s3.endpoint, s3_https=False, s3_virtual_hosting=False,
        s3_access_key_id=ACCESS_KEY, s3_secret_access_key=SecretStr(SECRET_KEY),
        s3_region=REGION, **more,
    )  # fmt: skip


def test_ingest_posts_to_the_stac_api_and_a_gateway_on_it_serves_the_pixels(stand: Stand):
    source = stand.inputs / PLOTS_NAME
    write_plots(source, seed=1)
    stand.api.proxy.reset()
    code, output = stand.ingest("--s3", "--datetime-from-name", r"_(\d{8})")
    assert code == 0, output
    assert "1 ingested, 0 refused" in output
    methods = [(hit.method, hit.path) for hit in stand.api.proxy.hits()]
    assert ("POST", "/collections") in methods and ("POST", "/collections/mine/items") in methods
    collection = stand.get("/collections/mine").json()
    assert collection[BYOD_KEY] is True
    assert [b["name"] for b in collection["summaries"]["bands"]] == ["b1"]
    item = stand.get(f"/collections/mine/items/{ITEM}").json()
    href = f"s3://{BUCKET}/cogs/byod/mine/{ITEM}/b1.tif"
    assert item["assets"]["b1"]["href"] == href
    assert item["properties"]["datetime"].startswith("2025-06-14")
    assert stand.objects() == [f"cogs/byod/mine/{ITEM}/b1.tif"]
    grid = native_grid(source, (100, 50, 400, 300))
    with live_gateway(gateway_settings(stand)) as url:
        assert_same(wcs(url, "mine", grid)[0], nearest_reference(source, grid))


def test_reingest_replaces_with_put_and_remove_deletes(stand: Stand):
    source = stand.inputs / PLOTS_NAME
    write_plots(source, seed=1)
    assert stand.ingest("--s3")[0] == 0
    before = stand.get(f"/collections/mine/items/{ITEM}").json()["assets"]["b1"]["bands"]
    write_plots(source, seed=7)
    stand.api.proxy.reset()
    code, output = stand.ingest("--s3")
    assert code == 0, output
    methods = {(hit.method, hit.path) for hit in stand.api.proxy.hits()}
    assert {("PUT", "/collections/mine"), ("PUT", f"/collections/mine/items/{ITEM}")} <= methods
    items = stand.get("/collections/mine/items").json()["features"]
    assert [i["id"] for i in items] == [ITEM]
    assert items[0]["assets"]["b1"]["bands"] != before  # the new file's statistics
    key = f"cogs/byod/mine/{ITEM}/b1.tif"
    cog = s3_client(stand.s3.direct_url).get_object(Bucket=BUCKET, Key=key)["Body"].read()
    with MemoryFile(cog) as memory, memory.open() as got, rasterio.open(source) as given:
        assert np.array_equal(got.read(1), given.read(1))

    code, output = stand.ingest("--s3", "--remove")
    assert code == 0, output
    assert "1 removed" in output
    assert stand.get(f"/collections/mine/items/{ITEM}").status_code == 404
    assert stand.objects() == []
    left = stand.get("/collections/mine").json()  # the collection stays, as in the static catalog
    assert left[BYOD_KEY] is True and not left["summaries"].get("bands")
    code, output = stand.ingest("--s3", "--remove")
    assert code == 1 and f"no item {ITEM}" in output


def test_without_s3_the_stac_api_is_refused_and_nothing_posted(stand: Stand):
    write_plots(stand.inputs / PLOTS_NAME)
    stand.api.proxy.reset()
    code, output = stand.ingest()
    assert code == 2
    assert " ".join(STAC_API_NEEDS_S3.split()[:6]) in " ".join(output.split())
    assert stand.api.proxy.hits() == []


def test_a_collection_of_the_api_the_ingest_did_not_make_is_refused(stand: Stand):
    """As in the static catalog: the ingest adds to no one else's collection (the API's
    failures: tests/hostile/test_ingest_cli.py)."""
    write_plots(stand.inputs / PLOTS_NAME)
    httpx.post(
        stand.api.url + "/collections",
        json={
            "type": "Collection", "id": "theirs", "stac_version": "1.1.0",
            "description": "not ingested", "license": "other", "links": [],
            "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                       "temporal": {"interval": [[None, None]]}},
        },
        timeout=10,
    ).raise_for_status()  # fmt: skip
    args = ["ingest", str(stand.inputs / PLOTS_NAME), "--collection", "theirs", "--s3"]
    result = CliRunner().invoke(app, args, env=stand.env())
    assert result.exit_code == 2 and "not one of your own" in result.output
    assert stand.get("/collections/theirs/items").json()["features"] == []


def coverage_ids(url: str) -> set[str]:
    """The coverages in the WCS 2.0.1 capabilities."""
    text = get(f"{url}/wcs", SERVICE="WCS", VERSION="2.0.1", REQUEST="GetCapabilities").text
    return set(re.findall(r"<(?:\w+:)?CoverageId>([^<]+)<", text))


def eventually(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the deadline"
        time.sleep(0.2)


def test_with_the_check_set_a_new_collection_comes_and_goes_without_a_restart(stand: Stand):
    """``GATEWAY_STAC_COLLECTIONS_CHECK_S``: the running gateway looks at the API's
    collections; an ``ingest --s3`` of a new one is served (WCS pixels), its ``--remove``
    takes it out."""
    source = stand.inputs / PLOTS_NAME
    write_plots(source, seed=3)
    grid = native_grid(source, (100, 50, 400, 300))
    settings = gateway_settings(stand, stac_collections_check_s=0.2)
    with live_gateway(settings) as url:
        assert "polled" not in coverage_ids(url)
        code, output = stand.ingest("--s3", collection="polled")
        assert code == 0, output
        eventually(lambda: "polled" in coverage_ids(url))
        assert_same(wcs(url, "polled", grid)[0], nearest_reference(source, grid))
        code, output = stand.ingest("--s3", "--remove", collection="polled")
        assert code == 0, output
        eventually(lambda: "polled" not in coverage_ids(url))
