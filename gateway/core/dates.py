"""What ``TIME`` means, in every door: parsing, the default period, the nearest acquisition.

- A value is a date or datetime of any ISO 8601 precision (``2025``, ``2025-06``,
  ``2025-06-13``: that whole year, month or day; a datetime: that instant) or a period
  ``start/end`` (``start--end``, ISO 8601's form without a solidus, is the same; ``..`` or
  nothing is an open end).
- No value (or ``default``/``current``) means the collection's **default period**: the
  ``default_time_days`` days up to its latest acquisition. Capabilities advertise it in the
  ``start--end`` form, which every client can send back, even in a WMTS REST path.
- A single value with no acquisition in it is moved to the **nearest acquisition day**
  (``nearestValue="1"``), where the catalog summary lists every acquisition.
- Render requests span at most ``max_time_span_days``; an open end is now, an open start
  has no bound and is refused, and so is a time after today.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from gateway.core.catalog.models import TimeRange
from gateway.core.catalog.summary import CatalogSummaries, CollectionSummary
from gateway.errors import InvalidParameterValue, LimitExceeded

if TYPE_CHECKING:  # types only: the core reads the configuration it is handed
    from gateway.config import GatewayConfig

DEFAULT_WORDS = frozenset({"", "default", "current"})
PERIOD_SEPARATOR = "--"  # ISO 8601's alternative to the solidus, safe in a URL path
_REDUCED = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")
_LATEST = datetime.max.replace(tzinfo=UTC)
_ONE_MICROSECOND = timedelta(microseconds=1)


def _instant_range(text: str) -> tuple[datetime, datetime]:
    """One ISO date/datetime, possibly of reduced precision, as the interval it denotes."""
    value = text.strip()
    match = _REDUCED.match(value)
    if match:
        year = int(match.group(1))
        month, day = (int(g) if g else None for g in match.groups()[1:])
        try:
            if month is None:
                start = datetime(year, 1, 1, tzinfo=UTC)
                days = 366 if calendar.isleap(year) else 365
            elif day is None:
                start = datetime(year, month, 1, tzinfo=UTC)
                days = calendar.monthrange(year, month)[1]
            else:
                start = datetime(year, month, day, tzinfo=UTC)
                days = 1
        except ValueError:
            raise InvalidParameterValue(f"invalid date {value[:40]!r}", locator="time") from None
        return start, _end_after(start, timedelta(days=days))
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidParameterValue(
            f"invalid time {value[:40]!r}: use YYYY[-MM[-DD]] or an ISO 8601 datetime",
            locator="time",
        ) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC), moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00-01:00 is in year 10000 in UTC
        raise InvalidParameterValue(f"invalid time {value[:40]!r}", locator="time") from None
    return moment, moment


def _end_after(start: datetime, length: timedelta) -> datetime:
    """The last microsecond of ``length`` from ``start`` (the end of time at the latest)."""
    try:
        return start + length - _ONE_MICROSECOND
    except OverflowError:  # the last day of year 9999
        return _LATEST


def _split(text: str) -> list[str]:
    """A value's parts: one for an instant, two for a period (``/`` or ``--``)."""
    if "/" in text:
        return text.split("/")
    if PERIOD_SEPARATOR in text:
        return text.split(PERIOD_SEPARATOR)
    return [text]


def single_value(text: str) -> bool:
    """True when TIME ``text`` is one date or datetime, not a period."""
    return len(_split(text.strip())) == 1


def parse_time(text: str | None) -> TimeRange:
    """``start/end`` (or ``start--end``), a single date (that whole day), ``2025-06`` (that
    month), ``..`` or empty open ends."""
    if text is None or not text.strip():
        return TimeRange()
    parts = _split(text.strip())
    if len(parts) == 1:
        return TimeRange(*_instant_range(parts[0]))
    if len(parts) != 2 and not (len(parts) == 3 and parts[2].upper().startswith("P")):
        raise InvalidParameterValue("time must be a date or start/end", locator="time")
    start = None if parts[0].strip() in ("", "..") else _instant_range(parts[0])[0]
    end = None if parts[1].strip() in ("", "..") else _instant_range(parts[1])[1]
    if start is not None and end is not None and start > end:
        raise InvalidParameterValue("time range ends before it starts", locator="time")
    return TimeRange(start, end)


def day_range(day: date) -> TimeRange:
    """The whole UTC day."""
    start = datetime.combine(day, datetime.min.time(), UTC)
    return TimeRange(start, _end_after(start, timedelta(days=1)))


def format_period(period: TimeRange) -> str:
    """A closed period of whole days as ``start--end`` (one day: ``YYYY-MM-DD``)."""
    assert period.start is not None and period.end is not None
    first, last = period.start.date(), period.end.date()
    return first.isoformat() if first == last else f"{first}{PERIOD_SEPARATOR}{last}"


@dataclass(frozen=True)
class TimeChoice:
    """The period a request reads, and how it was chosen from what the client sent.

    ``used`` is the value applied in place of the client's (the default period, or the
    nearest acquisition day) and None when the client's own value was applied.
    """

    period: TimeRange
    used: str | None = None
    nearest: bool = False

    @property
    def default(self) -> bool:
        return self.used is not None and not self.nearest


class TimePolicy:
    """TIME for render requests, the same in every door, from the catalog summaries."""

    def __init__(
        self,
        config: GatewayConfig,
        summaries: CatalogSummaries,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._config = config
        self._summaries = summaries
        self._now = now

    @property
    def version(self) -> int:
        """Changes whenever a summary does (and with it, what no TIME or a snap means)."""
        return self._summaries.version

    def summary(self, collection: str) -> CollectionSummary:
        return self._summaries.get(collection)

    def default_period(self, collection: str) -> TimeRange:
        """The ``default_time_days`` whole days up to the collection's latest acquisition
        (up to today when none is listed)."""
        conf = self._config.collection(collection)
        days = conf.default_time_days if conf is not None else 31
        latest = self.summary(collection).latest or self._now()
        last = day_range(latest.date())
        first = day_range(latest.date() - timedelta(days=days - 1))
        return TimeRange(first.start, last.end)

    def default_text(self, collection: str) -> str:
        """The default period as capabilities advertise it."""
        return format_period(self.default_period(collection))

    def resolve(self, collection: str, text: str | None) -> TimeChoice:
        """The period a render request of ``collection`` reads for TIME ``text``."""
        if text is None or text.strip().lower() in DEFAULT_WORDS:
            period = self.default_period(collection)
            return TimeChoice(period, used=format_period(period))
        period = self._bounded(parse_time(text))
        if single_value(text):
            nearest = self._nearest(collection, period)
            if nearest is not None:
                return TimeChoice(day_range(nearest), used=nearest.isoformat(), nearest=True)
        return TimeChoice(period)

    def _bounded(self, period: TimeRange) -> TimeRange:
        """An open end is now; an open start, a span over the limit or a start after today
        (nothing can have been acquired there yet) is refused."""
        limit = self._config.limits.max_time_span_days
        now = self._now()
        if period.start is not None and period.start > now + timedelta(days=1):
            raise InvalidParameterValue(
                "time is in the future: nothing has been acquired then", locator="time"
            )
        if period.start is None:
            raise LimitExceeded(
                f"time range without a start: give a start and an end at most {limit} days apart",
                locator="time",
            )
        end = period.end if period.end is not None else max(now, period.start)
        if end - period.start > timedelta(days=limit):
            raise LimitExceeded(
                f"time range longer than {limit} days: give a start and an end at most"
                f" {limit} days apart",
                locator="time",
            )
        return TimeRange(period.start, end)

    def _nearest(self, collection: str, period: TimeRange) -> date | None:
        """The nearest acquisition day to a single value with no acquisition in it, where
        the summary lists every acquisition (else None: the value stands as it is)."""
        start, end = period.start, period.end
        assert start is not None and end is not None
        summary = self.summary(collection)
        if summary.has_acquisition(start, end):
            return None
        day = summary.nearest_day(start, end)
        if day is None:
            return None
        earliest = min(start, datetime.combine(day, datetime.min.time(), UTC))
        return day if summary.lists_everything_in(earliest) else None
