"""Per-station sensor thresholds: the monitor judges a station by its own override (a fridge
that must stay at 4 °C), every other station by the default; the override's hysteresis and
durations are honoured; limits outside what the sensor reports, or without a gap, are refused
naming the field."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from cloud.alarms import thresholds
from cloud.alarms.models import Alarm
from cloud.alarms.monitor import Monitor
from cloud.alarms.rules import RULES, Threshold
from cloud.db import session
from cloud.ingest.ingestor import Ingestor
from cloud.models import Station
from cloud.stations.liveness import LivenessPolicy
from protocol import topics
from protocol.messages import StatePayload, TelemetryPayload

POLICY = LivenessPolicy(grace_intervals=3, stale_open_grace_s=300)
COLD, PLAIN = "st-cold", "st-plain"  # a medicine fridge with its own limit, an ordinary one


@pytest.fixture
def fleet(engine: Engine, add_station: Callable[..., Station], clock: Any) -> Ingestor:
    add_station(COLD)
    add_station(PLAIN)
    clock.now = datetime.now(UTC).replace(microsecond=0)
    ingestor = Ingestor(engine, clock=clock)
    for sid in (COLD, PLAIN):
        birth = StatePayload(sid=sid, status="online", sess=1, ts=clock.now)
        ingestor.handle(topics.state(sid), birth.to_bytes())
    ingestor.flush()
    return ingestor


def heartbeat(ingestor: Ingestor, clock: Any, fridge_c: float) -> None:
    for sid in (COLD, PLAIN):
        payload = TelemetryPayload(
            sid=sid, uptime_s=1, interval_s=30, ts=clock.now, sensors={"fridge_c": fridge_c}
        )
        ingestor.handle(topics.telemetry(sid), payload.to_bytes())
    ingestor.flush()


def fridge(engine: Engine) -> dict[str, str]:
    """The newest fridge_warm state by station."""
    with session(engine) as s:
        rows = s.exec(select(Alarm).where(Alarm.rule == "fridge_warm").order_by(col(Alarm.id)))
        return {a.station_id: a.state for a in rows if a.station_id is not None}


def test_a_station_with_its_own_fridge_limit_raises_where_the_default_does_not(
    engine: Engine, fleet: Ingestor, clock: Any
) -> None:
    limits = {"raise_above": 5.0, "clear_below": 4.0, "raise_after_s": 60, "clear_after_s": 60}
    with engine.begin() as conn:
        thresholds.put(conn, [COLD], {"fridge_warm": limits}, by="admin", now=clock.now,
                       whole=True)  # fmt: skip
    monitor = Monitor(engine, policy=POLICY, clock=clock)
    heartbeat(fleet, clock, 6.0)
    monitor.run_once()
    assert fridge(engine) == {COLD: "pending"}  # its own raise_after_s: 60 s, not 15 min
    clock.advance(30)
    heartbeat(fleet, clock, 6.0)
    monitor.run_once()
    assert fridge(engine) == {COLD: "pending"}
    clock.advance(30)
    heartbeat(fleet, clock, 6.0)
    monitor.run_once()
    assert fridge(engine) == {COLD: "raised"}  # 6 °C is fine by the default 8 °C
    # 4.5 °C: below the raise limit but not the clear one (hysteresis): stays raised
    for _ in range(4):
        clock.advance(30)
        heartbeat(fleet, clock, 4.5)
        monitor.run_once()
    assert fridge(engine) == {COLD: "raised"}
    clock.advance(30)
    heartbeat(fleet, clock, 3.5)
    monitor.run_once()
    assert fridge(engine) == {COLD: "raised"}  # clearing: 60 s below 4 °C needed
    for _ in range(2):
        clock.advance(30)
        heartbeat(fleet, clock, 3.5)
        monitor.run_once()
    assert fridge(engine) == {COLD: "cleared"}


def test_the_default_applies_without_an_override_and_after_it_is_removed(
    engine: Engine, clock: Any, add_station: Callable[..., Station]
) -> None:
    add_station(COLD)
    fridge_rule = RULES["fridge_warm"]
    assert isinstance(fridge_rule, Threshold)
    with engine.begin() as conn:
        thresholds.put(conn, [COLD], {"fridge_warm": {"raise_above": 5.0, "clear_below": 4.0}},
                       by="admin", now=clock.now, whole=True)  # fmt: skip
        overrides = thresholds.load(conn)
        mine = thresholds.for_station(overrides, COLD, fridge_rule)
        assert (mine.raise_above, mine.clear_below, mine.raise_after_s) == (5.0, 4.0, 900)
        assert thresholds.for_station(overrides, PLAIN, fridge_rule) is fridge_rule
        view = {r["rule"]: r for r in thresholds.view(conn, COLD)}
        assert view["fridge_warm"]["effective"]["raise_above"] == 5.0
        assert view["disk_full"]["override"] is None
        assert thresholds.remove(conn, COLD, None) == 1
        assert thresholds.for_station(thresholds.load(conn), COLD, fridge_rule) is fridge_rule


@pytest.mark.parametrize(
    ("rule", "values", "field"),
    [
        ("fridge_warm", {"raise_above": 5.0, "clear_below": 6.0}, "fridge_warm.clear_below"),
        ("fridge_warm", {"raise_above": 6.0}, "fridge_warm.raise_above"),  # default clear 7
        ("fridge_warm", {"raise_above": 400.0}, "fridge_warm.raise_above"),
        ("disk_full", {"clear_below": -1.0}, "disk_full.clear_below"),
        ("disk_full", {"raise_after_s": 90_000}, "disk_full.raise_after_s"),
        ("disk_full", {"colour": 1}, "disk_full.colour"),
        ("station_offline", {"raise_above": 60}, "station_offline"),  # not a sensor
        ("lock_fault", {"raise_above": 0.9}, "lock_fault"),
    ],
)
def test_bad_limits_are_refused_naming_the_field(
    rule: str, values: dict[str, Any], field: str
) -> None:
    with pytest.raises(thresholds.ThresholdError) as err:
        thresholds.check(rule, values)
    assert err.value.field == field


def test_only_heartbeat_readings_are_tunable() -> None:
    assert set(thresholds.TUNABLE) == {
        "fridge_warm", "disk_full", "trust_list_old", "revocation_list_old",
    }  # fmt: skip
    assert thresholds.bounds(thresholds.TUNABLE["fridge_warm"]) == (-60.0, 150.0)
