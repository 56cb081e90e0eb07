"""Alarms end to end in the database: edge alarms through ingest, cloud rules through the
monitor, status history, and the health they give the map (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import Engine, text
from sqlmodel import col, select

from cloud.alarms.models import Alarm
from cloud.alarms.monitor import LOCK_KEY, Monitor
from cloud.auth import Principal, Role
from cloud.db import session
from cloud.ingest.ingestor import Ingestor
from cloud.models import Station, StationState, StatusChange
from cloud.stations import desired_config, edit, maintenance
from cloud.stations.liveness import Health, LivenessPolicy
from cloud.stations.opennow import assess
from protocol import topics
from protocol.messages import (
    AlarmEvent,
    DoorEvent,
    EffectiveSchedule,
    MetaPayload,
    StatePayload,
    TelemetryPayload,
)

SID = "st-001"
POLICY = LivenessPolicy(grace_intervals=3, stale_open_grace_s=300)


@pytest.fixture(autouse=True)
def _station(add_station: Callable[..., Station], clock: Any) -> None:
    add_station(SID)
    clock.now = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def ingestor(engine: Engine, clock: Any) -> Ingestor:
    return Ingestor(engine, clock=clock)


@pytest.fixture
def monitor(engine: Engine, clock: Any) -> Monitor:
    return Monitor(engine, policy=POLICY, clock=clock)


class Station1:
    """A station's messages with a running seq, stamped with the test clock."""

    def __init__(self, ingestor: Ingestor, clock: Any) -> None:
        self.ing, self.clock, self.seq, self.sess = ingestor, clock, 0, 0

    def _send(self, topic: str, payload: Any) -> None:
        self.ing.handle(topic, payload.to_bytes())
        self.ing.flush()

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def alarm(self, name: str, state: str, ts: datetime | None = None, **kw: Any) -> None:
        event = AlarmEvent(
            sid=SID,
            event_id=uuid4(),
            seq=self._next(),
            alarm=name,
            state=state,
            ts=ts or self.clock.now,
            **kw,
        )
        self._send(topics.events(SID), event)

    def door(self, action: str) -> None:
        event = DoorEvent(
            sid=SID, event_id=uuid4(), seq=self._next(), action=action, ts=self.clock.now
        )
        self._send(topics.events(SID), event)

    def birth(self) -> None:
        self.sess += 1
        state = StatePayload(sid=SID, status="online", sess=self.sess, ts=self.clock.now)
        self._send(topics.state(SID), state)

    def lost(self) -> None:
        self._send(
            topics.state(SID),
            StatePayload(sid=SID, status="lost", sess=self.sess, ts=self.clock.now),
        )

    def heartbeat(self, **fields: Any) -> None:
        payload = TelemetryPayload(sid=SID, uptime_s=1, interval_s=30, ts=self.clock.now, **fields)
        self._send(topics.telemetry(SID), payload)


@pytest.fixture
def st(ingestor: Ingestor, clock: Any) -> Station1:
    return Station1(ingestor, clock)


def alarms(engine: Engine) -> list[Alarm]:
    with session(engine) as s:
        return list(s.exec(select(Alarm).order_by(col(Alarm.id))))


def judge(engine: Engine, now: datetime) -> tuple[bool, Health]:
    with session(engine) as s:
        station = s.get(Station, SID)
        state = s.get(StationState, SID)
    assert station is not None
    a = assess(station, state, now, POLICY)
    return a.open_now, a.health


def stored_health(engine: Engine) -> str | None:
    with session(engine) as s:
        state = s.get(StationState, SID)
    assert state is not None
    return state.health


def history(engine: Engine) -> list[tuple[str, str]]:
    with session(engine) as s:
        rows = s.exec(select(StatusChange).order_by(col(StatusChange.at), col(StatusChange.id)))
        return [(r.status, r.source) for r in rows]


# --- edge alarms through ingest -------------------------------------------------------------


def test_camera_down_takes_the_station_off_the_map_until_cleared(
    engine: Engine, st: Station1, clock: Any
) -> None:
    st.birth()
    st.heartbeat(door="closed", lock="locked")
    assert judge(engine, clock.now) == (True, Health.OK)
    st.alarm("camera_down", "raised", detail="no usable frame")
    (alarm,) = alarms(engine)
    assert (alarm.rule, alarm.state, alarm.severity, alarm.source) == (
        "camera_down",
        "raised",
        "critical",
        "edge",
    )
    assert judge(engine, clock.now) == (False, Health.DOWN)
    clock.advance(30)
    st.alarm("camera_down", "cleared")
    (alarm,) = alarms(engine)
    assert alarm.state == "cleared"
    assert alarm.cleared_at == clock.now
    assert judge(engine, clock.now) == (True, Health.OK)


def test_a_repeated_raise_is_folded_into_the_open_alarm(engine: Engine, st: Station1) -> None:
    st.alarm("config_rejected", "raised", detail="bad v3")
    st.alarm("config_rejected", "raised", detail="bad v4")
    (alarm,) = alarms(engine)
    assert (alarm.occurrences, alarm.detail) == (2, "bad v4")


def test_a_replayed_old_raise_after_its_clear_is_history(
    engine: Engine, st: Station1, clock: Any
) -> None:
    earlier = clock.now - timedelta(minutes=30)
    st.alarm("clock_unsynced", "raised", ts=earlier)
    st.alarm("clock_unsynced", "cleared", ts=earlier + timedelta(minutes=5))
    st.alarm("clock_unsynced", "raised", ts=earlier + timedelta(minutes=1))  # out of order
    assert [a.state for a in alarms(engine)] == ["cleared"]


def test_door_held_and_forced_open_raise_and_the_door_closing_clears(
    engine: Engine, st: Station1, clock: Any
) -> None:
    st.door("held_open")
    st.door("forced_open")
    assert {a.rule: a.state for a in alarms(engine)} == {
        "door_held_open": "raised",
        "forced_open": "raised",
    }
    clock.advance(60)
    st.door("door_closed")
    assert {a.rule: a.state for a in alarms(engine)} == {
        "door_held_open": "cleared",
        "forced_open": "cleared",
    }


def test_tailgating_is_an_incident_that_only_waits_for_acknowledgement(
    engine: Engine, st: Station1
) -> None:
    st.birth()
    st.heartbeat()
    st.alarm("tailgating", "raised", detail="3 entries for 1 grant")
    (alarm,) = alarms(engine)
    assert alarm.state == "cleared"
    assert alarm.raised_at == alarm.cleared_at
    assert alarm.acknowledged_at is None
    with session(engine) as s:
        state = s.get(StationState, SID)
        assert state is not None
        assert state.alarm_level == "none"


# --- cloud rules through the monitor ----------------------------------------------------------


def test_fridge_warm_for_15_minutes_raises_a_warning_that_keeps_the_station_open(
    engine: Engine, st: Station1, monitor: Monitor, clock: Any
) -> None:
    st.birth()
    for i in range(31):  # 15 minutes of heartbeats every 30 s at 9 °C
        st.heartbeat(sensors={"fridge_c": 9.0})
        monitor.run_once()
        if i < 30:
            assert [a.state for a in alarms(engine)] == ["pending"]
        clock.advance(30)
    (alarm,) = alarms(engine)
    assert (alarm.rule, alarm.state, alarm.value) == ("fridge_warm", "raised", 9.0)
    assert judge(engine, clock.now) == (True, Health.DEGRADED)
    assert stored_health(engine) == "degraded"  # written by the run that raised the alarm
    st.heartbeat(sensors={"fridge_c": 4.0})
    for _ in range(11):  # 5 minutes below 7 °C clears it
        monitor.run_once()
        clock.advance(30)
        st.heartbeat(sensors={"fridge_c": 4.0})
    (alarm,) = alarms(engine)
    assert alarm.state == "cleared"
    assert judge(engine, clock.now) == (True, Health.OK)
    assert stored_health(engine) == "ok"


def test_offline_over_ten_minutes_raises_and_the_birth_clears(
    engine: Engine, st: Station1, monitor: Monitor, clock: Any
) -> None:
    st.birth()
    st.heartbeat()
    st.lost()
    assert judge(engine, clock.now) == (False, Health.DOWN)
    clock.advance(599)
    monitor.run_once()
    assert alarms(engine) == []
    clock.advance(2)
    report = monitor.run_once()
    assert report.raised == 1
    (alarm,) = alarms(engine)
    assert (alarm.rule, alarm.severity) == ("station_offline", "critical")
    st.birth()
    monitor.run_once()
    assert [a.state for a in alarms(engine)] == ["cleared"]


def test_lock_fault_blocks_opening(engine: Engine, st: Station1, monitor: Monitor) -> None:
    st.birth()
    st.heartbeat(lock="fault")
    monitor.run_once()
    (alarm,) = alarms(engine)
    assert (alarm.rule, alarm.blocks_open) == ("lock_fault", True)
    with session(engine) as s:
        state = s.get(StationState, SID)
        assert state is not None
        assert state.alarm_level == "blocking"


def test_old_lists_and_a_full_disk(
    engine: Engine, st: Station1, monitor: Monitor, clock: Any
) -> None:
    st.birth()
    st.heartbeat(trust_age_s=25 * 3600, revocation_age_s=3600, disk_used_pct=95.0)
    monitor.run_once()
    assert {a.rule: a.state for a in alarms(engine)} == {
        "trust_list_old": "raised",
        "disk_full": "pending",
    }
    clock.advance(301)
    st.heartbeat(trust_age_s=60, revocation_age_s=3600, disk_used_pct=95.0)
    monitor.run_once()
    assert {a.rule: a.state for a in alarms(engine)} == {
        "trust_list_old": "cleared",
        "disk_full": "raised",
    }


def test_status_history_records_reports_and_silence(
    engine: Engine, st: Station1, monitor: Monitor, clock: Any
) -> None:
    st.birth()
    st.heartbeat()
    monitor.run_once()
    clock.advance(91)  # three 30 s heartbeats missed: stale
    monitor.run_once()
    monitor.run_once()  # judged twice, recorded once
    st.heartbeat()
    monitor.run_once()
    st.lost()
    assert history(engine) == [
        ("online", "report"),
        ("stale", "silence"),
        ("online", "silence"),
        ("lost", "report"),
    ]


def test_only_one_monitor_runs_at_a_time_on_postgresql(
    engine: Engine, monitor: Monitor, db_url: str
) -> None:
    if not db_url.startswith("postgresql"):
        assert not monitor.run_once().skipped  # SQLite: the writer lock serialises runs
        return
    with engine.connect() as other, other.begin():
        lock = "SELECT pg_advisory_xact_lock(:k, hashtext(current_schema()))"
        other.execute(text(lock), {"k": LOCK_KEY})
        assert monitor.run_once().skipped
    assert not monitor.run_once().skipped
    # Another deployment's monitor (another schema, here: another key) does not hold this one
    # back; a database-wide key made parallel test schemas skip each other's runs.
    with engine.connect() as other, other.begin():
        other.execute(text("SELECT pg_advisory_xact_lock(:k, :ns)"), {"k": LOCK_KEY, "ns": 1})
        other.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
        assert not monitor.run_once().skipped


def test_quiet_stations_cost_the_monitor_nothing(
    engine: Engine, st: Station1, monitor: Monitor, clock: Any
) -> None:
    st.birth()
    st.heartbeat(sensors={"fridge_c": 4.0})
    assert monitor.run_once().stations == 1  # judged once: health becomes ok
    assert stored_health(engine) == "ok"
    assert monitor.run_once().stations == 0  # then left alone while nothing can change
    st.heartbeat(sensors={"fridge_c": 7.5})  # near the threshold: watched again
    assert monitor.run_once().stations == 1
    st.heartbeat(sensors={"fridge_c": 4.0})
    monitor.run_once()
    clock.advance(91)  # silence makes it stale: watched again, and recorded
    assert monitor.run_once().history == 1
    assert stored_health(engine) == "degraded"


def meta(st: Station1, schedule: dict[str, Any] | None, version: int | None = None) -> None:
    payload = MetaPayload(
        sid=SID,
        ts=st.clock.now,
        agent_version="test",
        config_version=version,
        schedule=None if schedule is None else EffectiveSchedule(**schedule),
    )
    st._send(topics.meta(SID), payload)


def test_a_door_closed_by_its_own_schedule_is_not_open_on_the_map(
    engine: Engine, st: Station1, clock: Any
) -> None:
    """Issue 17.4: the registry says open (24/7), the station's own schedule has its door
    closed to members: the door is what a worker meets."""
    st.birth()
    st.heartbeat(lock="locked", door="closed", door_mode="members")
    assert judge(engine, clock.now)[0]
    st.heartbeat(lock="locked", door="closed", door_mode="closed")
    with session(engine) as s:
        station, state = s.get(Station, SID), s.get(StationState, SID)
    assert station is not None
    a = assess(station, state, clock.now, POLICY)
    assert (a.open_now, a.basis, a.reason) == (False, "live", "door_closed")
    st.heartbeat(lock="locked", door="closed")  # an agent that does not report its mode
    assert judge(engine, clock.now)[0]


def test_a_station_running_other_hours_than_the_registry_raises_schedule_mismatch(
    engine: Engine, st: Station1, monitor: Monitor, clock: Any
) -> None:
    with session(engine) as s:
        station = s.get(Station, SID)
        assert station is not None
        station.opening_hours, station.tz = "Mo-Su 08:00-20:00", "Asia/Shanghai"
        s.add(station)
    st.birth()
    st.heartbeat(lock="locked", door="closed")
    # Before the cloud ever sent this station its hours, its own config rules: not compared
    # (`stations import` names the stations to push).
    meta(st, {"members": "24/7", "timezone": "Asia/Shanghai"})
    monitor.run_once()
    assert not [a for a in alarms(engine) if a.rule == "schedule_mismatch"]
    (message,), _ = desired_config.refresh(engine, [SID], clock.now)
    v = desired_config.version_of(message)
    meta(st, {"members": "Mo-Su 08:00-20:00", "timezone": "Asia/Shanghai"}, v)
    clock.advance(10)
    monitor.run_once()
    assert not [a for a in alarms(engine) if a.rule == "schedule_mismatch"]
    # The same station, quiet for a run (nothing to judge) …
    clock.advance(10)
    st.heartbeat(lock="locked", door="closed")
    monitor.run_once()
    # … then its door runs other hours: raised on the next run, quiet or not.
    meta(st, {"members": "Mo-Fr 09:00-17:00", "timezone": "Asia/Shanghai"}, v)
    clock.advance(10)
    monitor.run_once()
    raised = [a for a in alarms(engine) if a.rule == "schedule_mismatch"]
    assert [a.state for a in raised] == ["raised"]
    # Back to the registry's hours: cleared. No schedule at all (members at any hour): not
    # compared.
    meta(st, {"members": "Mo-Su 08:00-20:00", "timezone": "Asia/Shanghai"}, v)
    clock.advance(10)
    monitor.run_once()
    assert [a.state for a in alarms(engine) if a.rule == "schedule_mismatch"] == ["cleared"]
    meta(st, None, v)
    clock.advance(10)
    monitor.run_once()
    assert [a.state for a in alarms(engine) if a.rule == "schedule_mismatch"] == ["cleared"]


def test_a_station_in_maintenance_raises_no_station_offline(
    engine: Engine, st: Station1, monitor: Monitor, clock: Any
) -> None:
    """Ops switched the station off for maintenance: its silence is expected, and an offline
    alarm already raised clears when the window starts."""
    ops = Principal("ops", Role.OPERATOR, "token")
    st.birth()
    st.lost()
    clock.advance(700)
    monitor.run_once()
    assert [(a.rule, a.state) for a in alarms(engine)] == [("station_offline", "raised")]
    window = maintenance.create(
        engine, ops, SID, reason="整修", starts_at=None, ends_at=None, now=clock.now
    )
    monitor.run_once()
    assert [a.state for a in alarms(engine)] == ["cleared"]
    clock.advance(3600)
    monitor.run_once()
    assert [a.state for a in alarms(engine)] == ["cleared"]  # no new one meanwhile
    maintenance.end(engine, ops, SID, window.id, clock.now)
    clock.advance(10)
    monitor.run_once()  # the window is over: silent and not in maintenance raises again
    assert alarms(engine)[-1].state == "raised"


def test_a_retired_station_raises_no_station_offline(
    engine: Engine, st: Station1, monitor: Monitor, clock: Any
) -> None:
    """A station closed for good goes silent when its agent is taken away: the offline alarm
    raised clears when it is retired (or the alarm, and its notifications, would last
    forever), none is raised while it stays retired, and reinstating it judges it again."""
    st.birth()
    st.lost()
    clock.advance(700)
    monitor.run_once()
    assert [(a.rule, a.state) for a in alarms(engine)] == [("station_offline", "raised")]
    with session(engine) as s:
        assert edit.set_retired(s, SID, True, now=clock.now) is not None
        s.commit()
    monitor.run_once()
    assert [a.state for a in alarms(engine)] == ["cleared"]
    clock.advance(3600)
    monitor.run_once()
    assert [a.state for a in alarms(engine)] == ["cleared"]
    with session(engine) as s:
        edit.set_retired(s, SID, False, now=clock.now)
        s.commit()
    clock.advance(10)
    monitor.run_once()
    assert alarms(engine)[-1].state == "raised"
