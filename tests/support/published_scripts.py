"""Sentinel Hub's published custom scripts (the evalscript acceptance corpus), read from
outside the repository: they are third-party code (tests/fixtures/evalscripts/SOURCES.md)."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest

MANIFEST = Path(__file__).resolve().parents[1] / "fixtures" / "evalscripts" / "SOURCES.md"
FOLDER_ENV = "GATEWAY_TEST_CUSTOM_SCRIPTS"
_ROW = re.compile(r"^\| (?P<name>[\w.]+\.js) \| (?P<url>https://\S+) \| (?P<sha>[0-9a-f]{64}) \|$")


def manifest() -> dict[str, tuple[str, str]]:
    """Each script's name -> (its GitHub URL at a commit, its SHA-256)."""
    rows = (_ROW.match(line) for line in MANIFEST.read_text().splitlines())
    return {m["name"]: (m["url"], m["sha"]) for m in rows if m}


def published_script(name: str) -> str:
    """The text of the published script ``name``, from ``GATEWAY_TEST_CUSTOM_SCRIPTS``;
    the test skips without that folder (CI has no copy: it cannot download one), and fails
    when the file there is not the listed one."""
    folder = os.environ.get(FOLDER_ENV, "").strip()
    if not folder:
        pytest.skip(
            f"{FOLDER_ENV} is not set: Sentinel Hub's published scripts are third-party code,"
            " not in this repository (scripts/fetch_custom_scripts.py DIR downloads them)"
        )
    path = Path(folder) / name
    if not path.is_file():
        pytest.skip(f"{path} is missing (scripts/fetch_custom_scripts.py {folder})")
    data = path.read_bytes()
    _, expected = manifest()[name]
    assert hashlib.sha256(data).hexdigest() == expected, f"{path} is not the listed version"
    return data.decode()
