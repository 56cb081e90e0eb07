"""Absurd readings and clocks far ahead: stored without them, the original dead-lettered and
counted, nothing written as truth, ingest never crashing."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from cloud.db import session
from cloud.ingest.ingestor import Ingestor
from cloud.models import DeadLetter, Event, FootfallInterval, Station, StationState, Telemetry
from protocol import topics
from protocol.messages import AccessEvent, FootfallPayload, TelemetryPayload
from tests.cloud.conftest import marks

SID = "st-001"


@pytest.fixture(autouse=True)
def _station(add_station: Callable[..., Station], clock: Any) -> None:
    add_station(SID)
    clock.now = datetime.now(UTC)


@pytest.fixture
def ingestor(engine: Engine, clock: Any) -> Ingestor:
    return Ingestor(engine, clock=clock)


def dead(engine: Engine) -> list[DeadLetter]:
    with session(engine) as s:
        return list(s.exec(select(DeadLetter).order_by(col(DeadLetter.id))))


def test_an_absurd_fridge_reading_is_dropped_but_the_heartbeat_kept(
    engine: Engine, ingestor: Ingestor
) -> None:
    payload = TelemetryPayload(
        sid=SID, uptime_s=5, sensors={"fridge_c": -300.0, "ambient_c": 21.5}, cpu_temp_c=999.0
    )
    raw = payload.to_bytes()
    ingestor.handle(topics.telemetry(SID), raw)
    ingestor.flush()
    with session(engine) as s:
        (row,) = s.exec(select(Telemetry))
        state = s.get(StationState, SID)
    assert row.payload["sensors"] == {"ambient_c": 21.5}
    assert row.cpu_temp_c is None
    assert state is not None
    assert state.last_heartbeat is not None  # still a heartbeat: the station stays on the map
    assert state.telemetry is not None
    assert "fridge_c" not in state.telemetry["sensors"]
    reasons = [(d.reason, d.payload) for d in dead(engine)]
    assert reasons == [("implausible", raw), ("implausible", raw)]
    assert ingestor.stats[("telemetry", "stored")] == 1
    assert ingestor.stats[("telemetry", "implausible")] == 2


@pytest.mark.parametrize("value", ["NaN", "Infinity", "1e999"])
def test_non_finite_readings_are_dropped(engine: Engine, ingestor: Ingestor, value: str) -> None:
    raw = json.dumps({"v": 1, "sid": SID, "uptime_s": 1, "sensors": {"fridge_c": 0}}).replace(
        '"fridge_c": 0', f'"fridge_c": {value}'
    )
    ingestor.handle(topics.telemetry(SID), raw.encode())
    ingestor.flush()
    with session(engine) as s:
        rows = list(s.exec(select(Telemetry)))
    assert [r.payload["sensors"] for r in rows] == [{}]
    assert [d.reason for d in dead(engine)] == ["implausible"]


def test_a_clock_far_ahead_is_replaced_by_the_receipt_time(
    engine: Engine, ingestor: Ingestor, clock: Any
) -> None:
    ahead = clock.now + timedelta(days=400)
    event = AccessEvent(sid=SID, event_id=uuid4(), seq=1, granted=False, reason="expired", ts=ahead)
    ingestor.handle(topics.events(SID), event.to_bytes())
    assert marks(ingestor.flush()) == [(SID, 1)]  # stored, so acknowledged
    with session(engine) as s:
        (row,) = s.exec(select(Event))
    assert row.ts == clock.now
    assert [d.reason for d in dead(engine)] == ["clock_ahead"]


def test_a_little_ahead_is_normal_skew(engine: Engine, ingestor: Ingestor, clock: Any) -> None:
    ts = clock.now + timedelta(seconds=90)
    ingestor.handle(topics.telemetry(SID), TelemetryPayload(sid=SID, uptime_s=1, ts=ts).to_bytes())
    ingestor.flush()
    assert dead(engine) == []


def test_a_footfall_interval_in_the_future_is_refused_but_acknowledged(
    engine: Engine, ingestor: Ingestor, clock: Any
) -> None:
    future = FootfallPayload(
        sid=SID,
        seq=1,
        interval_start=clock.now + timedelta(days=2),
        seconds=300,
        entries=5,
        exits=4,
        occupancy=1,
    )
    ingestor.handle(topics.footfall(SID), future.to_bytes())
    assert marks(ingestor.flush()) == [(SID, 1)]  # or the journal would hold it forever
    with session(engine) as s:
        assert list(s.exec(select(FootfallInterval))) == []
    assert [(d.reason, d.seq) for d in dead(engine)] == [("clock_ahead", 1)]
    assert ingestor.stats[("footfall", "clock_ahead")] == 1
