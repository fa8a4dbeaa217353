"""Pytest fixtures around a throwaway Redis (loaded through ``pytest_plugins``)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
import redis

from tests.support.external import unavailable
from tests.support.redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A ``redis-server`` on a free port of 127.0.0.1 for the whole session.

    Tests that ``stop()`` it should ``start()`` it again; it is skipped when redis-server is
    not installed (a failure under CI).
    """
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client of the session's redis-server (started again if a test left it stopped)."""
    redis_server.start()
    with redis.Redis.from_url(redis_server.url) as client:
        yield client
