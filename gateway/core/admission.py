"""Admission of large renders: a bounded pool per process, shared by every door.

A render whose work (output pixels x bands read x scenes that may be read) reaches
``min_work`` takes one of ``slots`` places before it reads a pixel; up to ``queue`` more wait
at most ``wait_s`` for one; beyond that the request is refused with ``ServiceBusy`` (503,
which the HTTP edge sends with ``Retry-After``). Tile renders asked from the event loop, and
seeding, are exempt: the tile service bounds the first itself (``gateway/core/tiles/service.py``,
``RENDER_THREADS``, its renders marked ``exempt``).

The place is held by the request, not by a thread: a ``Ticket`` lives in a context variable
for the whole request (the HTTP edge opens one per request; the engine opens one per call
outside a request), threads working for the request see the same ticket (asyncio, anyio and
a2wsgi copy the context into them), and the place is given back when the ticket closes.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar, Token

from gateway.errors import GatewayError


class ServiceBusy(GatewayError):
    """Every render place and queue place of this process is taken: try again later."""

    code = "NoApplicableCode"
    status = 503


class Admission:
    """At most ``slots`` large renders at once, ``queue`` more waiting up to ``wait_s``."""

    def __init__(
        self, *, slots: int = 2, queue: int = 4, wait_s: float = 30.0, min_work: int = 1 << 24
    ) -> None:
        self.slots = slots
        self.queue = queue
        self.wait_s = wait_s
        self.min_work = min_work
        self._running = 0
        self._waiting = 0
        self._changed = threading.Condition()

    def acquire(self) -> None:
        """Take a place, waiting in the queue if there is room in it; else ServiceBusy."""
        with self._changed:
            if self._running < self.slots:
                self._running += 1
                return
            if self._waiting >= self.queue:
                raise ServiceBusy("the server is busy with large requests; try again later")
            self._waiting += 1
            deadline = time.monotonic() + self.wait_s
            try:
                while self._running >= self.slots:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise ServiceBusy("the server is busy with large requests; try again later")
                    self._changed.wait(left)
                self._running += 1
            finally:
                self._waiting -= 1

    def state(self) -> dict[str, int]:
        """Places taken and requests waiting now, for ``/healthz``."""
        with self._changed:
            return {"slots": self.slots, "running": self._running, "waiting": self._waiting}

    def release(self) -> None:
        with self._changed:
            self._running -= 1
            self._changed.notify()

    def admit(self, work: int) -> None:
        """Hold a place for the current request if ``work`` is large (once per request)."""
        ticket = _TICKET.get()
        if ticket is not None and work >= self.min_work:
            ticket.hold(self)


class Ticket:
    """One request's claim on the pool: at most one place, given back by ``close``; also the
    time the request has waited in line for remote quotas, and whether one refused it
    (``gateway.core.upstream``)."""

    __slots__ = ("_held", "_lock", "exempt", "quota_refused", "quota_waited_s")

    def __init__(self) -> None:
        self.exempt = False
        self.quota_waited_s = 0.0
        self.quota_refused = False
        self._held: Admission | None = None
        self._lock: threading.Lock | None = None  # made by the first hold (most never do)

    def hold(self, admission: Admission) -> None:
        if self.exempt or self._held is not None:
            return
        with _LOCKS:
            if self._lock is None:
                self._lock = threading.Lock()
        with self._lock:  # the request's threads take one place between them
            if not self.exempt and self._held is None:
                admission.acquire()
                self._held = admission

    def close(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.release()


_TICKET: ContextVar[Ticket | None] = ContextVar("gateway_admission_ticket", default=None)


def current_ticket() -> Ticket | None:
    """The current request's ticket (None outside a request)."""
    return _TICKET.get()


_LOCKS = threading.Lock()


class RequestTicket:
    """``with RequestTicket():`` the current request's ticket, or a new one for the block
    (closed at its end). A class, not a generator: the HTTP edge opens one per request."""

    __slots__ = ("_token", "ticket")

    _token: Token[Ticket | None] | None

    def __enter__(self) -> Ticket:
        current = _TICKET.get()
        if current is not None:
            self._token = None
            self.ticket = current
        else:
            self.ticket = Ticket()
            self._token = _TICKET.set(self.ticket)
        return self.ticket

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _TICKET.reset(self._token)
            self.ticket.close()


def exempt[**P, R](render: Callable[P, R]) -> Callable[P, R]:
    """Decorate a tile render: it takes no place (tiles have their own limit, and seeding
    runs them outside any request), nor does the request it serves."""

    @functools.wraps(render)
    def exempted(*args: P.args, **kwargs: P.kwargs) -> R:
        with RequestTicket() as ticket:
            ticket.exempt = True
            return render(*args, **kwargs)

    return exempted
