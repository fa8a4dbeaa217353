"""What each caller may spend, and under which key its spending is counted.

The caller is read from ``scope["gateway.caller"]`` (set by the authentication middleware:
an object with ``id`` and ``kind``), duck-typed; without one, or with ``kind`` "anonymous",
the request is anonymous: counted under ``anonymous``, or under its client address when
anonymous callers are counted one by one. Budgets: the settings' defaults for anonymous and
for authenticated callers, and per caller id from an overrides file (YAML or JSON)::

    callers:
      alice: {requests_per_minute: 600, units_per_day: null, units_per_month: 50000}

A limit left out of an override is the authenticated default; ``null`` is no limit.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from starlette.types import Scope

from gateway import yamlio

ANONYMOUS = "anonymous"
CALLER_SCOPE_KEY = "gateway.caller"
_SAFE_KEY = re.compile(r"[A-Za-z0-9._:@-]{1,64}")


@dataclass(frozen=True)
class Budget:
    """Limits of one caller (None: no limit); units in processing units."""

    requests_per_minute: int | None = None
    units_per_day: float | None = None
    units_per_month: float | None = None

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if value is not None and not value >= 0:
                raise ValueError(f"{item.name} must be a number >= 0 or null, not {value!r}")


@dataclass(frozen=True)
class Caller:
    """Whom a request's spending is counted for (``key``: a safe token) and its budget."""

    key: str
    budget: Budget
    anonymous: bool


class Budgets:
    """The caller and budget of each request."""

    def __init__(
        self,
        anonymous: Budget,
        authenticated: Budget,
        overrides: Mapping[str, Budget] | None = None,
        *,
        anonymous_by_address: bool = False,
    ) -> None:
        self.anonymous = anonymous
        self.authenticated = authenticated
        self.overrides = dict(overrides or {})
        self.anonymous_by_address = anonymous_by_address

    def of(self, scope: Scope) -> Caller:
        caller = scope.get(CALLER_SCOPE_KEY)
        ident = getattr(caller, "id", None)
        kind = getattr(caller, "kind", None)
        if caller is None or kind == ANONYMOUS or not isinstance(ident, str) or not ident:
            client = scope.get("client")
            if self.anonymous_by_address and client:
                return Caller(safe_key(f"{ANONYMOUS}@{client[0]}"), self.anonymous, True)
            return Caller(ANONYMOUS, self.anonymous, True)
        budget = self.overrides.get(ident, self.authenticated)
        return Caller(safe_key(f"{kind or 'caller'}:{ident}"), budget, False)


def safe_key(text: str) -> str:
    """``text`` as a Redis key part: itself when short and plain, else a hash of it."""
    if _SAFE_KEY.fullmatch(text):
        return text
    return "h." + hashlib.sha256(text.encode()).hexdigest()[:32]


def load_overrides(path: Path, default: Budget) -> dict[str, Budget]:
    """Per-caller budgets from a YAML or JSON file (JSON is YAML); see the module docs."""
    data: Any = yamlio.load(path.read_text(encoding="utf-8")) or {}
    callers = data.get("callers", {}) if isinstance(data, dict) else None
    if not isinstance(callers, dict):
        raise ValueError(f"{path}: expected a mapping 'callers: {{id: {{limits}}}}'")
    known = {item.name for item in fields(Budget)}
    budgets: dict[str, Budget] = {}
    for ident, limits in callers.items():
        if not isinstance(limits, dict) or not set(limits) <= known:
            raise ValueError(f"{path}: caller {ident!r}: limits are {', '.join(sorted(known))}")
        budgets[str(ident)] = replace(default, **limits)
    return budgets
