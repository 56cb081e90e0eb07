"""Opening hours on the map: the cloud's thin use of `protocol.hours`, the evaluation the
station's door uses too, with the holiday calendar in force in this process.

The calendar (`PH` days and make-up working days) is process-wide, like the password-hash
slots: `use_calendar` sets it (`cloud.stations.holidays.CalendarSource` keeps it current from the
database); until then the bundled default from the `chinese-calendar` package is used.
Callers keep the signatures they had: `evaluate(expr, tz=, at=, coords=)` and `check(expr)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from protocol import hours as oh
from protocol.holidays import HolidayCalendar
from protocol.hours import COORD_DECIMALS, MAX_LOOKAHEAD_DAYS, HoursError, State

__all__ = [
    "COORD_DECIMALS",
    "LOCAL_TERMS",
    "MAX_LOOKAHEAD_DAYS",
    "HoursError",
    "HoursState",
    "calendar",
    "check",
    "evaluate",
    "use_calendar",
]

# Terms whose meaning depends on where the station is (sun times; holidays by country). The
# finder keys its memo on the place only for expressions naming one of them.
LOCAL_TERMS = re.compile(r"\b(PH|SH|sunrise|sunset|dawn|dusk)\b")


@dataclass(frozen=True, slots=True)
class HoursState:
    """Whether the hours say open at one instant, and the next change (aware UTC or None).

    `unknown` (a comment without a state, `|| "call ahead"`) is not open: the finder promises
    only stations that are really open; `comment` says why."""

    open: bool
    unknown: bool = False
    closes_at: datetime | None = None
    opens_at: datetime | None = None
    comment: str = ""


class _Calendar:
    """The calendar in force: a fixed one, or a source asked on every read (it caches)."""

    def __init__(self) -> None:
        self.source: Callable[[], HolidayCalendar] | None = None

    def get(self) -> HolidayCalendar:
        if self.source is None:
            from cloud.stations.holidays import bundled  # the package's data, read once

            self.source = bundled
        return self.source()


_CALENDAR = _Calendar()


def use_calendar(source: HolidayCalendar | Callable[[], HolidayCalendar] | None) -> None:
    """Evaluate `PH` with `source` (a calendar, or a function returning the current one);
    None goes back to the bundled default."""
    if isinstance(source, HolidayCalendar):
        fixed = source
        _CALENDAR.source = lambda: fixed
    else:
        _CALENDAR.source = source


def calendar() -> HolidayCalendar:
    """The holiday calendar the map evaluates with now (and stations are sent)."""
    return _CALENDAR.get()


def check(expr: str) -> None:
    """Raise HoursError with a one-line message if `expr` is not valid OSM opening_hours."""
    oh.check(expr)


def evaluate(
    expr: str, *, tz: str, at: datetime, coords: tuple[float, float] | None = None
) -> HoursState:
    """Open/closed at `at` (aware) in zone `tz` at `coords` (lat, lon), with the next closing
    or opening time (UTC)."""
    result = oh.evaluate(expr, at, tz=tz, coords=coords, calendar=calendar())
    change = result.next_change.astimezone(UTC) if result.next_change is not None else None
    if result.open:
        return HoursState(open=True, closes_at=change, comment=result.comment)
    return HoursState(
        open=False,
        unknown=result.state is State.UNKNOWN,
        opens_at=change if result.next_state is State.OPEN else None,
        comment=result.comment,
    )
