"""Maintenance windows (SQLite and PostgreSQL): the rule in Python (`cloud.stations.opennow`)
and in SQL (`cloud.stations.maintenance.active_clause`) agree at every boundary; what the
index loads; the registry flag still counts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from cloud.auth import Principal, Role
from cloud.models import Station
from cloud.stations import maintenance
from cloud.stations.index import load_snapshot
from cloud.stations.liveness import epoch_us
from cloud.stations.opennow import NEXT_WINDOW_US, Window, assess, next_window, window_now

OPS = Principal("ops", Role.OPERATOR, "token")
H = timedelta(hours=1)


def test_a_window_is_active_from_its_start_up_to_not_including_its_end() -> None:
    w = Window(1, 100, 200, "x")
    assert [window_now((w,), t) for t in (99, 100, 199, 200)] == [None, w, w, None]
    open_ended = Window(2, 100, None, "")
    assert window_now((open_ended,), 10**18) == open_ended
    later, sooner = Window(3, 500, 600, "b"), Window(4, 300, 400, "a")
    assert next_window((later, sooner), 100) == sooner
    assert next_window((later,), 100, within_us=399) is None  # beyond the notice horizon
    assert next_window((w,), 150) is None  # already active: not "next"


def test_sql_and_python_agree_at_the_boundaries(
    engine: Engine, add_station: Callable[..., Station], clock: Any
) -> None:
    add_station("st-1")
    add_station("st-2", maintenance=True)  # the registry's flag: always, no window needed
    t0 = clock.now
    w = maintenance.create(
        engine, OPS, "st-1", reason="检修", starts_at=t0 + H, ends_at=t0 + 2 * H, now=t0
    )
    with engine.connect() as conn:
        tick = timedelta(microseconds=1)
        for at in (t0, t0 + H - tick, t0 + H, t0 + 2 * H - tick, t0 + 2 * H):
            windows = maintenance.station_windows(conn, "st-1", t0)
            python = window_now(windows, epoch_us(at)) is not None
            sql = conn.execute(
                select(maintenance.WINDOW.c.id).where(maintenance.active_clause(at))
            ).scalars().all()  # fmt: skip
            assert python == (sql == [w.id]), at
            expected = {"st-2", "st-1"} if python else {"st-2"}
            assert maintenance.maintained_ids(conn, at) == expected


def test_the_snapshot_holds_the_windows_and_the_rule_reads_them(
    engine: Engine, add_station: Callable[..., Station], clock: Any
) -> None:
    station = add_station("st-1")
    t0 = clock.now
    maintenance.create(engine, OPS, "st-1", reason="换锁", starts_at=None, ends_at=t0 + H, now=t0)
    planned = maintenance.create(
        engine, OPS, "st-1", reason="刷漆", starts_at=t0 + 3 * H, ends_at=t0 + 4 * H, now=t0
    )
    gone = maintenance.create(
        engine, OPS, "st-1", reason="取消", starts_at=t0 + 5 * H, ends_at=t0 + 6 * H, now=t0
    )
    maintenance.cancel(engine, OPS, "st-1", gone.id, t0)
    snap = load_snapshot(engine, t0)
    windows = snap.windows["st-1"]
    assert [w.reason for w in windows] == ["换锁", "刷漆"]  # a cancelled one is not loaded
    assert snap.next_change_us(epoch_us(t0)) == epoch_us(t0 + H)
    a = assess(station, None, t0, windows=windows)
    assert (a.open_now, a.reason, a.window.reason if a.window else None) == (
        False, "maintenance", "换锁",
    )  # fmt: skip
    assert a.next_window is not None
    assert a.next_window.id == planned.id
    later = assess(station, None, t0 + 2 * H, windows=windows)
    assert (later.open_now, later.window) == (True, None)
    assert NEXT_WINDOW_US == 7 * 86_400 * 1_000_000


@pytest.mark.parametrize(
    ("starts", "ends", "field"),
    [(2, 1, "ends_at"), (None, -1, "ends_at"), (-1, None, "starts_at")],
)
def test_impossible_times_name_their_field(
    engine: Engine,
    add_station: Callable[..., Station],
    clock: Any,
    starts: int | None,
    ends: int | None,
    field: str,
) -> None:
    add_station("st-1")
    t0 = clock.now
    with pytest.raises(maintenance.MaintenanceError) as caught:
        maintenance.create(
            engine, OPS, "st-1", reason="x", now=t0,
            starts_at=None if starts is None else t0 + starts * H,
            ends_at=None if ends is None else t0 + ends * H,
        )  # fmt: skip
    assert (caught.value.status, caught.value.field) == (422, field)
