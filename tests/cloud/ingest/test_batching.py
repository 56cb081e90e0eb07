"""Batched acks and heartbeats across many stations, and the Prometheus metrics they feed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import uuid4

from prometheus_client import generate_latest
from sqlalchemy import Engine
from sqlmodel import col, select

from cloud.db import session
from cloud.ingest.acks import SCAN
from cloud.ingest.ingestor import Ingestor
from cloud.ingest.metrics import IngestMetrics
from cloud.models import StationState, Telemetry
from protocol import topics
from protocol.messages import AccessEvent, TelemetryPayload
from tests.cloud.conftest import marks


def _event(sid: str, seq: int) -> bytes:
    return AccessEvent(
        sid=sid, event_id=uuid4(), seq=seq, granted=True, reason="granted", serial="ab" * 12
    ).to_bytes()


def test_one_batch_acks_many_stations_and_a_replay_longer_than_the_scan_window(
    engine: Engine, add_station: Callable[..., Any], clock: Callable[[], datetime]
) -> None:
    """Story: acks were computed with 3 queries per station per batch; the batched version
    must still walk past its SCAN window when one station replays a long journal."""
    sids = [f"st-{i:03d}" for i in range(30)]
    for sid in sids:
        add_station(sid)
    ingestor = Ingestor(engine, clock=clock)
    long = SCAN * 2 + 7
    for seq in range(1, long + 1):
        ingestor.handle(topics.events("st-000"), _event("st-000", seq))
    for sid in sids[1:]:
        for seq in (1, 2, 4):  # seq 3 is missing: acks stop at 2
            ingestor.handle(topics.events(sid), _event(sid, seq))
    ingestor.handle(topics.telemetry("st-001"), b"not json")  # a dead letter
    acks = dict(marks(ingestor.flush()))
    assert acks["st-000"] == long
    assert all(acks[sid] == 2 for sid in sids[1:])
    ingestor.handle(topics.events("st-005"), _event("st-005", 3))
    assert marks(ingestor.flush()) == [("st-005", 4)]
    with session(engine) as s:
        assert s.get(StationState, "st-000").acked_seq == long  # type: ignore[union-attr]


def test_heartbeats_of_a_batch_update_each_station_once_newest_wins(
    engine: Engine, add_station: Callable[..., Any], clock: Any
) -> None:
    for sid in ("st-a", "st-b"):
        add_station(sid)
    ingestor = Ingestor(engine, clock=clock)
    for sid, occupancy, config in (("st-a", 1, 7), ("st-b", 2, None), ("st-a", 3, None)):
        clock.advance(1)
        body = TelemetryPayload(
            sid=sid, uptime_s=1, door="closed", lock="locked", occupancy=occupancy,
            config_version=config,
        ).to_bytes()  # fmt: skip
        ingestor.handle(topics.telemetry(sid), body)
    ingestor.flush()
    with session(engine) as s:
        a, b = s.get(StationState, "st-a"), s.get(StationState, "st-b")
    assert a is not None
    assert b is not None
    assert (a.occupancy, a.config_version, a.last_heartbeat) == (3, None, clock.now)
    assert (b.occupancy, b.door) == (2, "closed")


def test_metrics_count_what_was_committed(
    engine: Engine, add_station: Callable[..., Any], clock: Any
) -> None:
    add_station("st-001")
    ingestor = Ingestor(engine, clock=clock)
    metrics = IngestMetrics()
    for seq in (1, 2, 2):
        ingestor.handle(topics.events("st-001"), _event("st-001", seq))
    ingestor.handle(topics.events("st-404"), _event("st-404", 1))
    ingestor.flush()
    metrics.sync_counts(ingestor.stats)
    metrics.sync_counts(ingestor.stats)  # idempotent between flushes
    text = generate_latest(metrics.registry).decode()
    assert 'waystation_ingest_messages_total{kind="events",result="stored"} 2.0' in text
    assert 'waystation_ingest_messages_total{kind="events",result="duplicate"} 1.0' in text
    assert 'result="unknown_station"} 1.0' in text


def test_heartbeats_across_batches_keep_config_and_never_go_back(
    engine: Engine, add_station: Callable[..., Any], clock: Any
) -> None:
    add_station("st-a")
    ingestor = Ingestor(engine, clock=clock)

    def beat(occupancy: int, config: int | None, fridge: float) -> bytes:
        return TelemetryPayload(
            sid="st-a", uptime_s=5, door="closed", lock="locked", occupancy=occupancy,
            config_version=config, sensors={"fridge_c": fridge}, ts=clock.now,
        ).to_bytes()  # fmt: skip

    sent = beat(1, 7, 4.0)
    ingestor.handle(topics.telemetry("st-a"), sent)
    ingestor.flush()
    first = clock.now
    clock.advance(30)
    ingestor.handle(topics.telemetry("st-a"), beat(2, None, 9.5))  # no config_version
    ingestor.flush()
    with session(engine) as s:
        st = s.get(StationState, "st-a")
        assert st is not None
        assert (st.occupancy, st.config_version, st.last_heartbeat) == (2, 7, clock.now)
        assert st.telemetry is not None
        assert st.telemetry["sensors"] == {"fridge_c": 9.5}
        assert st.attention  # 9.5 °C is near the fridge alarm
        rows = s.exec(select(Telemetry).order_by(col(Telemetry.received_at))).all()
    assert [r.payload["sensors"]["fridge_c"] for r in rows] == [4.0, 9.5]
    assert rows[0].payload == TelemetryPayload.model_validate_json(sent).model_dump(mode="json")
    # a heartbeat received earlier than the stored one (a slow worker) changes nothing
    late = Ingestor(engine, clock=lambda: first)
    late.handle(topics.telemetry("st-a"), beat(0, 9, 3.0))
    late.flush()
    with session(engine) as s:
        st = s.get(StationState, "st-a")
        assert st is not None
        assert (st.occupancy, st.config_version) == (2, 7)
