"""Sentinel Hub's published custom scripts (the evalscript acceptance corpus), read from
outside the repository: they are third-party code (tests/fixtures/evalscripts/SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

from tests.support.listed_files import ListedFiles

SCRIPTS = ListedFiles(
    manifest=Path(__file__).resolve().parents[1] / "fixtures" / "evalscripts" / "SOURCES.md",
    folder_env="GATEWAY_TEST_CUSTOM_SCRIPTS",
    what="Sentinel Hub's published scripts",
    fetcher="scripts/fetch_custom_scripts.py",
)


def manifest() -> dict[str, tuple[str, str]]:
    """Each script's name -> (its GitHub URL at a commit, its SHA-256)."""
    return SCRIPTS.listed()


def published_script(name: str) -> str:
    """The text of the published script ``name``, from ``GATEWAY_TEST_CUSTOM_SCRIPTS``."""
    return SCRIPTS.read(name).decode()
