"""Refusals are never silent (SQLite and PostgreSQL): refused seqs named in the ack, counted per
station, logged rate-limited; the seq-gap rule; and the alarms both raise and clear.

Story: a refused payload was acked like a stored one and nobody heard of it; a seq the
station never sent held its acks at the item before the gap forever.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from cloud.alarms.models import Alarm
from cloud.alarms.monitor import Monitor
from cloud.db import session
from cloud.ingest.acks import Ack
from cloud.ingest.ingestor import Ingestor
from cloud.models import DeadLetter, Station, StationState
from cloud.stations.liveness import LivenessPolicy
from protocol import topics
from protocol.messages import AccessEvent

SID = "st-001"
WAIT_S = 600.0


@pytest.fixture
def ingestor(engine: Engine, clock: Any, add_station: Callable[..., Station]) -> Ingestor:
    add_station(SID)
    return Ingestor(engine, clock=clock)


def event(seq: int) -> bytes:
    e = AccessEvent(sid=SID, event_id=uuid4(), seq=seq, granted=True, reason="granted")
    return e.to_bytes()


def bad(seq: int) -> bytes:
    return b'{"v":1,"sid":"%s","seq":%d,"type":"teleport"}' % (SID.encode(), seq)


def send(ing: Ingestor, *payloads: bytes) -> list[Ack]:
    for p in payloads:
        ing.handle(topics.events(SID), p)
    return ing.flush()


def state(engine: Engine) -> StationState:
    with session(engine) as s:
        got = s.get(StationState, SID)
    assert got is not None
    return got


def alarms(engine: Engine) -> list[tuple[str, str]]:
    with session(engine) as s:
        return [(a.rule, a.state) for a in s.exec(select(Alarm).order_by(Alarm.id))]


def test_the_ack_names_refused_seqs_once_and_the_station_counts_them(
    engine: Engine, ingestor: Ingestor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cloud.ingest")
    (ack,) = send(ingestor, event(1), bad(2), event(3), bad(4))
    assert (ack.upto_seq, ack.refused, ack.more) == (4, ((2, "schema"), (4, "schema")), 0)
    payload = ack.payload()
    assert payload.refused is not None
    assert [(r.seq, r.reason) for r in payload.refused] == [(2, "schema"), (4, "schema")]
    got = state(engine)
    assert (got.refused, got.refused_at is not None) == (2, True)
    assert got.refused_reason is not None
    assert got.refused_reason.startswith("schema:")
    # One log line for the station this minute, however many it refused.
    lines = [r for r in caplog.records if "refused a message of station st-001" in r.message]
    assert len(lines) == 1
    # The next ack covers nothing refused: a good ack is byte for byte the old one.
    (ack,) = send(ingestor, event(5))
    assert ack.payload().to_bytes().startswith(b'{"v":1,"ts":')
    assert b"refused" not in ack.payload().to_bytes()


def test_a_refused_seq_behind_a_gap_is_named_by_the_ack_that_passes_it(
    engine: Engine, ingestor: Ingestor
) -> None:
    assert [(a.upto_seq, a.refused) for a in send(ingestor, event(1), bad(3))] == [(1, ())]
    (ack,) = send(ingestor, event(2))
    assert (ack.upto_seq, ack.refused) == (3, ((3, "schema"),))


def test_a_long_refused_run_is_listed_up_to_the_cap_and_counted_beyond(
    ingestor: Ingestor,
) -> None:
    (ack,) = send(ingestor, *(bad(seq) for seq in range(1, 131)))
    assert (ack.upto_seq, len(ack.refused), ack.more) == (130, 100, 30)
    assert ack.payload().refused_more == 30


def test_a_gap_is_acked_past_after_the_wait_and_raises_seq_gap(
    engine: Engine, ingestor: Ingestor, clock: Any
) -> None:
    assert [a.upto_seq for a in send(ingestor, event(1), event(2), event(5), event(6))] == [2]
    assert state(engine).gap_since == clock.now
    clock.advance(WAIT_S - 1)
    assert ingestor.resolve_gaps(WAIT_S) == []  # not yet: the station may still resend
    clock.advance(1)
    (ack,) = ingestor.resolve_gaps(WAIT_S)
    assert (ack.upto_seq, ack.refused) == (6, ((3, "seq_gap"), (4, "seq_gap")))
    got = state(engine)
    assert (got.acked_seq, got.skipped, got.gap_at, got.gap_since) == (6, 2, clock.now, None)
    with session(engine) as s:
        gap = s.exec(select(DeadLetter).where(DeadLetter.reason == "seq_gap")).one()
    assert (gap.station_id, gap.seq) == (SID, 3)
    assert ingestor.resolve_gaps(WAIT_S) == []  # resolved once
    # A late arrival of a skipped seq is stored like any other, and moves nothing back.
    assert send(ingestor, event(3)) == []  # nothing new to ack; a resend would hear 6
    assert state(engine).acked_seq == 6


def test_a_gap_filled_in_time_skips_nothing_and_clears_the_hint(
    engine: Engine, ingestor: Ingestor, clock: Any
) -> None:
    send(ingestor, event(1), event(3))
    assert [a.upto_seq for a in send(ingestor, event(2))] == [3]
    clock.advance(WAIT_S)
    assert ingestor.resolve_gaps(WAIT_S) == []
    got = state(engine)
    assert (got.acked_seq, got.skipped, got.gap_since) == (3, 0, None)


def test_a_second_gap_waits_from_when_items_above_it_arrived(
    engine: Engine, ingestor: Ingestor, clock: Any
) -> None:
    send(ingestor, event(1), event(3))
    clock.advance(WAIT_S / 2)
    send(ingestor, event(5))  # a second gap (4) seen only from now
    clock.advance(WAIT_S / 2)
    (ack,) = ingestor.resolve_gaps(WAIT_S)
    assert (ack.upto_seq, ack.refused) == (3, ((2, "seq_gap"),))
    assert state(engine).gap_since == clock.now - timedelta(seconds=WAIT_S / 2)  # seq 5's
    clock.advance(WAIT_S / 2)
    (ack,) = ingestor.resolve_gaps(WAIT_S)
    assert (ack.upto_seq, ack.refused) == (5, ((4, "seq_gap"),))


def test_refusal_and_gap_alarms_raise_and_clear_after_a_quiet_period(
    engine: Engine, ingestor: Ingestor, clock: Any
) -> None:
    monitor = Monitor(engine, policy=LivenessPolicy(), clock=clock, quiet_s=3600)
    send(ingestor, event(1), bad(2), event(4))
    clock.advance(WAIT_S)
    ingestor.resolve_gaps(WAIT_S)
    monitor.run_once()
    assert sorted(alarms(engine)) == [("payload_refused", "raised"), ("seq_gap", "raised")]
    with session(engine) as s:
        refused = s.exec(select(Alarm).where(Alarm.rule == "payload_refused")).one()
    assert refused.detail is not None
    assert refused.detail.startswith("1 refused; newest: schema:")
    clock.advance(3000)
    send(ingestor, bad(5))  # another refusal: the quiet period starts again
    clock.advance(1000)
    monitor.run_once()
    assert sorted(alarms(engine)) == [("payload_refused", "raised"), ("seq_gap", "cleared")]
    clock.advance(3600)
    monitor.run_once()
    assert sorted(alarms(engine)) == [("payload_refused", "cleared"), ("seq_gap", "cleared")]
    assert state(engine).alarm_level == "none"
