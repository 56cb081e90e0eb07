"""`cloud.alarms.fleetscan`: which live-state rows a monitor run can skip (`quiet`). A row
wrongly quiet is an alarm never raised, so each condition that should wake a station is
tried alone on a station that is otherwise calm (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from cloud.alarms.fleetscan import STATE, STATES, ahead, quiet
from cloud.stations import desired_config
from cloud.stations.liveness import LivenessPolicy

NOW = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
POLICY = LivenessPolicy()
HOURS, ZONE = "Mo-Su 08:00-20:00", "Asia/Shanghai"
CALM: dict[str, Any] = {
    "status": "online",
    "history_status": "online",
    "sess": 1,
    "status_at": NOW - timedelta(minutes=5),
    "last_heartbeat": NOW - timedelta(seconds=10),
    "heartbeat_interval_s": 30.0,
    "alarm_level": "none",
    "attention": False,
    "health": "ok",
}


def quiet_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(STATES.where(quiet(NOW, POLICY, 3600.0))).all()
    return {r.station_id for r in rows}


@pytest.fixture
def pushed(
    engine: Engine, add_station: Callable[..., Any], set_state: Callable[..., Any]
) -> Callable[[str, dict[str, Any]], None]:
    """A calm station the cloud has sent its config, reporting `schedule` as in force."""

    def make(sid: str, schedule: dict[str, Any]) -> None:
        add_station(sid, opening_hours=HOURS, tz=ZONE)
        (message,), _ = desired_config.refresh(engine, [sid], NOW - timedelta(hours=1))
        version = desired_config.version_of(message)
        set_state(sid, **CALM, config_version=version, meta={"schedule": schedule})

    return make


def test_a_calm_station_running_the_registry_hours_is_quiet(
    engine: Engine, pushed: Callable[[str, dict[str, Any]], None]
) -> None:
    pushed("st-same", {"members": HOURS, "timezone": ZONE})
    pushed("st-none", {})  # reports no schedule keys: nothing to compare
    assert quiet_ids(engine) == {"st-same", "st-none"}


def test_other_hours_or_another_zone_wake_the_station(
    engine: Engine, pushed: Callable[[str, dict[str, Any]], None]
) -> None:
    pushed("st-hours", {"members": "Mo-Fr 09:00-17:00", "timezone": ZONE})
    pushed("st-zone", {"members": HOURS, "timezone": "Asia/Urumqi"})
    pushed("st-same", {"members": HOURS, "timezone": ZONE})
    assert quiet_ids(engine) == {"st-same"}


def test_before_any_push_the_local_schedule_is_not_compared(
    engine: Engine, add_station: Callable[..., Any], set_state: Callable[..., Any]
) -> None:
    add_station("st-local", opening_hours=HOURS, tz=ZONE)
    set_state("st-local", **CALM, meta={"schedule": {"members": "24/7", "timezone": ZONE}})
    assert quiet_ids(engine) == {"st-local"}


def test_a_desired_config_ahead_of_the_applied_one_is_on_its_way(
    engine: Engine, pushed: Callable[[str, dict[str, Any]], None]
) -> None:
    pushed("st-1", {"members": HOURS, "timezone": ZONE})
    with engine.connect() as conn:
        (row,) = conn.execute(STATES.where(STATE.c.station_id == "st-1")).all()
        assert not ahead(row)
        assert conn.execute(select(STATE.c.config_version)).scalar_one() == row.desired_version
    older = {"desired_version": row.desired_version, "config_version": row.desired_version - 1}
    assert ahead(type("Row", (), older)())
    assert ahead(type("Row", (), {"desired_version": 1, "config_version": None})())
    assert quiet_ids(engine) == {"st-1"}
