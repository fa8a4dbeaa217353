"""Shared fixtures: the sample archive (written once per session), settings and a runtime."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["tests.support.redis_fixtures", "tests.support.remote_fixtures"]


@pytest.fixture(scope="session")
def sample_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small CDSE-shaped sample archive, written once for the whole test session.

    ``GATEWAY_TEST_SAMPLE_DIR`` names a folder to reuse across sessions (written if it
    is not a complete archive of this version yet): ``gateway.sh test`` (so CI) writes the
    session's in a fresh folder while the rest of the set-up, ruff and mypy run.
    """
    from tests.support.sample_dir import ensure_sample

    reuse = os.environ.get("GATEWAY_TEST_SAMPLE_DIR")
    return ensure_sample(Path(reuse) if reuse else tmp_path_factory.mktemp("sample-archive"))


@pytest.fixture(scope="session")
def sample_settings(sample_archive: Path):
    """Settings of the embedded default pointed at the session's sample archive."""
    from gateway.settings import Settings

    return Settings(
        data_dir=sample_archive, sample_data=False, redis_url=None, stac_url=None, storage="local"
    )


@pytest.fixture(scope="session")
def runtime(sample_settings):
    """An engine on the sample archive with an in-process cache."""
    from gateway.runtime import build_runtime

    built = build_runtime(sample_settings)
    yield built
    built.close()


@pytest.fixture(scope="session", autouse=True)
def _no_threads_outlive_the_session():
    """Dask clients and clusters started by the processes' tests are closed with the session
    (their threads and worker processes otherwise die at interpreter exit, printing
    "Error in sys.excepthook")."""
    yield
    from gateway.processes.cluster import close_clients

    close_clients()
