"""The caller of a request, and the caller current in the code that answers it."""

from __future__ import annotations

from contextlib import AbstractContextManager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Literal

from gateway.access.grants import EVERYTHING, NOTHING, Grant
from gateway.context import within

Kind = Literal["anonymous", "key", "token", "basic"]
ANONYMOUS_ID = "anonymous"


@dataclass(frozen=True)
class Caller:
    """``id``: stable per key (``key:<id>``), token subject (``oidc:<sub>``) or user
    (``basic:<name>``), ``anonymous`` for every caller without credentials (the rate limits
    and the job owners count by it)."""

    id: str
    kind: Kind
    grant: Grant = field(default=EVERYTHING)

    @property
    def owner(self) -> str | None:
        """Who owns the jobs this caller starts: nobody for the anonymous caller (whose jobs
        are reachable through their unguessable ids, and listed to nobody)."""
        return None if self.kind == "anonymous" else self.id


ANONYMOUS = Caller(ANONYMOUS_ID, "anonymous")  # access control off: may use everything
# Access control on, on a path open to all, without credentials that are valid or allowed
# anything: may use nothing (the viewer's layers.json lists none).
NOBODY = Caller(ANONYMOUS_ID, "anonymous", NOTHING)
_CURRENT: ContextVar[Caller] = ContextVar("gateway_caller", default=ANONYMOUS)


def current_caller() -> Caller:
    """The caller of the request being answered (``ANONYMOUS`` outside one)."""
    return _CURRENT.get()


def calling(caller: Caller) -> AbstractContextManager[Caller]:
    """``caller`` is the current caller inside the block."""
    return within(_CURRENT, caller)
