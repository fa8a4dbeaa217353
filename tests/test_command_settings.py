"""A wrong ``GATEWAY_*`` value ends a ``cdse-gateway`` command with one line naming the variable
and exit status 2, never a traceback; the operational settings refuse hostile values (text,
NaN, out of range)."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.edge.server import STARTED_AT

HOSTILE = [
    ("GATEWAY_HIT_CONNECTIONS", "many"),
    ("GATEWAY_HIT_CONNECTIONS", "-1"),
    ("GATEWAY_HIT_CONNECTIONS", "100000"),
    ("GATEWAY_THREAD_NICE", "40"),
    ("GATEWAY_THREAD_NICE", "nan"),
    ("GATEWAY_SWITCH_INTERVAL_MS", "nan"),
    ("GATEWAY_SWITCH_INTERVAL_MS", "1e309"),
    ("GATEWAY_MALLOC_MMAP_THRESHOLD_KB", "-5"),
    ("GATEWAY_GDAL_CACHE_MB", "0"),
    ("GATEWAY_QUOTA_WAIT_S", "-inf"),
    ("GATEWAY_S3_JP2_INDEX_WORKERS", "0"),
    ("GATEWAY_S3_JP2_INDEX_WORKERS", "64"),
    ("GATEWAY_S3_JP2_INDEX_WORKERS", "nan"),
    ("GATEWAY_S3_JP2_INDEX_WORKERS", "two"),
]
COMMANDS = [["serve", "--port", "1"], ["keys", "list"]]


@pytest.mark.parametrize(("variable", "value"), HOSTILE)
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_wrong_setting_ends_the_command_saying_which(monkeypatch, variable, value, command):
    monkeypatch.setenv(variable, value)
    monkeypatch.setenv(STARTED_AT, "0")  # taken back after the test, whatever serve sets
    result = CliRunner().invoke(app, command)
    assert STARTED_AT not in os.environ or os.environ[STARTED_AT] == "0"  # serve stopped first
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0], result.output
    assert "Traceback" not in result.output
