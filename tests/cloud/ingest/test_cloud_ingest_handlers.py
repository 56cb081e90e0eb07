from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import Engine, func
from sqlmodel import col, select

from cloud.db import make_engine, session
from cloud.ingest.handlers import Ingestor
from cloud.models import (
    DeadLetter,
    Event,
    FootfallInterval,
    Station,
    StationState,
    Telemetry,
)
from protocol import topics
from protocol.messages import (
    MAX_PAYLOAD_BYTES,
    AccessEvent,
    AlarmEvent,
    DoorEvent,
    FootfallPayload,
    MetaPayload,
    StatePayload,
    TelemetryPayload,
)

SID = "st-001"


@pytest.fixture
def ingestor(engine: Engine, clock: Callable[[], datetime]) -> Ingestor:
    return Ingestor(engine, clock=clock)


@pytest.fixture(autouse=True)
def _station(add_station: Callable[..., Station]) -> None:
    add_station(SID)


@pytest.fixture(autouse=True)
def _clock_now(clock: Any) -> None:
    """Payloads carry the real time; a cloud clock a year behind would see them all as
    `clock_ahead` (tested on purpose in test_cloud_ingest_sanity)."""
    clock.now = datetime.now(UTC)


def access(seq: int, *, event_id: UUID | None = None, historical: bool = False) -> AccessEvent:
    return AccessEvent(
        sid=SID,
        event_id=event_id or uuid4(),
        seq=seq,
        granted=True,
        reason="granted",
        credential="ws1",
        serial="ab" * 12,
        historical=historical,
    )


def footfall(seq: int, minute: int = 0, entries: int = 1) -> FootfallPayload:
    return FootfallPayload(
        sid=SID,
        seq=seq,
        interval_start=datetime(2025, 6, 2, 2, minute, tzinfo=UTC),
        seconds=60,
        entries=entries,
        exits=0,
        occupancy=entries,
    )


def send(ing: Ingestor, *payloads: Any, retained: bool = False) -> list[tuple[str, int]]:
    """Handle payloads on their natural topics, then flush."""
    for p in payloads:
        kind = {
            StatePayload: topics.state,
            MetaPayload: topics.meta,
            TelemetryPayload: topics.telemetry,
            FootfallPayload: topics.footfall,
        }.get(type(p), topics.events)
        ing.handle(kind(p.sid), p.to_bytes(), retained)
    return ing.flush()


def state_of(engine: Engine, sid: str = SID) -> StationState:
    with session(engine) as s:
        got = s.get(StationState, sid)
    assert got is not None
    return got


def count(engine: Engine, model: Any) -> int:
    with session(engine) as s:
        return s.exec(select(func.count()).select_from(model)).one()


def dead_letters(engine: Engine) -> list[DeadLetter]:
    with session(engine) as s:
        return list(s.exec(select(DeadLetter).order_by(col(DeadLetter.id))))


# --- stored as they should be -------------------------------------------------------------------


def test_events_of_every_type_are_stored(engine: Engine, ingestor: Ingestor) -> None:
    door = DoorEvent(sid=SID, event_id=uuid4(), seq=2, action="door_opened", cause="grant")
    alarm = AlarmEvent(
        sid=SID, event_id=uuid4(), seq=3, alarm="camera_down", state="raised", detail="no frames"
    )
    assert send(ingestor, access(1), door, alarm) == [(SID, 3)]
    with session(engine) as s:
        rows = {e.seq: e for e in s.exec(select(Event))}
    assert rows[1].type == "access"
    assert rows[1].granted
    assert rows[1].reason == "granted"
    assert rows[1].serial == "ab" * 12
    assert (rows[2].action, rows[2].cause) == ("door_opened", "grant")
    assert (rows[3].alarm, rows[3].alarm_state, rows[3].detail) == (
        "camera_down",
        "raised",
        "no frames",
    )
    assert rows[1].ts.tzinfo is UTC
    assert state_of(engine).acked_seq == 3


def test_telemetry_is_a_heartbeat_and_sets_live_readings(
    engine: Engine, ingestor: Ingestor, clock: Any
) -> None:
    tele = TelemetryPayload(
        sid=SID, uptime_s=100, interval_s=15, door="open", lock="unlocked", occupancy=4,
        config_version=7, sensors={"fridge_c": 4.5},
    )  # fmt: skip
    assert send(ingestor, tele) == []  # telemetry is not journaled: nothing to ack
    st = state_of(engine)
    assert st.last_heartbeat == clock.now
    assert st.last_seen == clock.now
    assert (st.heartbeat_interval_s, st.door, st.lock, st.occupancy, st.config_version) == (
        15,
        "open",
        "unlocked",
        4,
        7,
    )
    with session(engine) as s:
        row = s.exec(select(Telemetry)).one()
    assert row.payload["sensors"] == {"fridge_c": 4.5}
    assert row.occupancy == 4


def test_meta_is_kept_on_the_state(engine: Engine, ingestor: Ingestor) -> None:
    meta = MetaPayload(sid=SID, agent_version="0.1.0", capabilities=["ws1"], config_version=3)
    send(ingestor, meta, retained=True)
    st = state_of(engine)
    assert st.meta is not None
    assert st.meta["agent_version"] == "0.1.0"
    assert st.config_version == 3


# --- dead letters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        pytest.param(topics.events(SID), b"{not json", "not_json", id="not_json"),
        pytest.param(topics.events(SID), b'{"v":1,"sid":"\xff"}', "not_utf8", id="not_utf8"),
        pytest.param(topics.events(SID), b"[1, 2]", "not_object", id="not_object"),
        pytest.param(topics.events(SID), b'{"v":2,"sid":"st-001"}', "bad_version", id="version"),
        pytest.param(topics.events(SID), b'{"v":1,"sid":"st-001","seq":0}', "schema", id="schema"),
        pytest.param(
            topics.state(SID),
            b'{"v":1,"sid":"st-001","status":"asleep","sess":1}',
            "schema",
            id="schema-state",
        ),
        pytest.param(topics.events(SID), b" " * (MAX_PAYLOAD_BYTES + 1), "too_large", id="large"),
        pytest.param(
            topics.events(SID),
            access(1).to_bytes().replace(b"st-001", b"st-002"),
            "sid_mismatch",
            id="sid_mismatch",
        ),
        pytest.param(
            topics.events("st-999"),
            access(1).to_bytes().replace(b"st-001", b"st-999"),
            "unknown_station",
            id="unknown_station",
        ),
        pytest.param("ws/v1/st-001/bogus", b"{}", "bad_topic", id="bad_topic"),
        pytest.param("somewhere/else", b"{}", "bad_topic", id="foreign_topic"),
        pytest.param(topics.ack(SID), b'{"v":1,"upto_seq":1}', "bad_topic", id="wrong_direction"),
    ],
)
def test_bad_input_is_dead_lettered_never_raised(
    engine: Engine, ingestor: Ingestor, topic: str, payload: bytes, reason: str
) -> None:
    ingestor.handle(topic, payload)
    ingestor.flush()
    (dead,) = dead_letters(engine)
    assert dead.reason == reason
    assert dead.topic == topic
    assert dead.payload == payload  # byte for byte, even when it is not UTF-8
    assert dead.detail
    assert count(engine, Event) == 0
    (key,) = ingestor.stats
    assert key[1] == reason


def test_dead_letters_name_the_topic_station(engine: Engine, ingestor: Ingestor) -> None:
    ingestor.handle(topics.events(SID), access(1).to_bytes().replace(b"st-001", b"st-002"))
    ingestor.flush()
    (dead,) = dead_letters(engine)
    assert (dead.station_id, dead.seq) == (SID, 1)  # the publisher is the topic's station


def test_one_bad_item_does_not_sink_the_batch(engine: Engine, ingestor: Ingestor) -> None:
    """A seq beyond BIGINT is refused by the schema up front (`schema`), and a NUL in text,
    which only PostgreSQL refuses, is isolated by storing the batch one by one
    (`store_failed`): only those items are dead-lettered; the rest is stored and acked."""
    huge = access(1).to_bytes().replace(b'"seq":1', b'"seq":' + str(2**70).encode())
    nul = AlarmEvent(
        sid=SID, event_id=uuid4(), seq=3, alarm="camera_down", state="raised", detail="a\x00b"
    )
    ingestor.handle(topics.events(SID), access(1).to_bytes())
    ingestor.handle(topics.events(SID), huge)
    ingestor.handle(topics.events(SID), access(2).to_bytes())
    ingestor.handle(topics.events(SID), nul.to_bytes())
    assert ingestor.flush() == [(SID, 3)]
    postgres = engine.dialect.name == "postgresql"
    assert count(engine, Event) == (2 if postgres else 3)
    reasons = [d.reason for d in dead_letters(engine)]
    assert reasons == (["schema", "store_failed"] if postgres else ["schema"])
    assert ingestor.stats[("events", "stored")] == (2 if postgres else 3)
    assert ingestor.pending == 0


def test_database_outage_raises_and_keeps_the_buffer(tmp_path: Path) -> None:
    eng = make_engine(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    try:
        ing = Ingestor(eng)
        ing.handle(topics.events(SID), access(1).to_bytes())
        with pytest.raises(Exception, match="unable to open database"):
            ing.flush()
        assert ing.pending == 1
    finally:
        eng.dispose()


# --- idempotence ------------------------------------------------------------------------------


def test_replays_are_stored_once_and_acked_again(engine: Engine, ingestor: Ingestor) -> None:
    first = access(1)
    assert send(ingestor, first, access(2)) == [(SID, 2)]
    replay = first.model_copy(update={"historical": True})
    assert send(ingestor, replay, first) == [(SID, 2)]  # the edge hears back
    assert count(engine, Event) == 2
    assert ingestor.stats[("events", "duplicate")] == 2


def test_duplicate_inside_one_batch(engine: Engine, ingestor: Ingestor) -> None:
    e = access(1)
    assert send(ingestor, e, e) == [(SID, 1)]
    assert count(engine, Event) == 1
    assert ingestor.stats[("events", "stored")] == 1
    assert ingestor.stats[("events", "duplicate")] == 1


def test_no_ack_without_progress_or_replay(engine: Engine, ingestor: Ingestor) -> None:
    assert send(ingestor, access(2)) == []  # seq 1 still missing
    assert state_of(engine).acked_seq == 0


def test_footfall_upserts_per_interval_newest_seq_wins(engine: Engine, ingestor: Ingestor) -> None:
    assert send(ingestor, footfall(1, entries=3), footfall(2, minute=1)) == [(SID, 2)]
    assert send(ingestor, footfall(4, entries=5), footfall(3, entries=4)) == [(SID, 4)]
    with session(engine) as s:
        rows = {f.interval_start.minute: f for f in s.exec(select(FootfallInterval))}
    assert len(rows) == 2
    assert (rows[0].seq, rows[0].entries) == (4, 5)
    assert rows[0].interval_start.tzinfo is UTC


# --- state and sessions -----------------------------------------------------------------------


def birth(sess: int, status: str = "online", **kw: Any) -> StatePayload:
    return StatePayload(sid=SID, status=status, sess=sess, **kw)  # type: ignore[arg-type]


def test_birth_sets_state(engine: Engine, ingestor: Ingestor, clock: Any) -> None:
    send(ingestor, birth(5, config_version=2))
    st = state_of(engine)
    assert (st.status, st.sess, st.config_version, st.status_at) == ("online", 5, 2, clock.now)


def test_late_lwt_of_an_older_session_is_ignored(engine: Engine, ingestor: Ingestor) -> None:
    send(ingestor, birth(5))
    send(ingestor, birth(4, "lost"))
    assert (state_of(engine).status, state_of(engine).sess) == ("online", 5)
    assert ingestor.stats[("state", "ignored")] == 1
    send(ingestor, birth(5, "lost"))  # the current session's LWT
    assert state_of(engine).status == "lost"
    send(ingestor, birth(6))
    assert (state_of(engine).status, state_of(engine).sess) == ("online", 6)


def test_replaced_pi_restarting_its_session_counter_comes_back_online(
    engine: Engine, ingestor: Ingestor
) -> None:
    """Story: a station's SD card died; the new Pi's journal starts `sess` at 1 again and its
    births were ignored (older than the stored 57), keeping a working station off the map."""
    send(ingestor, birth(57))
    send(ingestor, birth(57, "lost"))
    send(ingestor, birth(1))  # the replacement, live
    assert (state_of(engine).status, state_of(engine).sess) == ("online", 1)
    send(ingestor, birth(0, "offline"))  # …but a stop/LWT still needs a current session
    assert state_of(engine).status == "online"
    send(ingestor, birth(1, "lost"))
    assert (state_of(engine).status, state_of(engine).sess) == ("lost", 1)


def test_clean_stop_and_degraded(engine: Engine, ingestor: Ingestor) -> None:
    send(ingestor, birth(1, "degraded", reason="camera_down"))
    assert (state_of(engine).status, state_of(engine).reason) == ("degraded", "camera_down")
    send(ingestor, birth(1))
    assert (state_of(engine).status, state_of(engine).reason) == ("online", None)
    send(ingestor, birth(1, "offline"))
    assert state_of(engine).status == "offline"


def test_retained_birth_is_old_news(engine: Engine, ingestor: Ingestor, clock: Any) -> None:
    """A retained birth replayed at subscribe time neither refreshes a known session nor
    counts as a sign of life now: its own timestamp says when it was said."""
    said = clock.now - timedelta(hours=2)
    send(ingestor, birth(3, ts=said), retained=True)
    st = state_of(engine)
    assert (st.status, st.status_at, st.last_seen) == ("online", said, None)
    clock.advance(60)
    send(ingestor, birth(3, ts=clock.now), retained=True)
    assert state_of(engine).status_at == said


def test_older_heartbeat_does_not_overwrite_a_newer_one(engine: Engine) -> None:
    t = datetime(2025, 6, 2, tzinfo=UTC)
    times = iter([t + timedelta(seconds=30), t])
    ing = Ingestor(engine, clock=lambda: next(times))
    ing.handle(
        topics.telemetry(SID), TelemetryPayload(sid=SID, uptime_s=2, lock="fault").to_bytes()
    )
    ing.flush()
    ing.handle(topics.telemetry(SID), TelemetryPayload(sid=SID, uptime_s=1).to_bytes())
    ing.flush()
    st = state_of(engine)
    assert (st.last_heartbeat, st.lock) == (t + timedelta(seconds=30), "fault")


# --- acks -------------------------------------------------------------------------------------


def test_ack_stops_at_a_gap_and_moves_when_it_fills(engine: Engine, ingestor: Ingestor) -> None:
    assert send(ingestor, access(1), access(2), access(4)) == [(SID, 2)]
    assert send(ingestor, access(3)) == [(SID, 4)]
    assert state_of(engine).acked_seq == 4


def test_one_sequence_across_events_and_footfall(engine: Engine, ingestor: Ingestor) -> None:
    assert send(ingestor, access(1), footfall(2), access(3)) == [(SID, 3)]


def test_dead_lettered_items_do_not_block_the_journal(engine: Engine, ingestor: Ingestor) -> None:
    ingestor.handle(topics.events(SID), access(1).to_bytes())
    ingestor.handle(topics.events(SID), b'{"v":1,"sid":"st-001","seq":2,"type":"teleport"}')
    ingestor.handle(topics.footfall(SID), b'{"v":99,"seq":3}')
    assert ingestor.flush() == [(SID, 3)]


def test_two_workers_sharing_one_station(engine: Engine, clock: Any) -> None:
    """With shared subscriptions each worker sees some of a station's items; the ack is read
    back from the database, so whoever commits the gap-filler acks everything."""
    a, b = Ingestor(engine, clock=clock), Ingestor(engine, clock=clock)
    assert send(a, access(1), access(3)) == [(SID, 1)]
    assert send(b, access(2)) == [(SID, 3)]
    assert send(a, access(4)) == [(SID, 4)]


def test_acks_are_per_station(
    engine: Engine, ingestor: Ingestor, add_station: Callable[..., Station]
) -> None:
    add_station("st-002")
    other = AccessEvent(sid="st-002", event_id=uuid4(), seq=1, granted=False, reason="revoked")
    assert sorted(send(ingestor, access(1), other)) == [(SID, 1), ("st-002", 1)]


def test_concurrent_workers_store_once_and_ack_everything(
    engine: Engine, add_station: Callable[..., Station], clock: Any
) -> None:
    """Two workers flushing at once, with overlapping replays, on several stations: no
    error (no deadlock), each event stored once, every station acked to its last seq."""
    sids = [SID, "st-002", "st-003"]
    for sid in sids[1:]:
        add_station(sid)
    events = {
        sid: [
            AccessEvent(sid=sid, event_id=uuid4(), seq=n, granted=True, reason="granted")
            for n in range(1, 61)
        ]
        for sid in sids
    }
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        ing = Ingestor(engine, clock=clock)
        try:
            for n in range(offset, 60, 2):
                for sid in reversed(sids) if offset else sids:
                    # each worker gets its own half and a replay of the other's
                    for e in (events[sid][n], events[sid][n - 1 if n else 1]):
                        ing.handle(topics.events(sid), e.to_bytes())
                if n % 10 < 2:
                    ing.flush()
            ing.flush()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert count(engine, Event) == 180
    for sid in sids:
        assert state_of(engine, sid).acked_seq == 60
