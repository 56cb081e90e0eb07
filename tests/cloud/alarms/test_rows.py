"""`cloud.alarms.rows`: alarm rows read and written in the caller's transaction, and the
station's alarm level (`blocking`, `warning`, `none`) recomputed from its raised alarms."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from cloud.alarms import rows as alarm_rows
from cloud.alarms.rules import Open, edge_rule
from cloud.models import StationState, table

STATE = table(StationState)
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def add(db: Connection, sid: str, rule: str, state: str = "raised", **values: Any) -> int:
    fields = {"state": state, "since": T0} | values
    return alarm_rows.add(db, sid, edge_rule(rule), "edge", fields, T0)


def level(db: Connection, sid: str) -> str:
    query = select(STATE.c.alarm_level).where(STATE.c.station_id == sid)
    return str(db.execute(query).scalar_one())


def test_open_rows_are_the_not_yet_cleared_ones_of_a_source(
    db: Connection, put_station: Callable[..., str]
) -> None:
    put_station("st-1")
    put_station("st-2")
    raised = add(db, "st-1", "camera_down")
    add(db, "st-1", "forced_open", "cleared", cleared_at=T0)
    other = add(db, "st-2", "clock_unsynced")
    assert alarm_rows.open_rows(db, source="edge") == {
        ("st-1", "camera_down"): Open(raised, "raised", T0, None),
        ("st-2", "clock_unsynced"): Open(other, "raised", T0, None),
    }
    assert set(alarm_rows.open_rows(db, source="edge", stations={"st-2"})) == {
        ("st-2", "clock_unsynced")
    }
    assert alarm_rows.open_rows(db, source="edge", stations=set()) == {}
    assert alarm_rows.open_rows(db, source="cloud") == {}


def test_add_change_and_remove_a_row(db: Connection, put_station: Callable[..., str]) -> None:
    put_station("st-1")
    alarm_id = add(db, "st-1", "camera_down", detail="first")
    alarm_rows.change(db, alarm_id, {"detail": "again"}, T0 + timedelta(minutes=1), again=True)
    alarm_rows.change(db, alarm_id, {"detail": "and again"}, T0 + timedelta(minutes=2), again=True)
    row = db.execute(select(alarm_rows.ALARM).where(alarm_rows.ALARM.c.id == alarm_id)).one()
    assert (row.occurrences, row.detail, row.severity, row.blocks_open) == (
        3,
        "and again",
        "critical",
        True,
    )
    assert row.updated_at == T0 + timedelta(minutes=2)
    alarm_rows.change(db, alarm_id, {"state": "cleared", "cleared_at": T0}, T0)
    assert db.execute(select(alarm_rows.ALARM.c.occurrences)).scalar_one() == 3  # not a raise
    alarm_rows.remove(db, alarm_id)
    assert db.execute(select(alarm_rows.ALARM)).first() is None


def test_at_most_one_open_row_per_station_and_rule(
    db: Connection, put_station: Callable[..., str]
) -> None:
    put_station("st-1")
    add(db, "st-1", "camera_down")
    add(db, "st-1", "camera_down", "cleared", cleared_at=T0)  # history may pile up
    with pytest.raises(IntegrityError), db.begin_nested():
        add(db, "st-1", "camera_down")


def test_last_cleared_at_is_the_newest_clear_of_that_rule(
    db: Connection, put_station: Callable[..., str]
) -> None:
    put_station("st-1")
    assert alarm_rows.last_cleared_at(db, "st-1", "camera_down") is None
    for minutes in (5, 20, 10):
        add(db, "st-1", "camera_down", "cleared", cleared_at=T0 + timedelta(minutes=minutes))
    add(db, "st-1", "forced_open", "cleared", cleared_at=T0 + timedelta(hours=5))
    assert alarm_rows.last_cleared_at(db, "st-1", "camera_down") == T0 + timedelta(minutes=20)


def test_the_level_follows_the_raised_alarms(
    db: Connection, put_station: Callable[..., str]
) -> None:
    for sid in ("st-b", "st-w", "st-n"):
        put_station(sid)
    add(db, "st-b", "camera_down")  # blocks opening
    add(db, "st-b", "clock_unsynced")
    add(db, "st-w", "clock_unsynced")  # a warning
    add(db, "st-w", "camera_down", "cleared", cleared_at=T0)  # over: does not count
    add(db, "st-n", "camera_down", "pending")  # not raised yet
    alarm_rows.refresh_levels(db, {"st-b", "st-w", "st-n"})
    assert [level(db, s) for s in ("st-b", "st-w", "st-n")] == ["blocking", "warning", "none"]


def test_only_the_named_stations_are_refreshed(
    db: Connection, put_station: Callable[..., str]
) -> None:
    put_station("st-1")
    put_station("st-2")
    add(db, "st-1", "camera_down")
    add(db, "st-2", "camera_down")
    alarm_rows.refresh_levels(db, set())
    alarm_rows.refresh_levels(db, {"st-1"})
    assert (level(db, "st-1"), level(db, "st-2")) == ("blocking", "none")
