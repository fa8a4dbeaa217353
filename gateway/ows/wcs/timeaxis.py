"""The time of WCS 2.0.1 coverages: OGC AnsiDate coordinates and acquisitions in a period.

A coverage's acquisitions are those of its collection. The space-time cube description
(vendor ``TIMEAXIS=cube``) puts them on a time axis labelled ``ansi`` in the CRS OGC AnsiDate
(days since 1600-12-31T00:00Z); the vendor ``TIME`` narrows a description to one period.
"""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.core.dates import parse_time
from gateway.errors import InvalidParameterValue

ANSI_CRS = "http://www.opengis.net/def/crs/OGC/0/AnsiDate"
ANSI_LABEL = "ansi"
ANSI_UOM = "d"
_ANSI_ORIGIN = datetime(1600, 12, 31, tzinfo=UTC)


def ansi_day(moment: datetime) -> float:
    """``moment`` as an AnsiDate coordinate (fractional days)."""
    return (moment - _ANSI_ORIGIN).total_seconds() / 86400.0


def acquisitions_in(times: tuple[datetime, ...], text: str, locator: str) -> tuple[datetime, ...]:
    """The instants of ``times`` inside the period ``text`` (``TIME`` syntax); at least one,
    else InvalidParameterValue at ``locator``."""
    try:
        period = parse_time(text)
    except InvalidParameterValue as error:
        raise InvalidParameterValue(error.message, locator=locator) from None
    found = tuple(moment for moment in times if period.contains(moment))
    if not found:
        raise InvalidParameterValue("no acquisition in that time", locator=locator)
    return found
