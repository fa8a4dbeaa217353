"""Where a request's time goes: catalog, read, band math, encode.

The HTTP edge opens a ``Phases`` for each request (``timing``); the engine's steps add their
wall time to it (``phase``) in whatever thread they run, since the threads the doors hand work
to run in a copy of the request's context, which holds the same ``Phases``. Outside a request
``phase`` costs one context-variable read. The edge logs a slow request with this breakdown.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

CATALOG, READ, BAND_MATH, ENCODE = "catalog", "read", "band math", "encode"


class Phases:
    """Seconds spent per phase by one request (summed over its threads)."""

    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, name: str, seconds: float) -> None:
        with self._lock:
            self._seconds[name] = self._seconds.get(name, 0.0) + seconds

    def seconds(self) -> dict[str, float]:
        with self._lock:
            return dict(self._seconds)

    def summary(self) -> str:
        """``catalog 0.10 s, read 1.90 s`` in the order the phases were first entered."""
        return ", ".join(f"{name} {s:.2f} s" for name, s in self.seconds().items()) or "-"


_CURRENT: ContextVar[Phases | None] = ContextVar("gateway_phases", default=None)


@contextmanager
def timing() -> Iterator[Phases]:
    """A new ``Phases`` that the ``phase`` blocks inside add to."""
    phases = Phases()
    token = _CURRENT.set(phases)
    try:
        yield phases
    finally:
        _CURRENT.reset(token)


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Count the block's wall time as ``name`` for the current request (if any)."""
    phases = _CURRENT.get()
    if phases is None:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        phases.add(name, time.perf_counter() - started)


def timed[**P, R](name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A decorator: every call of the function counts as ``phase(name)``."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with phase(name):
                return function(*args, **kwargs)

        return wrapper

    return decorate
