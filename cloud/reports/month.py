"""A calendar month in a station's own time zone, as the window a monthly report covers.

A month runs from local midnight on the 1st to local midnight on the 1st of the next month
in the station's `tz`, so a Shanghai station's November starts at 2026-10-31 16:00 UTC. The
current month is reported up to now (`Window.complete` is False); a month that has not begun
is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

MONTH = re.compile(r"^(\d{4})-(\d{2})$")
FIRST_YEAR = 2000  # no station reported before this; a typo like 0026-11 is refused


class MonthError(ValueError):
    """A month the report cannot cover (malformed, or not begun yet)."""


@dataclass(frozen=True, slots=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """`YYYY-MM`, e.g. `2026-11`; MonthError otherwise."""
        m = MONTH.match(text.strip())
        if m is None:
            raise MonthError(f"month must look like 2026-11, not {text[:20]!r}")
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12 or year < FIRST_YEAR:
            raise MonthError(f"no such month {text.strip()!r}")
        return cls(year, month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def bounds(self, tz: str) -> tuple[datetime, datetime]:
        """[start, end) of the month in zone `tz`, as aware UTC datetimes."""
        return _bounds(self, tz)


@lru_cache(maxsize=256)
def _bounds(month: Month, tz: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tz)
    after = month.next()
    start = datetime.combine(datetime(month.year, month.month, 1).date(), time(), zone)
    end = datetime.combine(datetime(after.year, after.month, 1).date(), time(), zone)
    return start.astimezone(UTC), end.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Window:
    """The part of a month a report covers in one time zone: [start, end), aware UTC."""

    tz: str
    start: datetime
    end: datetime
    complete: bool  # the whole month has passed

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def window(month: Month, tz: str, now: datetime) -> Window | None:
    """The month in zone `tz` up to `now`; None if it has not begun there yet."""
    start, end = month.bounds(tz)
    if now <= start:
        return None
    return Window(tz, start, min(end, now), complete=now >= end)
