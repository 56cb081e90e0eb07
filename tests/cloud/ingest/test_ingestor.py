from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import Engine, event, func, text
from sqlalchemy.exc import OperationalError
from sqlmodel import col, select

from cloud.db import make_engine, session
from cloud.ingest import ingestor as ingestor_module
from cloud.ingest.ingestor import Ingestor
from cloud.models import (
    DeadLetter,
    Event,
    FootfallInterval,
    Station,
    StationState,
    Telemetry,
)
from protocol import messages, topics
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
from tests.cloud.conftest import marks

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
    return marks(ing.flush())


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
    """Story: a NUL in text passed validation, and on PostgreSQL it sank its batch.

    A seq beyond BIGINT (`schema`) and a NUL in text (`bad_text`) are now refused up front, on
    both databases: only those items are dead-lettered; the rest is stored and acked, in one
    transaction."""
    huge = access(1).to_bytes().replace(b'"seq":1', b'"seq":' + str(2**70).encode())
    nul = alarm_raw(3, detail="a\x00b")
    ingestor.handle(topics.events(SID), access(1).to_bytes())
    ingestor.handle(topics.events(SID), huge)
    ingestor.handle(topics.events(SID), access(2).to_bytes())
    ingestor.handle(topics.events(SID), nul)
    with counting(engine) as n:
        assert marks(ingestor.flush()) == [(SID, 3)]
    assert n.transactions == 2  # the batch, then the acks: nothing rewritten
    assert count(engine, Event) == 2
    dead = dead_letters(engine)
    assert [(d.reason, d.seq) for d in dead] == [("schema", None), ("bad_text", 3)]
    assert dead[1].detail == "alarm.detail: control character U+0000 not allowed"
    assert dead[1].payload == nul
    assert ingestor.stats[("events", "stored")] == 2
    assert ingestor.pending == 0


def alarm_raw(seq: int, **fields: object) -> bytes:
    """An alarm's bytes with fields set as JSON would carry them (models refuse them)."""
    body = json.loads(
        AlarmEvent(
            sid=SID, event_id=uuid4(), seq=seq, alarm="camera_down", state="raised"
        ).to_bytes()
    )
    return json.dumps(body | fields).encode()


class Counts:
    transactions = 0
    statements = 0


@contextmanager
def counting(engine: Engine) -> Iterator[Counts]:
    """Transactions and SQL statements the engine runs inside the block."""
    counts = Counts()

    def on_begin(_conn: Any) -> None:
        counts.transactions += 1

    def on_execute(*_args: Any) -> None:
        counts.statements += 1

    event.listen(engine, "begin", on_begin)
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield counts
    finally:
        event.remove(engine, "begin", on_begin)
        event.remove(engine, "before_cursor_execute", on_execute)


@pytest.mark.parametrize(
    ("topic", "raw", "detail"),
    [
        (topics.events, alarm_raw(2, detail="no frames\x00"), "alarm.detail: control "),
        (topics.events, alarm_raw(2, detail="\ud800"), "alarm.detail: not Unicode text"),
        (topics.events, alarm_raw(2, type="door", action="door_opened", cause="\x1b"),
         "door.cause: control "),
        (topics.cmd_result, b'{"v":1,"sid":"st-001","cmd_id":"c1","ok":true,"detail":"\\u0000"}',
         "detail: control "),
        (topics.telemetry, b'{"v":1,"sid":"st-001","uptime_s":1,"sensors":{"\\u0000":1}}',
         "sensors.\\x00.[key]: control "),
        (topics.meta, b'{"v":1,"sid":"st-001","agent_version":"1\\ud800"}',
         "agent_version: not Unicode text"),
        (topics.state, b'{"v":1,"sid":"st-001","status":"degraded","sess":1,"reason":"\\u0007"}',
         "reason: control "),
    ],
)  # fmt: skip
def test_control_characters_and_lone_surrogates_are_dead_letters(
    engine: Engine, ingestor: Ingestor, topic: Callable[[str], str], raw: bytes, detail: str
) -> None:
    """Story: one message with a NUL slowed PostgreSQL ingest for the whole fleet.

    It passed validation, PostgreSQL refused it, and its batch was rewritten row by row
    (flush 92 ms → 4-5 s; 21,700 → ~450 msg/s). Now it is a dead letter at validation,
    naming the field; its neighbours go in at once."""
    ingestor.handle(topics.events(SID), access(1).to_bytes())
    ingestor.handle(topic(SID), raw)
    ingestor.handle(topics.events(SID), access(3).to_bytes())
    with counting(engine) as n:
        acks = marks(ingestor.flush())
    journal = topic is topics.events
    assert acks == ([(SID, 3)] if journal else [(SID, 1)])
    assert n.transactions == 2  # the batch and the acks
    (dead,) = dead_letters(engine)
    assert (dead.reason, dead.station_id, dead.seq) == ("bad_text", SID, 2 if journal else None)
    assert dead.detail.startswith(detail)
    assert dead.payload == raw
    assert count(engine, Event) == 2


@pytest.mark.parametrize("bad", [[1234], [0, 999, 1000, 1999]], ids=["one", "four"])
def test_a_batch_the_database_refuses_is_bisected_not_rewritten_one_by_one(
    engine: Engine, ingestor: Ingestor, bad: list[int]
) -> None:
    """Story: one row the database refused made ingest rewrite its batch one row at a time.

    n transactions for n rows. Bisection finds it in O(log n): every good row stored, the bad
    one dead-lettered with the database's message, the ack over every seq."""
    n_items = 2_000
    poison(engine)
    for i in range(n_items):
        cause = "poison" if i in bad else "grant"
        door = DoorEvent(sid=SID, event_id=uuid4(), seq=i + 1, action="door_opened", cause=cause)
        ingestor.handle(topics.events(SID), door.to_bytes())
    with counting(engine) as n:
        assert marks(ingestor.flush()) == [(SID, n_items)]
    levels = math.ceil(math.log2(n_items))  # 11
    # per bad row: at most two tries per level (the half holding it fails, the other half
    # goes in) and its dead letter; +2: the whole batch's try, the acks. One by one: 2,001.
    assert n.transactions <= len(bad) * (2 * levels + 1) + 2, n.transactions
    assert n.statements <= 16 * n.transactions, n.statements
    print(f"{len(bad)} bad in {n_items}: {n.transactions} transactions, {n.statements} statements")
    assert count(engine, Event) == n_items - len(bad)
    dead = dead_letters(engine)
    assert [d.seq for d in dead] == [i + 1 for i in bad]
    assert {d.reason for d in dead} == {"store_failed"}
    assert all("poison" in d.detail for d in dead)  # the database's own message
    assert all("[parameters:" not in d.detail for d in dead)  # not the whole batch
    assert ingestor.stats[("events", "stored")] == n_items - len(bad)
    assert ingestor.stats[("events", "store_failed")] == len(bad)
    assert ingestor.pending == 0
    assert state_of(engine).acked_seq == n_items


def poison(engine: Engine) -> None:
    """A rule only the database knows: it refuses a door event whose cause is `poison`."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "ALTER TABLE event ADD CONSTRAINT no_poison "
                    "CHECK (cause IS DISTINCT FROM 'poison')"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER no_poison BEFORE INSERT ON event WHEN NEW.cause = 'poison' "
                    "BEGIN SELECT RAISE(ABORT, 'no_poison: poison refused'); END"
                )
            )


def test_bisection_keeps_what_it_did_not_commit_when_the_database_goes_away(
    engine: Engine, ingestor: Ingestor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An outage in the middle of isolating a bad row raises as any outage does: what was
    committed is counted and gone from the buffer, the rest is kept for the retry."""
    poison(engine)
    for i in range(8):
        cause = "poison" if i == 6 else "grant"
        door = DoorEvent(sid=SID, event_id=uuid4(), seq=i + 1, action="door_opened", cause=cause)
        ingestor.handle(topics.events(SID), door.to_bytes())
    real = ingestor_module.write_batch
    calls = []

    def flaky(conn: Any, items: list[Any]) -> Any:
        calls.append(len(items))
        if len(calls) == 3:  # 8 refused, 4 (seqs 1-4) stored, then the outage
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        return real(conn, items)

    monkeypatch.setattr(ingestor_module, "write_batch", flaky)
    with pytest.raises(OperationalError):
        ingestor.flush()
    assert ingestor.pending == 4
    assert count(engine, Event) == 4
    monkeypatch.setattr(ingestor_module, "write_batch", real)
    assert marks(ingestor.flush()) == [(SID, 8)]
    assert count(engine, Event) == 7
    assert [(d.reason, d.seq) for d in dead_letters(engine)] == [("store_failed", 7)]


@pytest.mark.parametrize(
    ("make", "field", "value", "where"),
    [
        (access, "ts", "0001-01-01T00:00:00+01:00", "access.ts"),  # OverflowError in astimezone
        (access, "ts", "9999-12-31T23:59:59-14:00", "access.ts"),
        (access, "ts", -62135596800000, "access.ts"),  # 0001-01-01 as a Unix time in ms
        (footfall, "interval_start", "9999-12-31T00:00:00Z", "interval_start"),  # + seconds
        (footfall, "ts", "0001-01-01T00:00:00+14:00", "ts"),
    ],
)
def test_a_time_out_of_range_is_a_dead_letter_and_the_ack_moves_past_it(
    engine: Engine,
    ingestor: Ingestor,
    make: Callable[[int], Any],
    field: str,
    value: object,
    where: str,
) -> None:
    """Story: a time such as `0001-01-01T00:00:00+01:00` stalled its station's acks for good.

    It raised OverflowError in parse; the message became an anonymous `internal` dead letter
    and its seq was lost. Now: `bad_time`, naming the field, station and seq kept."""
    body = json.loads(make(2).to_bytes()) | {field: value}
    raw = json.dumps(body).encode()
    topic = topics.footfall if make is footfall else topics.events
    ingestor.handle(topics.events(SID), access(1).to_bytes())
    ingestor.handle(topic(SID), raw)
    ingestor.handle(topics.events(SID), access(3).to_bytes())
    assert marks(ingestor.flush()) == [(SID, 3)]
    (dead,) = dead_letters(engine)
    assert (dead.reason, dead.station_id, dead.seq) == ("bad_time", SID, 2)
    assert dead.detail.startswith(f"{where}: time ")
    assert "out of range" in dead.detail
    assert dead.payload == raw
    assert state_of(engine).acked_seq == 3


def test_an_unforeseen_error_in_parsing_still_names_the_station_and_seq(
    engine: Engine, ingestor: Ingestor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Story: any exception out of parsing made a dead letter without station or seq.

    (There: OverflowError.) The station's acks stalled behind it. The bug's victim is now a
    dead letter of its station, with its seq, and the acks go on."""
    real = messages.decode

    def buggy(kind: Any, raw: bytes) -> Any:
        if b'"seq":2,' in raw:
            raise ArithmeticError("a bug in validation")
        return real(kind, raw)

    monkeypatch.setattr(messages, "decode", buggy)
    for seq in (1, 2, 3):
        ingestor.handle(topics.events(SID), access(seq).to_bytes())
    assert marks(ingestor.flush()) == [(SID, 3)]
    (dead,) = dead_letters(engine)
    assert (dead.reason, dead.station_id, dead.seq) == ("internal", SID, 2)
    assert dead.detail == "ArithmeticError: a bug in validation"
    assert ingestor.stats[("events", "internal")] == 1


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
    assert marks(ingestor.flush()) == [(SID, 3)]


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
