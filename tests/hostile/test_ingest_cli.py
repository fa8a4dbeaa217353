"""Hostile options of ``cdse-gateway ingest``: each is refused with a message naming the
option, no traceback, and the catalog and data folder stay as they were."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from gateway.cli import app
from tests.test_byod import PLOTS_NAME, cli_env, data_dir_beside, tree, write_plots
from tests.test_byod_zarr import ORIGIN, RES, write_store, zarray, zgroup

HOSTILE = {
    "traversal": (["--collection", "../../etc"], "a letter, then"),
    "slash": (["--collection", "a/b"], "a letter, then"),
    "copernicus": (["--collection", "sentinel-2-l2a"], "not one of your own"),
    "band math": (["--bands", "B04-B08"], "a letter, then"),
    "band twice": (["--bands", "x,x"], "names a band twice"),
    "band count": (["--bands", "a,b,c"], "the file has 1"),
    "bad regex": (["--datetime-from-name", "(["], "not a regular expression"),
    "regex misses": (["--datetime-from-name", r"(\d{14})"], "finds no date"),
    "not a date": (["--datetime", "yesterday"], "not an ISO 8601 date"),
    "month 13": (["--datetime", "2025-13-01"], "not an ISO 8601 date"),
    "both dates": (["--datetime", "2025-01-01", "--datetime-from-name", "x"], "not both"),
    "units": (["--units", "nounit"], "band=unit"),
    "units band": (["--units", "a b=m"], "a letter, then"),
    "huge name": (["--collection", "c" * 5000], "a letter, then"),
}


@pytest.mark.parametrize("case", list(HOSTILE), ids=list(HOSTILE))
def test_hostile_option_is_refused_and_changes_nothing(case, sample_archive: Path, tmp_path):
    data = data_dir_beside(sample_archive, tmp_path)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    write_plots(inputs / PLOTS_NAME)
    args, words = HOSTILE[case]
    if "--collection" not in args:
        args = [*args, "--collection", "mine"]
    before = tree(data)
    result = CliRunner().invoke(
        app, ["ingest", str(inputs / PLOTS_NAME), *args],
        env=cli_env(data, inputs),
    )  # fmt: skip
    assert result.exit_code in (1, 2), result.output
    assert words in result.output, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert tree(data) == before


# --- Zarr stores ------------------------------------------------------------------------------


def _small(folder: Path, attrs: dict, dims: list[str] | None = None, name: str = "v") -> Path:
    """A 64 x 64 store (``dims``: a leading dimension of 2) with these group attributes."""
    zgroup(folder, attrs)
    shape = (2, 64, 64) if dims else (64, 64)
    zarray(folder / name, np.ones(shape, "uint8"), [*(dims or []), "y", "x"], {})
    return folder


GEO = {"proj:code": "EPSG:3035", "spatial:transform": [RES, 0, ORIGIN[0], 0, -RES, ORIGIN[1]]}


def _not_zarr(inputs: Path) -> Path:
    (inputs / "notes.zarr").mkdir()
    (inputs / "notes.zarr" / "readme.txt").write_text("not a store\n")
    return inputs / "notes.zarr"


def _bad_json(inputs: Path) -> Path:
    store = _small(inputs / "json.zarr", GEO)
    (store / ".zattrs").write_text("{")
    return store


def _no_crs(inputs: Path) -> Path:
    store = _small(inputs / "nocrs.zarr", {})
    zarray(store / "x", ORIGIN[0] + RES * (np.arange(64) + 0.5), ["x"], {})
    zarray(store / "y", ORIGIN[1] - RES * (np.arange(64) + 0.5), ["y"], {})
    return store


def _band_dimension(inputs: Path) -> Path:
    store = _small(inputs / "bands.zarr", GEO, ["band"])
    zarray(store / "band", np.array([1, 2]), ["band"], {"units": "1"})
    return store


def _quoted(inputs: Path) -> Path:
    return _small(inputs / 'a"b.zarr', GEO)


STORES = {
    "not zarr": (_not_zarr, [], "not a Zarr store"),
    "empty folder": (lambda i: (i / "empty.zarr").mkdir() or i / "empty.zarr", [], "no zarr.json"),
    "bad json": (_bad_json, [], "unreadable Zarr metadata"),
    "no crs": (_no_crs, [], "no CRS"),
    "no grid": (lambda i: _small(i / "nogrid.zarr", {"proj:code": "EPSG:3035"}), [], "no grid"),
    "bad proj": (lambda i: _small(i / "p.zarr", {**GEO, "proj:code": "EPSG:0"}), [], "not a CRS"),
    "not a time": (_band_dimension, [], "dimension band is not a time"),
    "no coordinates": (lambda i: _small(i / "t.zarr", GEO, ["band"]), [], "is not a time"),
    "missing variable": (write_store, ["--bands", "b04,nosuch"], "no variable nosuch in the store"),
    "variable name": (lambda i: _small(i / "n.zarr", GEO, name="b-4"), [], "a letter, then"),
    "level outside": (
        lambda i: _small(i / "l.zarr", {**GEO, "multiscales": {"layout": [{"asset": "../.."}]}}),
        [],
        "is not a group of the store",
    ),
    "double quote": (_quoted, [], "double quote"),
    "s3": (write_store, ["--s3"], "--s3 does not apply"),
}


@pytest.mark.parametrize("case", list(STORES), ids=list(STORES))
def test_hostile_zarr_store_is_refused_and_changes_nothing(case, sample_archive: Path, tmp_path):
    data = data_dir_beside(sample_archive, tmp_path)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    make, args, words = STORES[case]
    store = make(inputs)
    before = tree(data)
    env = {**cli_env(data, inputs), "GATEWAY_OUTPUT_S3_URL": "s3://bucket/out"}
    result = CliRunner().invoke(app, ["ingest", str(store), *args, "--collection", "mine"], env=env)
    assert result.exit_code == 1, result.output
    assert words in result.output, result.output
    assert "0 ingested, 1 refused" in result.output
    assert "Traceback" not in result.output
    assert tree(data) == before
