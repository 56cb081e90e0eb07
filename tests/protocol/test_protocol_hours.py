"""The one opening-hours evaluation (protocol/hours.py) that the map and the door share."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from protocol.holidays import HolidayCalendar
from protocol.hours import HoursError, State, check, evaluate

SH = "Asia/Shanghai"
Z = ZoneInfo(SH)
SHENZHEN = (22.543, 114.058)
HARBIN = (45.803, 126.535)


def _days(first: str, last: str) -> list[date]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


# The State Council's 2026 notice (国办发明电〔2025〕7号), written out by hand so these tests
# do not depend on a package's data: every day off, and the make-up working days.
CAL_2026 = HolidayCalendar(
    holidays=(
        *_days("2026-01-01", "2026-01-03"),
        *_days("2026-02-15", "2026-02-23"),
        *_days("2026-04-04", "2026-04-06"),
        *_days("2026-05-01", "2026-05-05"),
        *_days("2026-06-19", "2026-06-21"),
        *_days("2026-09-25", "2026-09-27"),
        *_days("2026-10-01", "2026-10-07"),
    ),
    workdays=tuple(
        date.fromisoformat(d)
        for d in (
            "2026-01-04",
            "2026-02-14",
            "2026-02-28",
            "2026-05-09",
            "2026-09-20",
            "2026-10-10",
        )
    ),
)


def _at(*args: int) -> datetime:
    return datetime(*args, tzinfo=Z)  # type: ignore[misc]


def _eval(expr: str, at: datetime, **kw: object):
    return evaluate(expr, at, tz=SH, calendar=CAL_2026, **kw)  # type: ignore[arg-type]


def test_national_day_is_a_public_holiday_from_the_calendar() -> None:
    """Story: the door admitted members on 1 October at 10:00 under `PH off` (no country)."""
    result = _eval("Mo-Su 08:00-20:00; PH off", _at(2026, 10, 1, 10))
    assert result.state is State.CLOSED
    assert result.next_change == _at(2026, 10, 8, 8)  # the whole 放假 period, then 08:00
    assert result.next_state is State.OPEN


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 1, 1),
        date(2026, 2, 17),  # Spring Festival: lunar, unknown to the library's own calendar
        date(2026, 4, 6),  # Qingming (observed)
        date(2026, 6, 19),
        date(2026, 10, 7),
    ],
)
def test_weekday_holidays_close_a_mo_fr_station(day: date) -> None:
    at = datetime.combine(day, datetime.min.time(), tzinfo=Z) + timedelta(hours=10)
    assert _eval("Mo-Fr 08:00-18:00; PH off", at).state is State.CLOSED
    assert _eval("Mo-Fr 08:00-18:00", at).state is State.OPEN  # PH is what closes it


def test_a_make_up_working_sunday_opens_a_weekday_station_as_a_monday() -> None:
    """Story: 20 September 2026 (Sunday) is a working day (调休上班): staffed stations open."""
    sunday = _at(2026, 9, 20, 10)
    result = _eval("Mo-Fr 08:00-18:00; PH off", sunday)
    assert result.state is State.OPEN
    assert result.next_change == _at(2026, 9, 20, 18)
    assert _eval("Sa,Su 10:00-12:00; Mo-Fr 08:00-18:00", _at(2026, 9, 20, 17)).open
    assert not _eval("Mo 09:00-10:00; Su 10:00-16:00", _at(2026, 9, 20, 11)).open
    # the Saturday before is an ordinary Saturday; the search for the opening finds Sunday
    before = _eval("Mo-Fr 08:00-18:00", _at(2026, 9, 19, 10))
    assert (before.state, before.next_change) == (State.CLOSED, _at(2026, 9, 20, 8))


def test_ph_in_a_weekday_list_and_with_an_offset() -> None:
    assert _eval("Mo-Fr 09:00-17:00; PH,Sa 10:00-12:00", _at(2026, 10, 2, 11)).open
    assert not _eval("Mo-Fr 09:00-17:00; PH,Sa 10:00-12:00", _at(2026, 10, 2, 13)).open
    assert not _eval("24/7; PH +1 day off", _at(2026, 10, 8, 11)).open  # the day after
    assert _eval("24/7; PH +1 day off", _at(2026, 10, 9, 11)).open


def test_without_a_calendar_ph_matches_no_day() -> None:
    at = _at(2026, 10, 1, 10)
    assert evaluate("Mo-Su 08:00-20:00; PH off", at, tz=SH).open


def test_a_comment_without_a_state_is_unknown_not_open() -> None:
    """Story: `Mo-Fr 08:00-18:00 || "call ahead"` showed the station open all weekend."""
    saturday = _eval('Mo-Fr 08:00-18:00 || "call ahead"', _at(2026, 6, 20, 10))
    assert (saturday.state, saturday.comment) == (State.UNKNOWN, "call ahead")
    assert not saturday.open
    assert saturday.next_change is not None  # the library alone reports none at all
    assert saturday.next_change <= _at(2026, 6, 22, 8)
    monday = _eval('Mo-Fr 08:00-18:00 || "call ahead"', _at(2026, 6, 22, 10))
    assert monday.open
    assert _eval('Mo-Fr 08:00-18:00 "staffed"', _at(2026, 6, 22, 10)).state is State.UNKNOWN
    staffed = _eval('Mo-Fr 08:00-18:00 open "staffed"', _at(2026, 6, 22, 10))
    assert (staffed.state, staffed.comment) == (State.OPEN, "staffed")


# Reference sun times from suncalc 1.9 (the sun library of opening_hours.js 3.15), for
# 2026-06-21 and 2026-12-21 in Asia/Shanghai; the library was 07:00/19:00 in all four.
SUN = [
    (SHENZHEN, date(2026, 6, 21), "05:40", "19:11"),
    (SHENZHEN, date(2026, 12, 21), "06:59", "17:44"),
    (HARBIN, date(2026, 6, 21), "03:44", "19:27"),
    (HARBIN, date(2026, 12, 21), "07:12", "15:52"),
]


@pytest.mark.parametrize(("coords", "day", "rise", "set_"), SUN)
def test_sun_times_follow_the_station(
    coords: tuple[float, float], day: date, rise: str, set_: str
) -> None:
    midnight = datetime.combine(day, datetime.min.time(), tzinfo=Z)
    first = evaluate("sunrise-sunset", midnight, tz=SH, coords=coords)
    second = evaluate("sunrise-sunset", first.next_change, tz=SH, coords=coords)  # type: ignore[arg-type]

    def near(at: datetime | None, hhmm: str) -> bool:
        want = datetime.combine(day, datetime.strptime(hhmm, "%H:%M").time(), tzinfo=Z)
        return at is not None and abs((at - want).total_seconds()) <= 180

    assert near(first.next_change, rise), first.next_change
    assert near(second.next_change, set_), second.next_change


def test_the_station_zone_wins_over_one_guessed_from_coordinates() -> None:
    """Sun times need the library's auto_timezone; the registry's zone must still rule."""
    at = datetime(2026, 6, 20, 12, tzinfo=ZoneInfo("UTC"))
    result = evaluate("10:00-12:00", at, tz="UTC", coords=SHENZHEN)
    assert result.next_change == datetime(2026, 6, 21, 10, tzinfo=ZoneInfo("UTC"))


@pytest.mark.parametrize("expr", ["blah", "Mo-Su 25:00-26:00", 'Mo-Fr "x" 08:00'])
def test_invalid_expressions_name_themselves_in_one_line(expr: str) -> None:
    with pytest.raises(HoursError) as err:
        check(expr)
    assert expr in str(err.value)
    assert "\n" not in str(err.value)


def test_calendar_refuses_a_day_both_off_and_worked() -> None:
    with pytest.raises(ValueError, match="both a holiday and a working day"):
        HolidayCalendar(holidays=(date(2026, 10, 10),), workdays=(date(2026, 10, 10),))
