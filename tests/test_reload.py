"""``gateway.reload``: a request runs to its end on the doors it started on, replaced doors
close once, after their last request; a failed rebuild keeps the doors; the catalog stamp and
``OwnCollections`` see an ingest (no gateway started: fake doors)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any, cast

import pytest

from gateway.byod.collections import catalog_stamp
from gateway.reload import Generation, OwnCollections, Reloading
from gateway.runtime import Runtime
from gateway.settings import Settings


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
    from gateway.config import load_config

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
    from gateway.config import load_config

    folder = tmp_path / "stac" / "collections" / "broken"
    folder.mkdir(parents=True)
    (folder / "collection.json").write_text(content)
    settings = Settings(data_dir=tmp_path, sample_data=False, stac_url=None)
    given = load_config(settings.config_file)
    runtime = cast(Runtime, type("R", (), {"given_config": given, "settings": settings})())
    assert OwnCollections(runtime).changed(given) is None
