"""`cloud.reports.openhours`: a month of opening hours as intervals, with the holiday
calendar the map uses; unreadable hours give None, not a closed month."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from cloud.reports.openhours import open_intervals
from cloud.stations.hours import use_calendar
from protocol.holidays import HolidayCalendar

START = datetime(2026, 10, 31, 16, tzinfo=UTC)  # 1 November 2026, Shanghai
END = datetime(2026, 11, 30, 16, tzinfo=UTC)
WHERE = (31.23, 121.47)


@pytest.fixture(autouse=True)
def _calendar() -> Iterator[None]:
    yield
    use_calendar(None)


def _hours(intervals: tuple[tuple[datetime, datetime], ...] | None) -> float:
    assert intervals is not None
    return sum((b - a).total_seconds() for a, b in intervals) / 3600


def test_24_7_is_the_whole_window() -> None:
    assert open_intervals("24/7", "Asia/Shanghai", WHERE, START, END) == ((START, END),)


def test_daytime_hours_step_day_by_day_in_local_time() -> None:
    spans = open_intervals("Mo-Su 08:00-20:00", "Asia/Shanghai", WHERE, START, END)
    assert spans is not None
    assert len(spans) == 30
    assert spans[0] == (START + timedelta(hours=8), START + timedelta(hours=20))
    assert _hours(spans) == 360
    weekdays = open_intervals("Mo-Fr 09:00-17:00", "Asia/Shanghai", WHERE, START, END)
    assert _hours(weekdays) == 21 * 8  # November 2026 has 21 weekdays


def test_public_holidays_follow_the_calendar_in_force() -> None:
    use_calendar(HolidayCalendar(holidays=(date(2026, 11, 2),)))
    spans = open_intervals("Mo-Fr 09:00-17:00; PH off", "Asia/Shanghai", WHERE, START, END)
    assert _hours(spans) == 20 * 8


def test_unreadable_hours_are_none() -> None:
    assert open_intervals("sometimes", "Asia/Shanghai", WHERE, START, END) is None
