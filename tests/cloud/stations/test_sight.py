"""The cloud's judgement of its own sight (`cloud.stations.sight`): blind when no ingest worker is
connected, or when most of the fleet that was alive went quiet together; never in normal
operation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from cloud.alarms.sightwatch import read_sight
from cloud.stations.liveness import LivenessPolicy
from cloud.stations.sight import (
    Blindness,
    Presence,
    Pulse,
    SightPolicy,
    Standing,
    judge_sight,
    record_presence,
)

T0 = datetime(2025, 6, 2, 2, 0, tzinfo=UTC)
POLICY = SightPolicy()
NOBODY = Presence(known=False)


def test_silence_needs_a_share_and_a_minimum_of_the_cohort() -> None:
    assert not judge_sight(Pulse(T0, 100, 49), NOBODY, POLICY).blind
    blind = judge_sight(Pulse(T0, 100, 50), NOBODY, POLICY)
    assert (blind.blind, blind.reason, blind.saw_until) == (True, Blindness.FLEET_SILENCE, T0)
    assert not judge_sight(Pulse(T0, 2, 2), NOBODY, POLICY).blind  # two are not a fleet
    assert judge_sight(Pulse(T0, 3, 3), NOBODY, POLICY).blind


def test_no_connected_ingest_worker_is_blindness_and_unknown_presence_is_not() -> None:
    gone = Presence(known=True, connected=0, last_connected=T0)
    sight = judge_sight(Pulse(T0, 1, 0), gone, POLICY)
    assert (sight.blind, sight.reason, sight.saw_until) == (True, Blindness.NO_INGEST, T0)
    assert not judge_sight(Pulse(T0, 1, 0), NOBODY, POLICY).blind
    back = Presence(known=True, connected=2, connected_since=T0)
    assert judge_sight(Pulse(T0, 1, 0), back, POLICY).heard_from == T0


def test_read_from_the_database(
    engine: Engine, add_station: Callable[..., Any], set_state: Callable[..., Any]
) -> None:
    liveness = LivenessPolicy()
    for i in range(4):
        add_station(f"st-{i}")
        set_state(
            f"st-{i}", status="online", status_at=T0, last_heartbeat=T0 + timedelta(seconds=i)
        )
    with engine.connect() as conn:
        assert not read_sight(conn, T0 + timedelta(seconds=30), liveness, POLICY).blind
        quiet = read_sight(conn, T0 + timedelta(minutes=10), liveness, POLICY)
    assert (quiet.blind, quiet.reason) == (True, Blindness.FLEET_SILENCE)
    # An ingest worker that says it is not connected: blind at once, whatever the fleet.
    now = T0 + timedelta(seconds=30)
    with engine.begin() as conn:
        record_presence(conn, "ws-ingest-a", False, now)
    with engine.connect() as conn:
        sight = read_sight(conn, now, liveness, POLICY)
    assert (sight.blind, sight.reason) == (True, Blindness.NO_INGEST)
    later = now + timedelta(seconds=5)
    with engine.begin() as conn:
        record_presence(conn, "ws-ingest-a", True, later)
        record_presence(conn, "ws-ingest-b", True, later + timedelta(seconds=1))
    with engine.connect() as conn:
        sight = read_sight(conn, later + timedelta(seconds=2), liveness, POLICY)
    assert (sight.blind, sight.heard_from) == (False, later)
    # A worker whose record went stale (its process died) no longer counts.
    with engine.connect() as conn:
        sight = read_sight(conn, later + timedelta(seconds=60), liveness, POLICY)
    assert (sight.blind, sight.reason) == (True, Blindness.NO_INGEST)


def test_the_api_takes_fleet_silence_from_the_monitors_alarm() -> None:
    # The API never scans the live state: the monitor's standing `cloud_blind` decides.
    saw = T0 - timedelta(minutes=5)
    silent = Standing(True, Blindness.FLEET_SILENCE, saw, T0)
    sight = judge_sight(None, NOBODY, POLICY, silent)
    assert (sight.blind, sight.reason, sight.saw_until) == (True, Blindness.FLEET_SILENCE, saw)
    # Raised for want of ingest, but a worker is connected again: sight has returned.
    stale = Standing(True, Blindness.NO_INGEST, saw, T0)
    back = Presence(known=True, connected=1, connected_since=T0 - timedelta(hours=1))
    sight = judge_sight(None, back, POLICY, stale)
    assert (sight.blind, sight.heard_from) == (False, T0)
    assert not judge_sight(None, NOBODY, POLICY, Standing(updated_at=T0)).blind
