"""``gateway.reload``: a request runs to its end on the doors it started on, replaced doors
close once, after their last request; a failed rebuild keeps the doors; the catalog stamp and
``OwnCollections`` see an ingest, pass over a document no layer comes from, and look at a
STAC API only when asked (no gateway started: fake doors)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any, cast

import pytest

from gateway.byod.collections import catalog_stamp
from gateway.config import load_config
from gateway.reload import Generation, OwnCollections, Reloading
from gateway.runtime import Runtime, build_runtime, watches_collections
from gateway.settings import Settings
from tests.support.ports import free_port


class Doors:
    """A fake generation's app: answers its name; a request waits for ``release`` first."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.closed = threading.Event()
        self.close_calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.started.set()
        if scope.get("wait"):
            await self.release.wait()
        await send(self.name)

    def close(self) -> None:
        self.close_calls += 1
        self.closed.set()

    def generation(self) -> Generation:
        return Generation(self, cast(Runtime, self.name), self.close)


async def ask(app: Reloading, wait: bool = False) -> str:
    answers: list[str] = []

    async def send(message: Any) -> None:
        answers.append(message)

    await app({"type": "http", "wait": wait}, None, send)
    return answers[0]


async def nothing(runtime: Runtime) -> None:
    return None


def test_a_request_in_flight_ends_on_its_doors_which_then_close():
    async def scenario() -> None:
        old, new = Doors("old"), Doors("new")
        app = Reloading(old.generation(), None, 1.0, nothing)
        slow = asyncio.create_task(ask(app, wait=True))
        await old.started.wait()
        app.swap(new.generation())
        assert await ask(app) == "new"  # new requests: the new doors
        assert old.close_calls == 0  # one request still under way on the old ones
        old.release.set()
        assert await slow == "old"
        assert await asyncio.to_thread(old.closed.wait, 5)
        assert old.close_calls == 1 and new.close_calls == 0

    asyncio.run(scenario())


def test_idle_doors_close_at_once_and_a_failed_rebuild_keeps_the_doors(caplog):
    async def scenario() -> None:
        first, second = Doors("first"), Doors("second")
        calls = []

        def rebuild(runtime: Runtime) -> Generation | None:
            calls.append(runtime)
            if len(calls) == 1:
                raise ValueError("a collection.json that is not one")
            return second.generation()

        clock = [0.0]
        app = Reloading(first.generation(), rebuild, 5.0, nothing, clock=lambda: clock[0])
        assert await ask(app) == "first"
        assert calls == []  # not yet due
        clock[0] = 5.0
        assert await ask(app) == "first"  # the check runs in the background
        await asyncio.to_thread(_wait_for, lambda: "failed" in caplog.text)
        assert await ask(app) == "first" and calls == ["first"]  # not due again yet
        clock[0] = 10.0
        await ask(app)
        assert await asyncio.to_thread(first.closed.wait, 5)
        assert await ask(app) == "second" and app.runtime == "second"

    asyncio.run(scenario())


def test_shutdown_closes_the_doors_and_a_late_rebuild_is_closed_too():
    async def scenario() -> None:
        current, late = Doors("current"), Doors("late")
        stopped: list[Runtime] = []

        async def shutdown(runtime: Runtime) -> None:
            stopped.append(runtime)

        app = Reloading(current.generation(), None, 1.0, shutdown)
        messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
        sent: list[dict] = []

        async def receive() -> dict:
            return next(messages)

        async def send(message: dict) -> None:
            sent.append(message)

        await app({"type": "lifespan"}, receive, send)
        assert [m["type"] for m in sent] == [
            "lifespan.startup.complete",
            "lifespan.shutdown.complete",
        ]
        assert current.close_calls == 1 and stopped == ["current"]
        app.swap(late.generation())  # a rebuild that ends after the shutdown
        assert await asyncio.to_thread(late.closed.wait, 5)
        assert app.runtime == "current"

    asyncio.run(scenario())


def _wait_for(condition: Any, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_own_collections_follow_the_catalog(tmp_path: Path):
    """A collection document written: the stamp changes, the configuration has its layer;
    emptied (its last item removed): the layer is gone; unchanged: nothing to do."""
    stac = tmp_path / "stac"
    (stac / "collections").mkdir(parents=True)
    settings = Settings(data_dir=tmp_path, sample_data=False, stac_url=None)
    given = load_config(settings.config_file)
    runtime = cast(Runtime, type("R", (), {"given_config": given, "settings": settings})())
    own = OwnCollections(runtime)
    assert own.changed(given) is None and catalog_stamp(stac) == ()
    folder = stac / "collections" / "mine"
    folder.mkdir()
    bands = [{"name": "b1", "statistics": {"minimum": 0, "maximum": 9}}]
    document = {"id": "mine", "gateway:byod": True, "summaries": {"bands": bands}}
    (folder / "collection.json").write_text(json.dumps(document))
    config = own.changed(given)
    assert config is not None and config.layer("MINE") is not None
    assert own.changed(config) is None  # the same stamp: not read again
    document["summaries"] = {}
    (folder / "collection.json").write_text(json.dumps(document) + " ")
    assert own.changed(config) == given


@pytest.mark.parametrize("content", ["{not json", json.dumps({"gateway:byod": True})])
def test_a_broken_collection_document_is_passed_over(tmp_path: Path, content: str):
    folder = tmp_path / "stac" / "collections" / "broken"
    folder.mkdir(parents=True)
    (folder / "collection.json").write_text(content)
    settings = Settings(data_dir=tmp_path, sample_data=False, stac_url=None)
    given = load_config(settings.config_file)
    runtime = cast(Runtime, type("R", (), {"given_config": given, "settings": settings})())
    assert OwnCollections(runtime).changed(given) is None


def test_a_collection_no_layer_comes_from_is_passed_over_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    """Band statistics without a maximum: at start-up and on a rebuild the collection is left
    out with a warning naming it and why; the others are served."""
    stac = tmp_path / "stac" / "collections"
    stats = {"good": {"minimum": 0, "maximum": 9}, "bad": {"minimum": 0}}
    for name, statistics in stats.items():
        (stac / name).mkdir(parents=True)
        bands = [{"name": "b1", "statistics": statistics}]
        document = {"id": name, "gateway:byod": True, "summaries": {"bands": bands}}
        (stac / name / "collection.json").write_text(json.dumps(document))
    settings = Settings(data_dir=tmp_path, sample_data=False, stac_url=None, redis_url=None)
    with caplog.at_level(logging.WARNING, logger="gateway.byod.collections"):
        runtime = build_runtime(settings)  # start-up
    try:
        assert runtime.config.layer("GOOD") is not None and runtime.config.layer("BAD") is None
        assert "bad" not in {c.id for c in runtime.config.collections}
        warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warned) == 1 and "collection bad " in warned[0] and "maximum" in warned[0]
        caplog.clear()
        given = runtime.given_config
        assert given is not None
        with caplog.at_level(logging.WARNING, logger="gateway.byod.collections"):
            config = OwnCollections(runtime).changed(given)  # a rebuild
        assert config is not None and config.layer("GOOD") is not None
        assert config.layer("BAD") is None
        warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warned) == 1 and "collection bad " in warned[0]
    finally:
        runtime.close()


def test_a_stac_api_is_looked_at_only_when_asked_and_its_failures_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    """Without ``stac_collections_check_s`` a gateway on a STAC API does not look; with it,
    an API that does not answer leaves the doors as they are, logged once."""
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    assert not watches_collections(Settings(data_dir=tmp_path, stac_url=url))
    settings = Settings(
        data_dir=tmp_path, sample_data=False, stac_url=url, stac_collections_check_s=2,
        stac_timeout_s=2,
    )  # fmt: skip
    assert watches_collections(settings)
    given = load_config(settings.config_file)
    runtime = cast(Runtime, type("R", (), {"given_config": given, "settings": settings})())
    own = OwnCollections(runtime)
    assert own.every_s == 2
    with caplog.at_level(logging.WARNING, logger="gateway.reload"):
        assert own.changed(given) is None and own.changed(given) is None
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "GET /collections" in warned[0] and url not in warned[0]
