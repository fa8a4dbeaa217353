"""Hostile options of ``cdse-gateway index``: each is refused with a message (status 2), no
traceback, nothing written, and nothing fetched from an address an option names."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app

DAY = ["--time", "2025-06-13"]
L2A = ["--collection", "sentinel-2-l2a"]
HOSTILE = {
    "traversal": (["--collection", "../../etc", *DAY], "unknown collection"),
    "huge collection": (["--collection", "c" * 5000, *DAY], "unknown collection"),
    "band math": ([*L2A, *DAY, "--bands", "B04-B08"], "has no band"),
    "huge band": ([*L2A, *DAY, "--bands", "B" * 5000], "has no band"),
    "not a date": ([*L2A, "--time", "yesterday"], "invalid"),
    "month 13": ([*L2A, "--time", "2025-13-01"], "invalid"),
    "reversed time": ([*L2A, "--time", "2025-06-13/2025-06-01"], "time"),
    "no time": ([*L2A], "either a time or a number of days"),
    "time and days": ([*L2A, *DAY, "--days", "3"], "either a time or a number of days"),
    "no days": ([*L2A, "--days", "0"], "--days"),
    "days before time began": ([*L2A, "--days", str(10**12)], "--days"),
    "days not a number": ([*L2A, "--days", "1e3"], "--days"),
    "no scenes": ([*L2A, *DAY, "--max-scenes", "0"], "--max-scenes"),
    "bbox of three": ([*L2A, *DAY, "--bbox", "1,2,3"], "four numbers"),
    "bbox not finite": ([*L2A, *DAY, "--bbox", "nan,0,1,1"], "bbox"),
    "bbox infinite": ([*L2A, *DAY, "--bbox", "0,0,1e400,1"], "bbox"),
    "bbox reversed": ([*L2A, *DAY, "--bbox", "5,52,4,53"], "bbox"),
}


@pytest.mark.parametrize("case", list(HOSTILE), ids=list(HOSTILE))
def test_hostile_option_is_refused_without_a_traceback(case, sample_archive: Path):
    args, words = HOSTILE[case]
    env = {"GATEWAY_DATA_DIR": str(sample_archive), "GATEWAY_SAMPLE_DATA": "false"}
    before = sorted(sample_archive.rglob("*"))
    result = CliRunner().invoke(app, ["index", *args], env=env)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # not an error raised
    assert words in result.output and "Traceback" not in result.output, result.output
    assert len(result.output) < 2000, result.output[:300]
    assert sorted(sample_archive.rglob("*")) == before


def test_an_address_named_by_an_option_is_never_fetched(listener, sample_archive: Path):
    env = {"GATEWAY_DATA_DIR": str(sample_archive), "GATEWAY_SAMPLE_DATA": "false"}
    for args in (
        ["--collection", listener.url, *DAY],
        [*L2A, *DAY, "--bands", f"{listener.url}/B04.jp2"],
    ):
        result = CliRunner().invoke(app, ["index", *args], env=env)
        assert result.exit_code == 2, result.output
    assert listener.seen == []
