"""`cloud.ops.series.series`: one metric of one station's heartbeats, bucketed (min, mean, max
per bucket); bad names, ranges and buckets are refused as SeriesError (a 422)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection

from cloud.models import Telemetry, table
from cloud.ops.series import MAX_POINTS, MAX_RANGE, SeriesError, series

TELEMETRY = table(Telemetry)
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def beat(db: Connection, sid: str, seconds: float, payload: dict[str, Any]) -> None:
    at = T0 + timedelta(seconds=seconds)
    db.execute(
        TELEMETRY.insert().values(
            station_id=sid,
            ts=at,
            received_at=at,
            uptime_s=1.0,
            interval_s=30.0,
            door="closed",
            lock="locked",
            payload=payload,
        )
    )


@pytest.fixture
def sid(db: Connection, put_station: Callable[..., str]) -> str:
    sid = put_station("st-1")
    put_station("st-2")
    for i, (temp, fridge) in enumerate([(50.0, 4.0), (60.0, 5.0), (55.0, None), (70.0, 6.0)]):
        sensors = {} if fridge is None else {"fridge_c": fridge}
        beat(db, sid, 30 * i, {"cpu_temp_c": temp, "sensors": sensors, "camera_ok": i % 2 == 0})
    beat(db, "st-2", 0, {"cpu_temp_c": 99.0})  # another station
    beat(db, sid, 3600, {"cpu_temp_c": 1.0})  # outside the range asked for
    return sid


def test_values_are_bucketed_with_min_mean_max(db: Connection, sid: str) -> None:
    out = series(db, sid, "cpu_temp_c", since=T0, until=T0 + timedelta(minutes=2), bucket_s=60)
    assert (out.station_id, out.metric, out.bucket_s) == (sid, "cpu_temp_c", 60)
    assert [(p.at, p.min, p.mean, p.max, p.n) for p in out.points] == [
        (T0, 50.0, 55.0, 60.0, 2),
        (T0 + timedelta(minutes=1), 55.0, 62.5, 70.0, 2),
    ]


def test_a_sensor_and_a_flag_can_be_charted_and_missing_values_skipped(
    db: Connection, sid: str
) -> None:
    until = T0 + timedelta(minutes=2)
    fridge = series(db, sid, "sensors.fridge_c", since=T0, until=until, bucket_s=60)
    assert [(p.mean, p.n) for p in fridge.points] == [(4.5, 2), (6.0, 1)]
    flag = series(db, sid, "camera_ok", since=T0, until=until, bucket_s=120)
    assert [(p.mean, p.n) for p in flag.points] == [(0.5, 4)]  # booleans count as 0 / 1
    nothing = series(db, sid, "never_sent", since=T0, until=until)
    assert nothing.points == []


def test_the_default_bucket_gives_about_300_points_but_never_under_30_s(
    db: Connection, sid: str
) -> None:
    assert series(db, sid, "cpu_temp_c", since=T0, until=T0 + timedelta(hours=1)).bucket_s == 30
    day = series(db, sid, "cpu_temp_c", since=T0, until=T0 + timedelta(days=1))
    assert day.bucket_s == 288  # 86400 / 300
    assert [p.n for p in day.points] == [4, 1]


@pytest.mark.parametrize(
    ("metric", "span", "bucket_s", "message"),
    [
        ("CPU", timedelta(hours=1), None, "metric 'CPU'"),
        ("sensors.", timedelta(hours=1), None, "metric"),
        ("payload'; drop table x", timedelta(hours=1), None, "metric"),
        ("a" * 41, timedelta(hours=1), None, "metric"),
        ("cpu_temp_c", timedelta(0), None, "until must be after since"),
        ("cpu_temp_c", -timedelta(hours=1), None, "until must be after since"),
        ("cpu_temp_c", MAX_RANGE + timedelta(seconds=1), None, "range longer than 31 days"),
        ("cpu_temp_c", timedelta(seconds=MAX_POINTS + 1), 1, "bucket_s too small"),
    ],
)
def test_bad_requests_are_refused_before_any_query(
    metric: str, span: timedelta, bucket_s: int | None, message: str
) -> None:
    no_db: Any = None  # refused before the database is asked
    with pytest.raises(SeriesError, match=message):
        series(no_db, "st-1", metric, since=T0, until=T0 + span, bucket_s=bucket_s)


def test_the_limits_themselves_are_allowed(db: Connection, sid: str) -> None:
    series(db, sid, "a" * 40, since=T0, until=T0 + MAX_RANGE)
    out = series(
        db, sid, "cpu_temp_c", since=T0, until=T0 + timedelta(seconds=MAX_POINTS), bucket_s=1
    )
    assert len(out.points) == 4
