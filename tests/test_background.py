"""Work off the request path (``gateway.core.background``): each key once, a bounded queue."""

from __future__ import annotations

import logging
import threading
import time

from gateway.core.background import Activity, BackgroundQueue


def test_a_key_waiting_or_running_is_not_queued_again():
    queue = BackgroundQueue("test-jobs")
    started, release = threading.Event(), threading.Event()
    runs: list[str] = []

    def job(name: str):
        def run() -> None:
            runs.append(name)
            started.set()
            release.wait(5)

        return run

    assert queue.submit("a", job("a"))
    assert started.wait(5)
    assert not queue.submit("a", job("a again"))  # running: queued already
    assert queue.submit("b", job("b"))
    assert not queue.submit("b", job("b again"))  # waiting: queued already
    assert queue.pending() == 2
    release.set()
    queue.close()
    assert runs == ["a", "b"] and queue.pending() == 0
    assert queue.submit("a", job("a later"))  # done: it may be asked again
    queue.close()
    assert runs[-1] == "a later"


def test_beyond_max_waiting_a_job_is_dropped():
    queue = BackgroundQueue("test-jobs", max_waiting=2)
    release = threading.Event()
    runs: list[int] = []
    for key in range(5):
        queue.submit(str(key), lambda key=key: (release.wait(5), runs.append(key)))
    assert queue.pending() == 2 and queue.dropped == 3
    release.set()
    queue.close()
    assert runs == [0, 1]


def test_a_failed_job_is_logged_without_a_traceback_and_the_next_runs(caplog):
    queue = BackgroundQueue("test-jobs")
    runs: list[str] = []

    def fail() -> None:
        raise OSError("the storage said no")

    with caplog.at_level(logging.WARNING):
        queue.submit("bad", fail)
        queue.submit("good", lambda: runs.append("good"))
        queue.close()
    assert runs == ["good"]
    [record] = [r for r in caplog.records if "the storage said no" in r.getMessage()]
    assert record.getMessage() == "test-jobs: the storage said no" and record.exc_info is None


def test_closing_drops_the_waiting_jobs_and_finishes_the_running_one():
    queue = BackgroundQueue("test-jobs")
    started, release = threading.Event(), threading.Event()
    runs: list[str] = []
    queue.submit("running", lambda: (started.set(), release.wait(5), runs.append("running")))
    queue.submit("waiting", lambda: runs.append("waiting"))
    assert started.wait(5)
    threading.Timer(0.2, release.set).start()
    queue.close(drop_waiting=True)
    assert runs == ["running"] and queue.pending() == 0


def test_a_job_submitted_while_closing_is_kept():
    queue = BackgroundQueue("test-jobs")
    started, release = threading.Event(), threading.Event()
    later_started, later_release = threading.Event(), threading.Event()
    queue.submit("running", lambda: (started.set(), release.wait(5)))
    queue.submit("waiting", lambda: None)
    assert started.wait(5)
    closing = threading.Thread(target=queue.close, kwargs={"drop_waiting": True})
    closing.start()
    deadline = time.monotonic() + 5
    while queue._pool is not None and time.monotonic() < deadline:  # close() has begun
        time.sleep(0.01)
    assert queue.submit("later", lambda: (later_started.set(), later_release.wait(5)))
    assert later_started.wait(5)  # in a thread of its own
    release.set()
    closing.join(5)
    assert not closing.is_alive()
    assert not queue.submit("later", lambda: None)  # still running: still known
    assert queue.submit("waiting", lambda: None)  # cancelled: forgotten
    later_release.set()
    queue.close()
    assert queue.pending() == 0


def test_workers_run_jobs_side_by_side():
    queue = BackgroundQueue("test-jobs", workers=2)
    both = threading.Barrier(2, timeout=5)
    runs: list[str] = []
    for key in ("a", "b"):
        queue.submit(key, lambda key=key: (both.wait(), runs.append(key)))
    queue.close()  # each job waited for the other: they ran at once
    assert sorted(runs) == ["a", "b"]


def test_activity_waits_for_the_work_in_flight_a_bounded_time():
    activity = Activity()
    assert activity.wait_idle(0)
    with activity.busy(), activity.busy():
        started = time.monotonic()
        assert not activity.wait_idle(0.2)
        assert time.monotonic() - started >= 0.19
    ended = threading.Event()
    waited: list[bool] = []

    def wait() -> None:
        waited.append(activity.wait_idle(5))
        ended.set()

    with activity.busy():
        threading.Thread(target=wait).start()
        assert not ended.wait(0.2)  # waiting while the work runs
    assert ended.wait(2) and waited == [True]  # and on as soon as it ended
