"""China's public-holiday calendar in the cloud: the bundled default, an admin's corrections.

`PH` in opening hours means the days off the State Council announces each November for the
next year, with the make-up working days (调休上班日) that go with them. The bundled default
comes from the `chinese-calendar` package (maintained, updated each November; checked
against the `holidays` package for 2025-2026 by a test). When the notice is out before a
package release, or a package is wrong, an admin loads the year:

    waystation stations holidays load 2027.json      # or .csv: date,kind (holiday|workday)
    waystation stations holidays show --year 2027

A loaded year replaces that whole year of the default (table `holiday_year`, one row a
year). The map reads the result through `CalendarSource` (re-read every `refresh_s`), and
stations get it in their desired config's `holidays` key (`station_config`), so the door
decides `PH` from the same dates while offline.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import threading
import time
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import JSON, Connection, Engine, Integer, Table, delete, insert, select
from sqlmodel import Field, SQLModel

from cloud.clock import utcnow
from cloud.models import table
from cloud.sql.types import UTCDateTime
from protocol.holidays import HolidayCalendar

log = logging.getLogger(__name__)

BUNDLED_FROM = 2020  # the default's first year: older ones matter to no station
# Seconds a CalendarSource serves the calendar it read before reading the table again: an
# admin's load reaches the map within this; a read is one small query.
REFRESH_S = 300.0
# File kinds, with the words a State Council notice or a spreadsheet uses for them.
KINDS = {"holiday": "holiday", "放假": "holiday", "休": "holiday", "workday": "workday",
         "上班": "workday", "班": "workday"}  # fmt: skip
FILE_MAX_BYTES = 1_000_000


class HolidayYear(SQLModel, table=True):
    """One year of the calendar as an admin loaded it; replaces that year of the default."""

    __tablename__ = "holiday_year"

    year: int = Field(primary_key=True, sa_type=Integer, ge=1900, le=9999)
    holidays: list[str] = Field(default_factory=list, sa_type=JSON, description="ISO dates")
    workdays: list[str] = Field(default_factory=list, sa_type=JSON, description="ISO dates")
    source: str = Field(default="", max_length=200, description="the file it came from")
    loaded_by: str = Field(default="", max_length=64)
    loaded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


HOLIDAY_YEAR = table(HolidayYear)
TABLES: list[Table] = [HOLIDAY_YEAR]


class HolidayFileError(ValueError):
    """A calendar file that cannot be loaded; the message names the line or field."""


@lru_cache(maxsize=1)
def bundled() -> HolidayCalendar:
    """The `chinese-calendar` package's days off and make-up working days since BUNDLED_FROM."""
    import chinese_calendar

    return HolidayCalendar(
        holidays=tuple(d for d in chinese_calendar.holidays if d.year >= BUNDLED_FROM),
        workdays=tuple(d for d in chinese_calendar.workdays if d.year >= BUNDLED_FROM),
    )


def loaded(db: Engine | Connection) -> dict[int, HolidayYear]:
    """The years an admin loaded, by year (in `db`'s transaction when it is a Connection)."""
    if isinstance(db, Connection):
        rows = db.execute(select(HOLIDAY_YEAR)).mappings().all()
    else:
        with db.connect() as conn:
            rows = conn.execute(select(HOLIDAY_YEAR)).mappings().all()
    return {row["year"]: HolidayYear.model_validate(dict(row)) for row in rows}


def current(db: Engine | Connection) -> HolidayCalendar:
    """The calendar in force: the bundled default with every loaded year replacing its own."""
    calendar = bundled()
    for row in loaded(db).values():
        calendar = calendar.replacing(
            HolidayCalendar(holidays=tuple(row.holidays), workdays=tuple(row.workdays)),
            years={row.year},
        )
    return calendar


def store(engine: Engine, calendar: HolidayCalendar, *, source: str, by: str) -> list[int]:
    """Replace each year `calendar` names with its entries, in one transaction; the years."""
    years = calendar.years
    with engine.begin() as conn:
        conn.execute(delete(HOLIDAY_YEAR).where(HOLIDAY_YEAR.c.year.in_(years)))
        for year in years:
            part = calendar.year(year).model_dump(mode="json")
            conn.execute(
                insert(HOLIDAY_YEAR).values(
                    year=year, source=source[:200], loaded_by=by[:64], loaded_at=utcnow(), **part
                )
            )
    return years


def station_config(calendar: HolidayCalendar, years: list[int]) -> dict[str, Any]:
    """The `holidays` key of a station's desired config: `years` of `calendar` (a station
    needs this year and the next; older years only make the message longer)."""
    wanted = set(years)
    return HolidayCalendar(
        holidays=tuple(d for d in calendar.holidays if d.year in wanted),
        workdays=tuple(d for d in calendar.workdays if d.year in wanted),
    ).model_dump(mode="json")


class CalendarSource:
    """The calendar in force for `cloud.stations.hours.use_calendar`, re-read every `refresh_s`.

    A failed read keeps the calendar it had (logged): the map must not stop evaluating
    hours because the database blinked."""

    def __init__(self, engine: Engine, refresh_s: float = REFRESH_S) -> None:
        self.engine = engine
        self.refresh_s = refresh_s
        self._calendar: HolidayCalendar | None = None
        self._read_at = -float("inf")
        self._lock = threading.Lock()

    def __call__(self) -> HolidayCalendar:
        if self._calendar is not None and time.monotonic() - self._read_at < self.refresh_s:
            return self._calendar
        with self._lock:
            if self._calendar is None or time.monotonic() - self._read_at >= self.refresh_s:
                try:
                    self._calendar = current(self.engine)
                except Exception:  # the database is down: keep what we had
                    log.exception("holiday calendar not re-read; keeping the one in force")
                    if self._calendar is None:
                        self._calendar = bundled()
                self._read_at = time.monotonic()
            return self._calendar


# --- files --------------------------------------------------------------------------------


def _date(text: str, where: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise HolidayFileError(f"{where}: {text.strip()!r} is not a date (YYYY-MM-DD)") from exc


def _from_csv(text: str) -> HolidayCalendar:
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader, [])]
    if header[:2] not in (["date", "kind"], ["日期", "类型"]):
        raise HolidayFileError("line 1: the header must be date,kind (or 日期,类型)")
    holidays: list[date] = []
    workdays: list[date] = []
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < 2:
            raise HolidayFileError(f"line {line}: expected date,kind")
        day = _date(row[0], f"line {line}")
        kind = KINDS.get(row[1].strip().lower())
        if kind is None:
            raise HolidayFileError(
                f"line {line}: kind {row[1].strip()!r} is not holiday or workday (放假/上班)"
            )
        (holidays if kind == "holiday" else workdays).append(day)
    return _calendar({"holidays": holidays, "workdays": workdays})


def _calendar(data: object) -> HolidayCalendar:
    try:
        calendar = HolidayCalendar.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "file"
        raise HolidayFileError(f"{where}: {first['msg']}") from exc
    for day in calendar.workdays:
        if day.weekday() < 5:
            raise HolidayFileError(
                f"{day.isoformat()} is a {day.strftime('%A')}: a make-up working day "
                "(调休上班) is a Saturday or Sunday"
            )
    if not calendar.years:
        raise HolidayFileError("the file names no date")
    return calendar


def read_file(path: Path) -> HolidayCalendar:
    """A calendar from JSON (`{"holidays": [...], "workdays": [...]}`, the wire form) or
    CSV (`date,kind` with kind holiday/workday or 放假/上班). Every year it names must be
    complete: loading replaces those years whole."""
    raw = path.read_bytes()
    if len(raw) > FILE_MAX_BYTES:
        raise HolidayFileError(f"larger than {FILE_MAX_BYTES:,} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HolidayFileError("not UTF-8 text") from exc
    if path.suffix.lower() == ".json":
        try:
            return _calendar(json.loads(text))
        except json.JSONDecodeError as exc:
            raise HolidayFileError(f"line {exc.lineno}: not JSON: {exc.msg}") from exc
    return _from_csv(text)
