"""China's holiday calendar in the cloud: bundled default, admin-loaded years (CLI), the map."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import chinese_calendar
import holidays as holidays_pkg
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from cloud.db import init_db, make_engine
from cloud.stations import hours
from cloud.stations.holidays import CalendarSource, bundled
from waystation.cli import app

NATIONAL_DAY_2027_10AM = datetime(2027, 10, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
HOURS = "Mo-Su 08:00-20:00; PH off"


@pytest.mark.parametrize("year", [2025, 2026])
def test_the_two_maintained_calendars_agree_on_the_statutory_holidays(year: int) -> None:
    """`holidays` lists statutory days and weekday days off; `chinese-calendar` (bundled)
    every day of each 放假 period. On working weekdays they must agree exactly, the
    statutory days that fall on a weekend must be days off in both, and so must the
    make-up working days."""
    ours = bundled().year(year)
    theirs = holidays_pkg.country_holidays("CN", years=year)
    assert set(theirs) <= ours.holiday_set
    weekdays_off = {d for d in ours.holidays if d.weekday() < 5}
    assert weekdays_off == {d for d in theirs if d.weekday() < 5}
    assert set(ours.workdays) == {d for d in theirs.weekend_workdays if d.year == year}
    # Qingming and the lunar holidays, which the opening-hours library does not know
    assert len(ours.holidays) >= 27


def test_bundled_2026_has_the_notice_days() -> None:
    cal = bundled()
    assert {date(2026, 2, 17), date(2026, 4, 5), date(2026, 10, 7)} <= cal.holiday_set
    assert {date(2026, 1, 4), date(2026, 9, 20)} <= cal.workday_set
    assert chinese_calendar.is_workday(date(2026, 9, 20))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    url = f"sqlite:///{tmp_path / 'ws.db'}"
    engine = make_engine(url)
    init_db(engine)
    yield url, engine
    hours.use_calendar(None)
    engine.dispose()


def _cli(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def test_an_admin_loaded_2027_calendar_changes_the_map(
    db: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = db
    hours.use_calendar(CalendarSource(engine, refresh_s=0))
    assert hours.evaluate(HOURS, tz="Asia/Shanghai", at=NATIONAL_DAY_2027_10AM).open  # unknown
    code, out = _cli("stations", "holidays", "show", "--year", 2027, "--db", url)
    assert code == 1
    assert "no calendar" in out
    week = [date(2027, 10, 1) + timedelta(days=i) for i in range(7)]
    notice = tmp_path / "2027.json"
    notice.write_text(
        json.dumps({"holidays": [d.isoformat() for d in week], "workdays": ["2027-09-26"]})
    )
    code, out = _cli("stations", "holidays", "load", notice, "--db", url)
    assert code == 0, out
    assert "2027: 7 days off, 1 make-up workdays" in out
    state = hours.evaluate(HOURS, tz="Asia/Shanghai", at=NATIONAL_DAY_2027_10AM)
    assert not state.open
    assert state.opens_at == datetime(2027, 10, 8, 0, 0, tzinfo=UTC)  # 8 October 08:00 local
    code, out = _cli("stations", "holidays", "show", "--year", 2027, "--db", url)
    assert code == 0
    assert "2027-10-01..2027-10-07" in out
    assert "2027-09-26" in out
    assert "loaded from 2027.json" in out
    # the bundled years are untouched
    assert hours.calendar().year(2026) == bundled().year(2026)


def test_a_csv_correction_replaces_the_year_whole(db: tuple[str, Engine], tmp_path: Path) -> None:
    url, engine = db
    sheet = tmp_path / "2026.csv"
    sheet.write_text("date,kind\n2026-10-01,放假\n2026-10-02,holiday\n2026-10-10,上班\n")
    assert _cli("stations", "holidays", "load", sheet, "--db", url)[0] == 0
    hours.use_calendar(CalendarSource(engine, refresh_s=0))
    assert hours.calendar().year(2026).holidays == (date(2026, 10, 1), date(2026, 10, 2))
    at = datetime(2026, 10, 3, 2, tzinfo=UTC)  # 3 October: a day off no more
    assert hours.evaluate(HOURS, tz="Asia/Shanghai", at=at).open


@pytest.mark.parametrize(
    ("name", "text", "error"),
    [
        ("a.csv", "date,kind\n2027-10-01,maybe\n", "line 2: kind 'maybe'"),
        ("a.csv", "date,kind\n2027-13-01,holiday\n", "line 2: '2027-13-01' is not a date"),
        ("a.json", '{"workdays": ["2027-09-29"]}', "2027-09-29 is a Wednesday"),
        ("a.json", '{"holidays": ["2027-10-01"], "workdays": ["2027-10-01"]}', "both"),
        ("a.json", '{"holiday": []}', "holiday"),
    ],
)
def test_a_bad_file_is_one_line_and_loads_nothing(
    db: tuple[str, Engine], tmp_path: Path, name: str, text: str, error: str
) -> None:
    url, engine = db
    path = tmp_path / name
    path.write_text(text)
    code, out = _cli("stations", "holidays", "load", path, "--db", url)
    assert code == 1
    assert error in out
    assert len(out.strip().splitlines()) == 1
    assert "Traceback" not in out
    hours.use_calendar(CalendarSource(engine, refresh_s=0))
    assert hours.calendar() == bundled()
