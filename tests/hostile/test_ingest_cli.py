"""Hostile options of ``cdse-gateway ingest``: each is refused with a message naming the
option, no traceback, and the catalog and data folder stay as they were."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from tests.test_byod import PLOTS_NAME, cli_env, data_dir_beside, tree, write_plots

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
