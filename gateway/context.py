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
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class RequestContext:
    """``params``: the query parameters as the door hands them on (the WMS/WMTS door's names
    upper-cased); ``caller``: the authenticated identity, None without one."""

    params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    caller: str | None = None

    def param(self, name: str) -> str | None:
        """A query parameter, its name compared case-insensitively."""
        wanted = name.lower()
        return next((v for k, v in self.params.items() if k.lower() == wanted), None)


_OUTSIDE = RequestContext()  # frozen, its params read-only
_CURRENT: ContextVar[RequestContext] = ContextVar("gateway_request", default=_OUTSIDE)


def current() -> RequestContext:
    """The context of the request being answered (empty outside one)."""
    return _CURRENT.get()


@contextmanager
def answering(params: Mapping[str, str], caller: str | None = None) -> Iterator[RequestContext]:
    """The request's context, for the calls made inside the ``with`` block."""
    context = RequestContext(MappingProxyType(dict(params)), caller)
    token = _CURRENT.set(context)
    try:
        yield context
    finally:
        _CURRENT.reset(token)
