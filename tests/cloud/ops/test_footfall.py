"""Footfall reports: station and city series, local days, busiest hours, roll-up + raw tail."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from cloud.db import session
from cloud.jobs.rollup import rollup_footfall
from cloud.models import FootfallInterval
from cloud.ops.footfall import ReportError, busiest_hours, series

D0 = datetime(2025, 6, 1, tzinfo=UTC)  # a Sunday; 08:00 in Shanghai
SH = ZoneInfo("Asia/Shanghai")


def put(
    engine: Engine, sid: str, start: datetime, entries: int, exits: int = 0, occ: int = 0
) -> None:
    with session(engine) as s:
        s.add(
            FootfallInterval(
                station_id=sid,
                interval_start=start,
                seconds=300,
                entries=entries,
                exits=exits,
                occupancy=occ,
                seq=int(start.timestamp()),
                received_at=start + timedelta(seconds=301),
            )
        )


@pytest.fixture
def stations(add_station: Callable[..., Any]) -> None:
    add_station("sz-1", city="深圳市", tz="Asia/Shanghai")
    add_station("sz-2", city="深圳市", tz="Asia/Shanghai")
    add_station("bj-1", city="北京市", tz="Asia/Shanghai")


def test_station_series_at_each_resolution(engine: Engine, stations: None) -> None:
    for i in range(24):  # 2 hours of 5-minute intervals from 15:00 UTC (23:00 local)
        put(engine, "sz-1", D0 + timedelta(hours=15, minutes=5 * i), entries=i % 3, exits=1, occ=i)
    put(engine, "sz-2", D0 + timedelta(hours=15), entries=50)  # another station: not included
    with engine.connect() as conn:
        start, end = D0 + timedelta(hours=15), D0 + timedelta(hours=17)
        raw = series(conn, station_id="sz-1", resolution="interval", start=start, end=end)
        hours = series(conn, station_id="sz-1", resolution="hour", start=start, end=end)
        days = series(
            conn, station_id="sz-1", resolution="day", start=D0, end=D0 + timedelta(days=2)
        )
    assert len(raw.points) == 24
    assert raw.entries == sum(i % 3 for i in range(24))
    assert [p.start for p in hours.points] == [start, start + timedelta(hours=1)]
    assert [p.entries for p in hours.points] == [12, 12]
    assert [p.seconds for p in hours.points] == [3600, 3600]
    assert [p.max_occupancy for p in hours.points] == [11, 23]
    # 23:00 local on the 1st and 00:00 local on the 2nd: two local days, not one UTC day
    assert [p.start for p in days.points] == [
        datetime(2025, 6, 1, tzinfo=SH),
        datetime(2025, 6, 2, tzinfo=SH),
    ]
    assert [p.entries for p in days.points] == [12, 12]
    assert days.tz == "Asia/Shanghai"


def test_rolled_hours_plus_raw_tail_neither_lose_nor_double(engine: Engine, stations: None) -> None:
    for i in range(36):  # 3 hours from 00:00 UTC
        put(engine, "sz-1", D0 + timedelta(minutes=5 * i), entries=1)
    rollup_footfall(engine, start=D0, end=D0 + timedelta(hours=2))  # rolled up to 02:00
    for i in range(12):  # a late hour after the roll-up ran
        put(engine, "sz-1", D0 + timedelta(hours=3, minutes=5 * i), entries=2)
    with engine.connect() as conn:
        got = series(
            conn, station_id="sz-1", resolution="hour", start=D0, end=D0 + timedelta(hours=4)
        )
    assert [p.entries for p in got.points] == [12, 12, 12, 24]
    assert got.entries == 60


def test_city_series_sums_its_stations_only(engine: Engine, stations: None) -> None:
    put(engine, "sz-1", D0, entries=3)
    put(engine, "sz-2", D0 + timedelta(minutes=5), entries=4)
    put(engine, "bj-1", D0, entries=100)
    rollup_footfall(engine, start=D0, end=D0 + timedelta(hours=1))
    put(engine, "sz-2", D0 + timedelta(hours=1), entries=5)  # raw tail
    with engine.connect() as conn:
        hours = series(
            conn, city="深圳市", resolution="hour", start=D0, end=D0 + timedelta(hours=3)
        )
        days = series(conn, city="深圳市", resolution="day", start=D0, end=D0 + timedelta(days=1))
    assert [(p.start, p.entries) for p in hours.points] == [(D0, 7), (D0 + timedelta(hours=1), 5)]
    assert all(p.max_occupancy is None for p in hours.points)
    assert hours.city == "深圳市"
    assert days.entries == 12


def test_busiest_hours_in_local_time(engine: Engine, stations: None) -> None:
    now = D0 + timedelta(days=7)
    for day in range(7):
        base = D0 + timedelta(days=day)
        put(engine, "sz-1", base + timedelta(hours=4), entries=10)  # 12:00 local: lunch
        put(engine, "sz-1", base + timedelta(hours=10), entries=4)  # 18:00 local
        if day < 3:
            put(engine, "sz-1", base + timedelta(hours=1), entries=6)  # 09:00 local, 3 days
    rollup_footfall(engine, start=D0, end=D0 + timedelta(days=5))
    with engine.connect() as conn:
        got = busiest_hours(conn, station_id="sz-1", days=7, now=now)
    by_hour = {h.hour: h for h in got.hours}
    assert set(by_hour) == {9, 12, 18}
    assert by_hour[12].entries == 10.0
    assert by_hour[12].days == 7
    assert by_hour[9].entries == 6.0  # a mean over the days it was counted
    assert got.busiest == [12, 9, 18]


def test_bad_requests_are_refused(engine: Engine, stations: None) -> None:
    with engine.connect() as conn:
        with pytest.raises(ReportError, match="unknown station"):
            series(conn, station_id="nope", start=D0, end=D0 + timedelta(hours=1))
        with pytest.raises(ReportError, match="no station in city"):
            series(conn, city="火星", start=D0, end=D0 + timedelta(hours=1))
        with pytest.raises(ReportError, match="at most 7 days"):
            series(
                conn, station_id="sz-1", resolution="interval", start=D0, end=D0 + timedelta(days=8)
            )
        with pytest.raises(ReportError, match="per station"):
            series(
                conn, city="深圳市", resolution="interval", start=D0, end=D0 + timedelta(hours=1)
            )
        with pytest.raises(ReportError, match="after start"):
            series(conn, station_id="sz-1", start=D0, end=D0)
