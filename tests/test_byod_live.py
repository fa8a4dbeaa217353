"""Bring your own data into a running gateway: two ``cdse-gateway ingest`` processes writing
one catalog at once both land; a collection ingested after the gateway started is served by
every door without a restart, and disappears when its last item is removed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

from gateway.byod.catalog import catalog_lock
from tests.test_byod import cli_env, data_dir_beside

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
