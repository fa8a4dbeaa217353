"""The event loop first (gateway.priority): in a served worker, the threads that render run at
GATEWAY_THREAD_NICE and the loop thread at its own priority; the switch interval is the
setting's."""

from __future__ import annotations

import os
import sys
import threading
import time

import httpx
import morecantile
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.core.tiles.service import LOOKUP_THREADS
from gateway.priority import lower, thread_nice
from gateway.settings import Settings
from tests.support.gateway_server import GatewayServer

DAY = "2025-06-13"
NICE = 7


def _cpu_ticks(pid: int) -> dict[int, int]:
    """Each thread of ``pid``: user + system clock ticks spent."""
    ticks = {}
    for name in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks[int(name)] = int(fields[11]) + int(fields[12])
    return ticks


def _nice(pid: int, tid: int) -> int:
    with open(f"/proc/{pid}/task/{tid}/stat", "rb") as stat:
        return int(stat.read().rsplit(b")", 1)[1].split()[16])


def _tile_paths(area: tuple[float, float, float, float], z: int, count: int) -> list[str]:
    """``count`` tiles of zoom ``z`` inside ``area``, each of its own 4x4 block."""
    tms = morecantile.tms.get("WebMercatorQuad")
    west, south, east, north = area
    first, last = tms.tile(west, north, z), tms.tile(east, south, z)
    tiles = [(x, y) for x in range(first.x, last.x + 1, 4) for y in range(first.y, last.y + 1, 4)]
    return [f"/wmts/1.0.0/NDVI/WebMercatorQuad/{DAY}/{z}/{x}/{y}.png" for x, y in tiles[:count]]


def test_render_threads_run_niced_and_the_loop_thread_not(sample_archive, tmp_path):
    from tests.support.expected import load_items

    env = {"GATEWAY_DATA_DIR": str(sample_archive), "GATEWAY_THREAD_NICE": str(NICE)}
    server = GatewayServer(env, tmp_path / "server.log").start()  # one worker: the pid
    assert server.process is not None
    pid = server.process.pid
    item = load_items(sample_archive, "sentinel-2-l2a")[0]
    west, south, east, north = item["bbox"]
    middle = (west + (east - west) / 4, south + (north - south) / 4)
    area = (middle[0], middle[1], middle[0] + 0.1, middle[1] + 0.1)
    paths = _tile_paths(area, 14, 4)
    try:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            before = _cpu_ticks(pid)
            for path in paths:
                answer = client.get(path)
                assert answer.status_code == 200, answer.text[:300]
                assert answer.headers["x-cache"] == "miss"
            time.sleep(1.5)  # a new thread is lowered within a second
            after = _cpu_ticks(pid)
            niced = {tid: _nice(pid, tid) for tid in after}
    finally:
        server.stop()
    spent = {tid: after[tid] - before.get(tid, 0) for tid in after if tid != pid}
    busiest = max(spent, key=spent.__getitem__)
    assert spent[busiest] >= 5, spent  # the renders ran in a thread of their own
    assert niced[busiest] == NICE, (busiest, niced)
    started = os.getpriority(os.PRIO_PROCESS, 0)  # the server's, inherited from this one
    assert started < NICE
    assert niced[pid] == started  # the main thread runs the event loop
    # Every other thread lowered but the tile service's hit lookups (each tile asked first
    # went to one: its key was not known yet).
    kept = [tid for tid, n in niced.items() if tid != pid and n != NICE]
    assert 1 <= len(kept) <= LOOKUP_THREADS and {niced[tid] for tid in kept} == {started}, niced
    assert len(niced) - len(kept) - 1 >= 5, niced  # uvicorn's, anyio's, MapProxy's threads...


def test_a_thread_is_lowered_not_raised():
    """``lower`` sets a thread's nice value upwards only (raising needs a privilege)."""
    ready, done = threading.Event(), threading.Event()
    tids: list[int] = []

    def idle() -> None:
        tids.append(threading.get_native_id())
        ready.set()
        done.wait(10)

    thread = threading.Thread(target=idle)
    thread.start()
    try:
        ready.wait(10)
        before = thread_nice(threading.get_native_id())
        lower(tids[0], before + 3)
        assert thread_nice(tids[0]) == before + 3
        lower(tids[0], before + 1)
        assert thread_nice(tids[0]) == before + 3
        assert thread_nice(threading.get_native_id()) == before  # this thread untouched
    finally:
        done.set()
        thread.join()


def test_the_switch_interval_is_set_when_the_app_starts(sample_archive, tmp_path):
    settings = Settings(
        data_dir=sample_archive, sample_data=False, output_dir=tmp_path, switch_interval_ms=0.5
    )
    app = create_app(settings)
    python_default = sys.getswitchinterval()
    try:
        assert python_default != 0.0005
        with TestClient(app) as client:
            assert sys.getswitchinterval() == 0.0005
            assert client.get("/healthz").status_code == 200
    finally:
        sys.setswitchinterval(python_default)
