"""Pytest fixtures of the CDSE-shaped stand-ins (loaded through ``pytest_plugins``): moto's S3
server with the sample's ``eodata`` bucket and stac-fastapi-pgstac with its catalog, started
once per session on 127.0.0.1 behind counting proxies, and a runtime reading them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.runtime import Runtime, build_runtime
from gateway.settings import Settings
from tests.support.s3_server import S3Server, start_s3
from tests.support.stac_api import StacApi, start_stac_api


@pytest.fixture(scope="session")
def s3(sample_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = start_s3(sample_archive / "eodata", tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def stac(sample_archive: Path) -> Iterator[StacApi]:
    api = start_stac_api(sample_archive / "stac")
    yield api
    api.stop()


def remote_settings(s3: S3Server, stac: StacApi, data_dir: Path, **extra) -> Settings:
    """Settings of a gateway reading the stand-ins, as one reads CDSE (``extra`` added)."""
    return Settings(
        data_dir=data_dir,
        stac_url=stac.url,
        storage="s3",
        s3_endpoint=s3.endpoint,
        s3_https=False,
        s3_virtual_hosting=False,
        s3_access_key_id="test",
        s3_secret_access_key="test",
        s3_region="us-east-1",
        sample_data=False,
        redis_url=None,
        **extra,
    )


@pytest.fixture(scope="session")
def remote(s3: S3Server, stac: StacApi, tmp_path_factory: pytest.TempPathFactory):
    """An engine reading S3 + STAC API, as against CDSE (its data folder is empty)."""
    built = build_runtime(remote_settings(s3, stac, tmp_path_factory.mktemp("remote-data")))
    yield built
    built.close()


def fresh_remote(s3: S3Server, stac: StacApi, tmp_path: Path) -> Runtime:
    """A runtime of its own on the stand-ins (its own caches and COG copies)."""
    return build_runtime(remote_settings(s3, stac, tmp_path))
