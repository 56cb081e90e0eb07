"""When a station was due open: its published opening hours as intervals over a window.

The hours are evaluated by the same code the map and the door use (`protocol.hours` with the
holiday calendar in force, `cloud.stations.hours.calendar`), stepping from one change to the
next. A comment-only state (`|| "call ahead"`) counts as not due open, like on the map; hours
that cannot be evaluated give no intervals (the report flags the station). Results are
memoised per expression, zone, place (only for expressions whose meaning depends on it) and
window: a thousand stations share a handful of expressions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from cloud.stations.hours import LOCAL_TERMS, calendar
from protocol import hours as oh
from protocol.holidays import HolidayCalendar
from protocol.hours import HoursError, State

Interval = tuple[datetime, datetime]  # [start, end), aware UTC
MAX_CHANGES = 400  # a month of "Mo-Su 08:00-12:00,14:00-20:00" has 124; a runaway guard


def open_intervals(
    expr: str, tz: str, coords: tuple[float, float], start: datetime, end: datetime
) -> tuple[Interval, ...] | None:
    """The intervals within [start, end) when `expr` (OSM opening_hours in zone `tz`, station
    at `coords` lat/lon) says open, in time order; None when it cannot be evaluated."""
    place = coords if LOCAL_TERMS.search(expr) else None
    return _intervals(expr, tz, place, start, end, calendar())


@lru_cache(maxsize=4096)
def _intervals(
    expr: str,
    tz: str,
    coords: tuple[float, float] | None,
    start: datetime,
    end: datetime,
    cal: HolidayCalendar,  # a new calendar (an admin loaded next year's): a new entry
) -> tuple[Interval, ...] | None:
    out: list[Interval] = []
    cursor = start
    try:
        for _ in range(MAX_CHANGES):
            ev = oh.evaluate(expr, cursor, tz=tz, coords=coords, calendar=cal)
            change = ev.next_change.astimezone(UTC) if ev.next_change is not None else None
            stop = end if change is None or change > end else change
            if ev.state is State.OPEN and stop > cursor:
                out.append((cursor, stop))
            if change is None or change >= end or change <= cursor:
                break
            cursor = change
    except HoursError:
        return None
    return tuple(out)
