"""Footfall roll-ups per UTC hour and day, and retention of old rows, on both databases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from cloud.db import session
from cloud.jobs.retention import RetentionPolicy, purge, purge_before
from cloud.jobs.rollup import ceil, floor, rollup_footfall
from cloud.models import (
    DeadLetter,
    FootfallDay,
    FootfallHour,
    FootfallInterval,
    Telemetry,
    table,
)

DAY0 = datetime(2025, 6, 1, tzinfo=UTC)


def _interval(sid: str, start: datetime, entries: int, occupancy: int = 1) -> FootfallInterval:
    return FootfallInterval(
        station_id=sid,
        interval_start=start,
        seconds=300,
        entries=entries,
        exits=entries - 1,
        occupancy=occupancy,
        seq=int(start.timestamp()),
        received_at=start + timedelta(seconds=310),
    )


def test_floor_and_ceil_use_utc_hours() -> None:
    at = datetime(2025, 6, 1, 10, 30, tzinfo=UTC)
    assert floor(at, 3600) == datetime(2025, 6, 1, 10, tzinfo=UTC)
    assert ceil(at, 3600) == datetime(2025, 6, 1, 11, tzinfo=UTC)
    assert ceil(floor(at, 86400), 86400) == DAY0


def test_hours_and_days_sum_the_raw_intervals(
    engine: Engine, add_station: Callable[..., Any]
) -> None:
    add_station("a")
    add_station("b")
    with session(engine) as s:
        # a: 12 intervals 5 min apart from 23:00 on day 0 → hour 23 of day 0, hour 0 of day 1
        for i in range(24):
            s.add(
                _interval(
                    "a", DAY0 + timedelta(hours=23, minutes=5 * i), entries=i + 1, occupancy=i
                )
            )
        s.add(_interval("b", DAY0 + timedelta(hours=5), entries=7))
    report = rollup_footfall(engine, start=DAY0, end=DAY0 + timedelta(days=2))
    assert report.hours == 3
    with session(engine) as s:
        hours = {(h.station_id, h.bucket_start): h for h in s.exec(select(FootfallHour)).scalars()}
        days = {(d.station_id, d.bucket_start): d for d in s.exec(select(FootfallDay)).scalars()}
    a23 = hours[("a", DAY0 + timedelta(hours=23))]
    assert a23.entries == sum(range(1, 13))
    assert a23.exits == sum(range(0, 12))
    assert a23.max_occupancy == 11
    assert a23.seconds == 12 * 300
    assert hours[("a", DAY0 + timedelta(hours=24))].entries == sum(range(13, 25))
    assert days[("a", DAY0)].entries == sum(range(1, 13))
    assert days[("a", DAY0 + timedelta(days=1))].entries == sum(range(13, 25))
    assert days[("b", DAY0)].entries == 7


def test_rerunning_after_late_data_recomputes_not_double_counts(
    engine: Engine, add_station: Callable[..., Any]
) -> None:
    add_station("a")
    with session(engine) as s:
        s.add(_interval("a", DAY0 + timedelta(minutes=0), entries=5))
    rollup_footfall(engine, start=DAY0, end=DAY0 + timedelta(hours=1))
    with session(engine) as s:  # a replayed interval arrives late
        s.add(_interval("a", DAY0 + timedelta(minutes=10), entries=3))
    rollup_footfall(engine, start=DAY0, end=DAY0 + timedelta(hours=1))
    rollup_footfall(engine, start=DAY0, end=DAY0 + timedelta(hours=1))
    with session(engine) as s:
        hour = s.get(FootfallHour, ("a", DAY0))
        day = s.get(FootfallDay, ("a", DAY0))
    assert hour is not None
    assert hour.entries == 8
    assert day is not None
    assert day.entries == 8


def _telemetry(sid: str, at: datetime) -> Telemetry:
    return Telemetry(
        station_id=sid,
        ts=at,
        received_at=at,
        uptime_s=1,
        interval_s=30,
        door="closed",
        lock="locked",
    )


def test_retention_deletes_only_old_rows_in_batches(
    engine: Engine, add_station: Callable[..., Any]
) -> None:
    add_station("a")
    now = DAY0 + timedelta(days=100)
    with session(engine) as s:
        for d in range(0, 100, 4):  # 25 rows, one per 4 days
            s.add(_telemetry("a", DAY0 + timedelta(days=d)))
        s.add(_interval("a", DAY0, entries=1))
        s.add(_interval("a", now - timedelta(days=1), entries=1))
        s.add(DeadLetter(received_at=DAY0, topic="t", payload=b"x", reason="schema"))
    cutoff = now - timedelta(days=30)
    expected = sum(1 for d in range(0, 100, 4) if DAY0 + timedelta(days=d) < cutoff)
    assert purge_before(engine, Telemetry, "received_at", cutoff, batch=4) == expected
    deleted = purge(engine, RetentionPolicy(telemetry_days=30), now=now)
    assert deleted == {"telemetry": 0, "footfall_interval": 1, "dead_letter": 1}
    with engine.connect() as conn:
        left = conn.scalar(select(func.min(table(Telemetry).c.received_at)))
        assert conn.scalar(select(func.count()).select_from(table(FootfallInterval))) == 1
    assert left is not None
    assert left >= cutoff
