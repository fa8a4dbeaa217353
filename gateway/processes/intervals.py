"""Aggregation intervals (``P10D``, ``P1M``...) over a time range."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from gateway.core.catalog import TimeRange
from gateway.errors import InvalidParameterValue, LimitExceeded

MAX_INTERVALS = 400
_DURATION = re.compile(r"^P(\d{1,4})([DWMY])$")


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return (
        moment.replace(year=year, month=month, day=1)
        if moment.day > 28
        else moment.replace(year=year, month=month)
    )


def _step(moment: datetime, count: int, unit: str) -> datetime:
    if unit == "D":
        return moment + timedelta(days=count)
    if unit == "W":
        return moment + timedelta(weeks=count)
    return _add_months(moment, count * (12 if unit == "Y" else 1))


def split_intervals(span: TimeRange, duration: str | None) -> list[tuple[datetime, datetime]]:
    """Consecutive ``[start, end)`` intervals of ``duration`` from the period's start (as
    ``runtime.times`` resolved the ``time`` input); the last one ends with the period."""
    if span.start is None or span.end is None:
        raise InvalidParameterValue("time must have a start and an end", locator="time")
    end = span.end + timedelta(microseconds=1)
    match = _DURATION.match((duration or "").strip().upper())
    if not match or int(match.group(1)) < 1:
        raise InvalidParameterValue(
            "aggregation_interval must be an ISO 8601 duration such as P10D or P1M",
            locator="aggregation_interval",
        )
    count, unit = int(match.group(1)), match.group(2)
    intervals: list[tuple[datetime, datetime]] = []
    start = span.start
    while start < end:
        stop = min(_step(start, count, unit), end)
        intervals.append((start, stop))
        if len(intervals) > MAX_INTERVALS:
            raise LimitExceeded(
                f"more than {MAX_INTERVALS} intervals", locator="aggregation_interval"
            )
        start = stop
    return intervals


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def interval_query(start: datetime, stop: datetime) -> str:
    """The engine's time text for ``[start, stop)``."""
    last = stop - timedelta(microseconds=1)
    return f"{start.isoformat()}/{last.isoformat()}"
