from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cloud.stations.hours import HoursError, check, evaluate

SH = "Asia/Shanghai"


def test_open_inside_hours_with_closing_time_in_utc() -> None:
    state = evaluate("Mo-Su 08:00-20:00", tz=SH, at=datetime(2025, 6, 2, 2, 0, tzinfo=UTC))
    assert state.open
    assert state.closes_at == datetime(2025, 6, 2, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai
    assert state.opens_at is None


def test_closed_outside_hours_with_opening_time() -> None:
    state = evaluate("Mo-Su 08:00-20:00", tz=SH, at=datetime(2025, 6, 2, 13, 0, tzinfo=UTC))
    assert not state.open
    assert state.opens_at == datetime(2025, 6, 3, 0, 0, tzinfo=UTC)  # 08:00 next day
    assert state.closes_at is None


def test_evaluated_in_the_station_time_zone_not_utc() -> None:
    # 13:00 UTC is 21:00 in Shanghai: closed there, though 13:00 would be open in UTC.
    moment = datetime(2025, 6, 2, 13, 0, tzinfo=UTC)
    assert not evaluate("Mo-Su 08:00-20:00", tz=SH, at=moment).open
    assert evaluate("Mo-Su 08:00-20:00", tz="UTC", at=moment).open


def test_always_open_has_no_next_change() -> None:
    state = evaluate("24/7", tz=SH, at=datetime(2025, 6, 2, tzinfo=UTC))
    assert state.open
    assert state.closes_at is None


def test_weekday_rules() -> None:
    sunday = datetime(2025, 6, 1, 4, 0, tzinfo=UTC)  # Sunday 12:00 in Shanghai
    state = evaluate("Mo-Fr 08:00-20:00", tz=SH, at=sunday)
    assert not state.open
    assert state.opens_at == datetime(2025, 6, 2, 0, 0, tzinfo=UTC)  # Monday 08:00


def test_public_holidays_follow_the_station_country() -> None:
    """Coordinates pick the holiday calendar: 1 October is a public holiday in China."""
    national_day = datetime(2025, 10, 1, 4, 0, tzinfo=UTC)
    hours = "Mo-Su 08:00-20:00; PH off"
    assert not evaluate(hours, tz=SH, at=national_day, coords=(31.23, 121.47)).open
    assert evaluate(hours, tz=SH, at=datetime(2025, 10, 9, 4, 0, tzinfo=UTC)).open


def test_unknown_state_is_not_open() -> None:
    state = evaluate("24/7 unknown", tz=SH, at=datetime(2025, 6, 2, tzinfo=UTC))
    assert not state.open
    assert state.unknown


@pytest.mark.parametrize("expr", ["blah", "Mo-Su 25:00-26:00", "Mo-Xy 08:00-20:00"])
def test_invalid_expressions_raise_one_line_errors(expr: str) -> None:
    with pytest.raises(HoursError) as err:
        check(expr)
    assert "\n" not in str(err.value)
    assert expr in str(err.value)


def test_unknown_time_zone() -> None:
    with pytest.raises(HoursError, match="unknown time zone"):
        evaluate("24/7", tz="Mars/Olympus", at=datetime(2025, 6, 2, tzinfo=UTC))


def test_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        evaluate("24/7", tz=SH, at=datetime(2025, 6, 2))
