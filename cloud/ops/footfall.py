"""Footfall reports for ops: series per station or city, and the busiest hours of the day.

Everything is built from UTC hours: `footfall_hour` (the roll-up) for hours before the newest
rolled hour, raw `footfall_interval` rows from that hour on, because the roll-up runs hourly
(`cloud maintain`) and a chart of today must not stop an hour or more ago. Days and
hour-of-day profiles are then bucketed in Python in the station's own time zone
(`station.tz`): a UTC day is 08:00–08:00 in China, which no operator wants on a chart. Only
the hours (a few thousand rows per request at most, summed per time zone in SQL for a city)
leave the database, so the same code runs on SQLite and PostgreSQL.

A bucket with no rows is left out rather than reported as zero: stations journal every
interval while counting runs, including empty ones, so a missing bucket means "not counting"
and `seconds` says how much of a bucket was covered.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Connection, func, select

from cloud.jobs.rollup import HOUR_S, floor
from cloud.models import FootfallHour, FootfallInterval, Station, table

INTERVAL = table(FootfallInterval)
HOUR = table(FootfallHour)
STATION = table(Station)

Resolution = Literal["interval", "hour", "day"]
MAX_SPAN = {  # the longest range each resolution answers (rows per station stay small)
    "interval": timedelta(days=7),
    "hour": timedelta(days=31),
    "day": timedelta(days=366),
}


class ReportError(ValueError):
    """A request the report cannot answer (unknown station or city, range too long)."""


class Point(BaseModel):
    start: datetime = Field(description="bucket start; days start at local midnight")
    seconds: int = Field(description="seconds of counting the bucket covers")
    entries: int
    exits: int
    max_occupancy: int | None = Field(
        default=None, description="highest occupancy reported (station series only)"
    )


class Series(BaseModel):
    station_id: str | None = None
    city: str | None = None
    resolution: Resolution
    tz: str = Field(description="time zone of day buckets")
    start: datetime
    end: datetime
    entries: int = Field(description="total over the range")
    exits: int
    points: list[Point]


class HourOfDay(BaseModel):
    hour: int = Field(ge=0, le=23, description="local hour of day")
    entries: float = Field(description="mean entries in this hour per counted day")
    exits: float
    days: int = Field(description="days with counting in this hour")


class BusiestHours(BaseModel):
    station_id: str | None = None
    city: str | None = None
    days: int
    tz: str
    hours: list[HourOfDay] = Field(description="0–23, hours never counted are left out")
    busiest: list[int] = Field(description="local hours with the most entries, busiest first")


@dataclass(slots=True)
class _Acc:
    seconds: int = 0
    entries: int = 0
    exits: int = 0
    max_occupancy: int = 0

    def add(self, seconds: int, entries: int, exits: int, occupancy: int) -> None:
        self.seconds += seconds
        self.entries += entries
        self.exits += exits
        self.max_occupancy = max(self.max_occupancy, occupancy)


# --- selection ------------------------------------------------------------------------------


def _stations(
    conn: Connection,
    *,
    station_id: str | None,
    city: str | None,
    within: ColumnElement[bool] | None = None,
) -> dict[str, str]:
    """station id → tz of the stations a report covers (only those `within`, a condition on
    `station` from cloud.auth.scope, when given); ReportError if there are none."""
    query = select(STATION.c.id, STATION.c.tz)
    if within is not None:
        query = query.where(within)
    if station_id is not None:
        query = query.where(STATION.c.id == station_id)
    elif city is not None:
        query = query.where(STATION.c.city == city)
    else:
        raise ReportError("name a station or a city")
    found = {sid: tz for sid, tz in conn.execute(query)}
    if not found:
        raise ReportError(
            f"unknown station {station_id!r}" if station_id else f"no station in city {city!r}"
        )
    return found


def _hours(
    conn: Connection, stations: dict[str, str], start: datetime, end: datetime
) -> dict[tuple[str, datetime], _Acc]:
    """(tz, UTC hour) → sums over `stations` for every hour overlapping [start, end)."""
    h0, h1 = floor(start, HOUR_S), end
    out: dict[tuple[str, datetime], _Acc] = defaultdict(_Acc)
    # The newest rolled hour and everything after it come from the raw intervals.
    watermark = rolled_until(conn)
    raw_from = h0 if watermark is None else max(h0, watermark)
    ids = sorted(stations)
    if raw_from > h0:
        rolled = (
            select(
                STATION.c.tz,
                HOUR.c.bucket_start,
                func.sum(HOUR.c.seconds),
                func.sum(HOUR.c.entries),
                func.sum(HOUR.c.exits),
                func.max(HOUR.c.max_occupancy),
            )
            .join(STATION, STATION.c.id == HOUR.c.station_id)
            .where(
                HOUR.c.station_id.in_(ids),
                HOUR.c.bucket_start >= h0,
                HOUR.c.bucket_start < min(raw_from, h1),
            )
            .group_by(STATION.c.tz, HOUR.c.bucket_start)
        )
        for tz, at, seconds, entries, exits, occupancy in conn.execute(rolled):
            out[(tz, _aware(at))].add(int(seconds), int(entries), int(exits), int(occupancy))
    raw = select(
        INTERVAL.c.station_id,
        INTERVAL.c.interval_start,
        INTERVAL.c.seconds,
        INTERVAL.c.entries,
        INTERVAL.c.exits,
        INTERVAL.c.occupancy,
    ).where(
        INTERVAL.c.station_id.in_(ids),
        INTERVAL.c.interval_start >= raw_from,
        INTERVAL.c.interval_start < h1,
    )
    for sid, at, seconds, entries, exits, occupancy in conn.execute(raw):
        out[(stations[sid], floor(_aware(at), HOUR_S))].add(seconds, entries, exits, occupancy)
    return out


def rolled_until(conn: Connection) -> datetime | None:
    """The newest rolled hour (UTC), None before the first roll-up. Readers take
    `footfall_hour` before it and raw intervals from it on: the hour job may still fill it."""
    watermark = conn.execute(select(func.max(HOUR.c.bucket_start))).scalar()
    return None if watermark is None else _aware(watermark)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _check_range(resolution: Resolution, start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ReportError("start and end need a time zone")
    if end <= start:
        raise ReportError("end must be after start")
    if end - start > MAX_SPAN[resolution]:
        raise ReportError(f"{resolution} series cover at most {MAX_SPAN[resolution].days} days")


# --- reports --------------------------------------------------------------------------------


def series(
    conn: Connection,
    *,
    station_id: str | None = None,
    city: str | None = None,
    resolution: Resolution = "hour",
    start: datetime,
    end: datetime,
    within: ColumnElement[bool] | None = None,
) -> Series:
    """Footfall of one station (any resolution) or a whole city (hour or day); of the
    stations `within` (cloud.auth.scope) only, when given."""
    _check_range(resolution, start, end)
    stations = _stations(conn, station_id=station_id, city=city, within=within)
    per_station = station_id is not None
    if resolution == "interval":
        if not per_station:
            raise ReportError("interval series are per station")
        points = _intervals(conn, station_id or "", start, end)
    else:
        hours = _hours(conn, stations, start, end)
        points = (_hour_points if resolution == "hour" else _day_points)(
            hours, start, end, per_station
        )
    tz = _main_tz(stations.values())
    return Series(
        station_id=station_id,
        city=None if per_station else city,
        resolution=resolution,
        tz=tz,
        start=start,
        end=end,
        entries=sum(p.entries for p in points),
        exits=sum(p.exits for p in points),
        points=points,
    )


def _intervals(conn: Connection, sid: str, start: datetime, end: datetime) -> list[Point]:
    rows = conn.execute(
        select(
            INTERVAL.c.interval_start,
            INTERVAL.c.seconds,
            INTERVAL.c.entries,
            INTERVAL.c.exits,
            INTERVAL.c.occupancy,
        )
        .where(
            INTERVAL.c.station_id == sid,
            INTERVAL.c.interval_start >= start,
            INTERVAL.c.interval_start < end,
        )
        .order_by(INTERVAL.c.interval_start)
    )
    return [
        Point(start=_aware(a), seconds=s, entries=e, exits=x, max_occupancy=o)
        for a, s, e, x, o in rows
    ]


def _hour_points(
    hours: dict[tuple[str, datetime], _Acc], start: datetime, end: datetime, occupancy: bool
) -> list[Point]:
    merged: dict[datetime, _Acc] = defaultdict(_Acc)
    for (_tz, at), acc in hours.items():
        if at + timedelta(hours=1) > start and at < end:
            merged[at].add(acc.seconds, acc.entries, acc.exits, acc.max_occupancy)
    return [_point(at, acc, occupancy) for at, acc in sorted(merged.items())]


def _day_points(
    hours: dict[tuple[str, datetime], _Acc], start: datetime, end: datetime, occupancy: bool
) -> list[Point]:
    """Local calendar days; each station's hours go to the day of its own zone."""
    days: dict[tuple[date, str], _Acc] = defaultdict(_Acc)
    for (tz, at), acc in hours.items():
        local = at.astimezone(ZoneInfo(tz))
        days[(local.date(), tz)].add(acc.seconds, acc.entries, acc.exits, acc.max_occupancy)
    merged: dict[datetime, _Acc] = defaultdict(_Acc)
    for (day, tz), acc in days.items():
        midnight = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz))
        merged[midnight].add(acc.seconds, acc.entries, acc.exits, acc.max_occupancy)
    return [_point(at, acc, occupancy) for at, acc in sorted(merged.items())]


def _point(at: datetime, acc: _Acc, occupancy: bool) -> Point:
    return Point(
        start=at,
        seconds=acc.seconds,
        entries=acc.entries,
        exits=acc.exits,
        max_occupancy=acc.max_occupancy if occupancy else None,
    )


def _main_tz(zones: Iterable[str]) -> str:
    counts: dict[str, int] = defaultdict(int)
    for tz in zones:
        counts[tz] += 1
    return max(sorted(counts), key=lambda tz: counts[tz])


def busiest_hours(
    conn: Connection,
    *,
    station_id: str | None = None,
    city: str | None = None,
    days: int = 28,
    now: datetime,
    top: int = 3,
    within: ColumnElement[bool] | None = None,
) -> BusiestHours:
    """Mean entries per local hour of day over the last `days` days (the hour-of-day profile).

    A mean over the days that hour was counted, so a station that was down for a week is not
    made to look quiet; `busiest` ranks the hours by it.
    """
    if not 1 <= days <= 366:
        raise ReportError("days must be 1–366")
    stations = _stations(conn, station_id=station_id, city=city, within=within)
    end = floor(now, HOUR_S)
    hours = _hours(conn, stations, end - timedelta(days=days), end)
    sums: dict[int, _Acc] = defaultdict(_Acc)
    counted: dict[int, set[tuple[date, str]]] = defaultdict(set)
    for (tz, at), acc in hours.items():
        local = at.astimezone(ZoneInfo(tz))
        sums[local.hour].add(acc.seconds, acc.entries, acc.exits, 0)
        counted[local.hour].add((local.date(), tz))
    profile = [
        HourOfDay(
            hour=h,
            entries=round(sums[h].entries / len(counted[h]), 2),
            exits=round(sums[h].exits / len(counted[h]), 2),
            days=len(counted[h]),
        )
        for h in sorted(sums)
    ]
    ranked = sorted(profile, key=lambda p: (-p.entries, p.hour))
    return BusiestHours(
        station_id=station_id,
        city=None if station_id else city,
        days=days,
        tz=_main_tz(stations.values()),
        hours=profile,
        busiest=[p.hour for p in ranked[:top] if p.entries > 0],
    )
