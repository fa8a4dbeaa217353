"""The windows quotas are counted in: the minute, and the UTC calendar day and month.

A fixed window has an id (part of its counter's key) and an end; every process computes the
same ones from the clock (so replicas' clocks must agree, as NTP keeps them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Window:
    """One fixed window: ``id`` names it, it lasts ``length_s`` and resets at ``end``
    (POSIX seconds)."""

    id: str
    end: float
    length_s: int

    def reset_s(self, now: float) -> int:
        """Whole seconds until the window resets (at least 1)."""
        return max(1, math.ceil(self.end - now))


def minute(now: float) -> Window:
    start = math.floor(now / 60) * 60
    return Window(f"m{start // 60}", start + 60.0, 60)


def day(now: float) -> Window:
    moment = datetime.fromtimestamp(now, UTC)
    start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return Window(f"d{start:%Y%m%d}", start.timestamp() + 86400.0, 86400)


def month(now: float) -> Window:
    moment = datetime.fromtimestamp(now, UTC)
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if start.month == 12:
        following = start.replace(year=start.year + 1, month=1)
    else:
        following = start.replace(month=start.month + 1)
    length = round(following.timestamp() - start.timestamp())
    return Window(f"M{start:%Y%m}", following.timestamp(), length)
