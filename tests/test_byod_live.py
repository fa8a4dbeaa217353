"""Bring your own data into a running gateway: two ``cdse-gateway ingest`` processes writing
one catalog at once both land; a collection ingested after the gateway started is served by
every door without a restart, and disappears when its last item is removed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.transform import from_origin
from typer.testing import CliRunner

from gateway.byod.catalog import catalog_lock
from gateway.cli import app
from gateway.core.grid import Grid
from gateway.settings import Settings
from tests.support.ows_live import OWS_DOORS, live_gateway
from tests.support.wcs_checks import get
from tests.test_byod import (
    MAPPROXY,
    OGCAPI,
    PLOTS_NAME,
    assert_edge_tile,
    assert_same,
    cli_env,
    data_dir_beside,
    lonlat_grid,
    native_grid,
    nearest_reference,
    ogcapi_coverage,
    wcs,
    wms_tiff,
    write_plots,
)

# --- concurrent ingests ---------------------------------------------------------------------------


def write_small(path: Path, seed: int) -> None:
    """64 x 64 uint16 in UTM 32N (a different place for each seed)."""
    data = np.random.default_rng(seed).integers(1, 1000, (1, 64, 64)).astype("uint16")
    profile = {
        "driver": "GTiff", "width": 64, "height": 64, "count": 1, "dtype": "uint16",
        "crs": "EPSG:32632", "transform": from_origin(300_000 + 1000 * seed, 5_520_000, 10, 10),
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)


def ingest_process(paths: list[Path], collection: str, env: dict[str, str]) -> subprocess.Popen:
    """``cdse-gateway ingest PATHS --collection COLLECTION`` in a process of its own."""
    command = [sys.executable, "-m", "gateway.cli", "ingest", *map(str, paths)]
    return subprocess.Popen(
        [*command, "--collection", collection, "--datetime", "2025-05-01"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_an_ingest_waits_for_the_catalog_lock(sample_archive: Path, tmp_path: Path):
    """While another process holds the catalog's lock (here: this one), an ingest converts
    its file but writes no catalog file; it does once the lock is released."""
    data = data_dir_beside(sample_archive, tmp_path)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    write_small(inputs / "held.tif", 1)
    folder = data / "stac" / "collections" / "held"
    with catalog_lock(data / "stac"):
        run = ingest_process([inputs / "held.tif"], "held", cli_env(data, inputs))
        deadline = time.monotonic() + 60
        while not (data / "byod" / "held" / "held").is_dir():  # converted, then the lock
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()
            time.sleep(0.05)
        time.sleep(0.5)
        assert run.poll() is None and not folder.exists()
    _, err = run.communicate(timeout=60)
    assert run.returncode == 0, err
    assert [json.loads(line)["id"] for line in (folder / "items.ndjson").open()] == ["held"]


def test_two_ingests_at_once_both_land(sample_archive: Path, tmp_path: Path):
    """Two processes ingest three files each into one collection (and a third one of them
    into a second collection) at the same time: every item is in ``items.ndjson`` and in the
    collection's links, and ``catalog.json`` links both collections."""
    data = data_dir_beside(sample_archive, tmp_path)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    first = [inputs / f"a{i}.tif" for i in range(3)]
    second = [inputs / f"b{i}.tif" for i in range(3)]
    for seed, path in enumerate(first + second):
        write_small(path, seed)
    env = cli_env(data, inputs)
    runs = [
        ingest_process(first, "together", env),
        ingest_process(second, "together", env),
        ingest_process(second[:2], "beside", env),
    ]
    for run in runs:
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
    folder = data / "stac" / "collections" / "together"
    listed = [json.loads(line)["id"] for line in (folder / "items.ndjson").read_text().splitlines()]
    expected = sorted(p.stem for p in first + second)
    assert sorted(listed) == expected
    collection = json.loads((folder / "collection.json").read_text())
    assert sorted(link["href"] for link in collection["links"] if link["rel"] == "item") == [
        f"./items/{name}.json" for name in expected
    ]
    catalog = json.loads((data / "stac" / "catalog.json").read_text())
    children = {link["href"] for link in catalog["links"] if link["rel"] == "child"}
    assert {
        "./collections/together/collection.json",
        "./collections/beside/collection.json",
    } <= children


# --- a collection ingested while serving ----------------------------------------------------------


@pytest.fixture(scope="module")
def serving(sample_archive: Path, tmp_path_factory: pytest.TempPathFactory):
    """A gateway with every door on a data folder without own collections, looking for new
    ones every 0.2 s; yields (url, data, inputs)."""
    root = tmp_path_factory.mktemp("byod-live")
    data, inputs = data_dir_beside(sample_archive, root), root / "inputs"
    inputs.mkdir()
    settings = Settings(
        data_dir=data, sample_data=False, redis_url=None, stac_url=None, storage="local",
        capabilities_ttl_s=1, search_cache_ttl_s=1, collections_check_s=0.2,
    )  # fmt: skip
    with live_gateway(settings, doors=(*OWS_DOORS, OGCAPI, MAPPROXY)) as url:
        yield url, data, inputs


def wms_layers(url: str) -> str:
    answer = get(f"{url}/wms", SERVICE="WMS", VERSION="1.3.0", REQUEST="GetCapabilities")
    assert answer.status_code == 200, answer.text[:300]
    return answer.text


def until(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.2)


class Traffic:
    """Requests to every door, in two threads, until stopped: each answer's status."""

    def __init__(self, url: str) -> None:
        self.statuses: list[tuple[str, int]] = []
        self._stop = threading.Event()
        paths = [
            "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetCapabilities",
            "/ogcapi/collections?f=json",
            "/wcs?SERVICE=WCS&VERSION=2.0.1&REQUEST=GetCapabilities",
            "/wfs?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetCapabilities",
            "/wmts?SERVICE=WMTS&REQUEST=GetCapabilities",
        ]
        self._threads = [
            threading.Thread(target=self._run, args=(url, paths[i::2]), daemon=True)
            for i in range(2)
        ]
        for thread in self._threads:
            thread.start()

    def _run(self, url: str, paths: list[str]) -> None:
        with httpx.Client(timeout=60) as client:
            while not self._stop.is_set():
                for path in paths:
                    self.statuses.append((path, client.get(url + path).status_code))

    def stop(self) -> list[tuple[str, int]]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        return self.statuses


def test_a_collection_ingested_while_serving_is_in_every_door_then_removed(serving):
    """``cdse-gateway ingest`` of a new collection into the catalog of a running gateway:
    without a restart, the WMS capabilities list its layer; WMS GetMap, WMTS GetTile, WCS
    2.0.1 GetCoverage and OGC API coverage are the input's pixels (nodata, scale, offset);
    OGC API and WFS list it. Requests to every door while the doors are built again all
    succeed. ``--remove`` of its only item takes it out of the doors likewise."""
    url, data, inputs = serving
    path = inputs / PLOTS_NAME
    write_plots(path, seed=11)
    assert "<Name>FRESH</Name>" not in wms_layers(url)
    traffic = Traffic(url)
    try:
        args = ["ingest", str(path), "--collection", "fresh", "--datetime-from-name", r"_(\d{8})"]
        result = CliRunner().invoke(app, args, env=cli_env(data, inputs))
        assert result.exit_code == 0, result.output
        until(lambda: "<Name>FRESH</Name>" in wms_layers(url))
        time.sleep(0.5)  # traffic on the new doors too
    finally:
        statuses = traffic.stop()
    assert len(statuses) > 10 and all(status == 200 for _, status in statuses), [
        s for s in statuses if s[1] != 200
    ][:5]

    grid = native_grid(path, (100, 50, 400, 300))  # crosses the nodata triangle's edge
    assert_same(wcs(url, "fresh", grid)[0], nearest_reference(path, grid))

    lonlat = lonlat_grid(path, 0.0002)
    assert_same(ogcapi_coverage(url, "FRESH", lonlat), nearest_reference(path, lonlat))

    to_merc = Transformer.from_crs("EPSG:3035", "EPSG:3857", always_xy=True)
    (x0, x1), (y0, y1) = to_merc.transform(
        [4_030_000 + 20 * 200, 4_030_000 + 20 * 700], [2_960_000 - 20 * 600, 2_960_000 - 20 * 100]
    )
    merc = Grid(CRS.from_epsg(3857), (x0, y0, x1, y1), 300, 300)
    assert_same(wms_tiff(url, "FRESH", merc), nearest_reference(path, merc))

    assert_edge_tile(url, "FRESH", path)

    listed = httpx.get(f"{url}/ogcapi/collections", params={"f": "json"}, timeout=60).json()
    assert "FRESH" in {c["id"] for c in listed["collections"]}
    features = get(
        f"{url}/wfs", SERVICE="WFS", VERSION="2.0.0", REQUEST="GetFeature", TYPENAMES="fresh",
        OUTPUTFORMAT="application/json",
    )  # fmt: skip
    assert features.status_code == 200, features.text[:300]
    assert [f["id"] for f in features.json()["features"]] == ["plots_20250614"]

    removed = CliRunner().invoke(
        app, ["ingest", str(path), "--collection", "fresh", "--remove"], env=cli_env(data, inputs)
    )
    assert removed.exit_code == 0, removed.output
    until(lambda: "<Name>FRESH</Name>" not in wms_layers(url))
    gone = httpx.get(f"{url}/ogcapi/collections/FRESH", params={"f": "json"}, timeout=60)
    assert gone.status_code == 404
    coverage_gone = get(
        f"{url}/wcs", SERVICE="WCS", VERSION="2.0.1", REQUEST="DescribeCoverage",
        COVERAGEID="fresh",
    )  # fmt: skip
    assert "NoSuchCoverage" in coverage_gone.text
