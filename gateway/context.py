"""The request being answered, for the plugins a framework calls without it.

pygeoapi hands its providers and its job manager a fixed set of arguments; MapProxy hands its
sources an area and a size. The door that receives a request enters its context
(``answering``) around the framework's call, in the thread that runs it, and the plugins read
it (``current``). The value lives in a ``ContextVar``: each request's own, reset when its call
ends, and carried into the threads the doors run the frameworks in (``asyncio.to_thread`` and
a2wsgi's WSGI threads run each call in a copy of the caller's context). A thread a framework
starts itself does not inherit it: MapProxy renders a request's layers in the request's own
thread (``concurrent_layer_renderer`` 1, its default), pygeoapi calls providers in the thread
it is called in.

The request id (``request_id_for``, ``current_request_id``) is set by the HTTP edge for the
whole request, returned in ``X-Request-ID`` and put on every log record (``gateway.logs``). A
client's own ``X-Request-ID`` (a proxy's, usually) is kept when it is a short token of safe
characters, so one id follows the request through the proxy's logs and ours; anything else is
replaced (a header must not put arbitrary text into our logs).

The meter (``metering``, ``charge``) counts the processing units a request spends: the quota
middleware (``gateway.edge.quotas``) sets one around the request, the engine charges it for
each render (``gateway.core.units``) and each answer from its cache, whatever door asked.
Threads carry it as they carry the request's context: one ``Meter`` object, shared.

The caller (``calling_as``) is set by the access middleware (``gateway.access``) for the
whole request: its id, None for the anonymous caller, is every context's ``caller`` unless a
door names another.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class RequestContext:
    """``params``: the query parameters as the door hands them on (the WMS/WMTS door's names
    upper-cased); ``caller``: the authenticated identity, None without one; ``failures``: the
    errors a framework could not answer with itself (MapProxy's feature info), for the door's
    wrapper to answer with."""

    params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    caller: str | None = None
    failures: list[Exception] = field(default_factory=list, compare=False)

    def param(self, name: str) -> str | None:
        """A query parameter, its name compared case-insensitively."""
        wanted = name.lower()
        return next((v for k, v in self.params.items() if k.lower() == wanted), None)


_OUTSIDE = RequestContext()  # frozen, its params read-only
_CURRENT: ContextVar[RequestContext] = ContextVar("gateway_request", default=_OUTSIDE)


_CALLER: ContextVar[str | None] = ContextVar("gateway_caller_id", default=None)


def current() -> RequestContext:
    """The context of the request being answered (empty outside one, but for its caller)."""
    context = _CURRENT.get()
    if context is _OUTSIDE and _CALLER.get() is not None:
        return RequestContext(caller=_CALLER.get())
    return context


@contextmanager
def within[T](variable: ContextVar[T], value: T) -> Iterator[T]:
    """``variable`` is ``value`` for the calls made inside the ``with`` block (every
    per-request value of the gateway is set this way)."""
    token = variable.set(value)
    try:
        yield value
    finally:
        variable.reset(token)


def calling_as(caller: str | None) -> AbstractContextManager[str | None]:
    """``caller`` is the request's caller (its id; None: anonymous) inside the block."""
    return within(_CALLER, caller)


def answering(
    params: Mapping[str, str], caller: str | None = None
) -> AbstractContextManager[RequestContext]:
    """The request's context, for the calls made inside the ``with`` block (``caller``: the
    request's, ``calling_as``, unless given)."""
    caller = caller if caller is not None else _CALLER.get()
    return within(_CURRENT, RequestContext(MappingProxyType(dict(params)), caller))


REQUEST_ID_HEADER = b"x-request-id"
NO_REQUEST = "-"  # the id on records written outside any request
_SAFE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_REQUEST_ID: ContextVar[str] = ContextVar("gateway_request_id", default=NO_REQUEST)


def request_id_for(sent: bytes | None) -> str:
    """The id of a request whose client sent ``sent`` as its id (None: no header)."""
    if sent is not None and _SAFE_ID.fullmatch(sent):
        return sent.decode("ascii")
    return uuid.uuid4().hex


def current_request_id() -> str:
    """The id of the request being answered (``NO_REQUEST`` elsewhere)."""
    return _REQUEST_ID.get()


def requesting(request_id: str) -> AbstractContextManager[str]:
    """``request_id`` is the current request's id inside the block."""
    return within(_REQUEST_ID, request_id)


class Meter:
    """The processing units one request has spent: rendered, and served from the cache (which
    count ``cached_fraction`` of their rendered cost). Thread-safe."""

    def __init__(self, cached_fraction: float = 1.0) -> None:
        self.cached_fraction = cached_fraction
        self.rendered = 0.0
        self.cached = 0.0  # the rendered cost of what came from the cache
        self._lock = threading.Lock()

    def charge(self, units: float, *, cached: bool = False) -> None:
        with self._lock:
            if cached:
                self.cached += units
            else:
                self.rendered += units

    @property
    def spent(self) -> float:
        """What the request costs its caller."""
        with self._lock:
            return self.rendered + self.cached * self.cached_fraction


_METER: ContextVar[Meter | None] = ContextVar("gateway_meter", default=None)


def metering(meter: Meter) -> AbstractContextManager[Meter | None]:
    """``meter`` counts what the calls made inside the ``with`` block spend."""
    return within(_METER, meter)


def charge(units: float, *, cached: bool = False) -> None:
    """Charge the current request's meter (nothing outside a metered request)."""
    meter = _METER.get()
    if meter is not None:
        meter.charge(units, cached=cached)
