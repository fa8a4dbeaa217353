"""A process run as independent tasks and one combining step, executed here or on Dask."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.runtime import Runtime, build_runtime
from gateway.settings import Settings

Task = tuple[Callable[..., Any], tuple[Any, ...]]
Progress = Callable[[int, int], None]

_RUNTIMES: dict[str, Runtime] = {}


def _key(settings: Settings) -> str:
    return settings.model_dump_json()


def remember_runtime(runtime: Runtime) -> None:
    """Let tasks run in this process reuse an existing runtime for the same settings."""
    _RUNTIMES[_key(runtime.settings)] = runtime


def worker_runtime(settings: Settings) -> Runtime:
    """The runtime of ``settings`` in this process (built once per worker process)."""
    key = _key(settings)
    if key not in _RUNTIMES:
        _RUNTIMES[key] = build_runtime(settings)
    return _RUNTIMES[key]


@dataclass
class Plan:
    """``tasks`` run anywhere (picklable functions and arguments); ``combine`` joins their
    results, in task order, into ``(media type, payload)``. ``units``: the processing units
    the tasks' renders cost (what a caller is charged for a job run elsewhere)."""

    tasks: list[Task]
    combine: Callable[[Sequence[Any]], tuple[str, Any]]
    labels: list[str] = field(default_factory=list)
    units: float = 0.0


def run_here(plan: Plan, progress: Progress | None = None) -> tuple[str, Any]:
    """Run every task in this thread, in order (synchronous execution)."""
    results = []
    for done, (func, args) in enumerate(plan.tasks, start=1):
        results.append(func(*args))
        if progress:
            progress(done, len(plan.tasks))
    return plan.combine(results)


def run_on_dask(client: Any, plan: Plan, progress: Progress | None = None) -> tuple[str, Any]:
    """Run the tasks in parallel on a Dask cluster, then combine them here."""
    from distributed import as_completed

    futures = [client.submit(func, *args, pure=False) for func, args in plan.tasks]
    order = {future.key: index for index, future in enumerate(futures)}
    results: list[Any] = [None] * len(futures)
    for done, future in enumerate(as_completed(futures, loop=client.loop), start=1):
        results[order[future.key]] = future.result()
        if progress:
            progress(done, len(futures))
    return plan.combine(results)
