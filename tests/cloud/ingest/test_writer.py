"""`cloud.ingest.writer.write_batch`: a batch stored in the caller's transaction, idempotently:
replays become `duplicate`, the newest footfall seq wins, refused items become dead letters,
and the outcome names the stations to ack. Items come from the real parser."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, func, select

from cloud.alarms.models import Alarm
from cloud.ingest.parse import Item, parse
from cloud.ingest.writer import DEAD, EVENT, FOOTFALL, RECEIVED, TELEMETRY, write_batch
from cloud.models import StationState, table
from protocol import topics
from protocol.messages import (
    AlarmEvent,
    DoorEvent,
    FootfallPayload,
    Payload,
    StatePayload,
    TelemetryPayload,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STATE = table(StationState)
ALARM = table(Alarm)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def item(
    sid: str, kind: str, payload: Payload | bytes, *, received: float = 0, retained: bool = False
) -> Item:
    raw = payload if isinstance(payload, bytes) else payload.to_bytes()
    return parse(topics.station(sid, kind), raw, retained=retained, received_at=at(received))


def door(sid: str, seq: int, action: str = "door_opened", **kw: Any) -> Item:
    event = DoorEvent(sid=sid, ts=at(0), event_id=UUID(int=seq), seq=seq, action=action, **kw)  # type: ignore[arg-type]
    return item(sid, "events", event, received=seq)


def footfall(sid: str, seq: int, entries: int) -> Item:
    payload = FootfallPayload(
        sid=sid,
        ts=at(0),
        seq=seq,
        interval_start=T0,
        seconds=300,
        entries=entries,
        exits=0,
        occupancy=entries,
    )
    return item(sid, "footfall", payload, received=seq)


def count(db: Connection, tbl: Any) -> int:
    return int(db.execute(select(func.count()).select_from(tbl)).scalar_one())


def test_events_are_stored_once_and_a_replay_is_a_duplicate(
    db: Connection, put_station: Callable[..., str]
) -> None:
    sid = put_station("st-1")
    first = [door(sid, 1), door(sid, 2), door(sid, 1)]  # the same event twice in one batch
    outcome = write_batch(db, first)
    assert [i.result for i in first] == ["stored", "stored", "duplicate"]
    assert outcome.journal == {sid}
    assert outcome.replayed == {sid}
    again = [door(sid, 2)]  # resent after a reconnect
    outcome = write_batch(db, again)
    assert again[0].result == "duplicate"
    assert outcome.replayed == {sid}
    assert count(db, EVENT) == 2
    assert count(db, RECEIVED) == 2


def test_a_fresh_batch_marks_no_replay(db: Connection, put_station: Callable[..., str]) -> None:
    sid = put_station("st-1")
    outcome = write_batch(db, [door(sid, 1)])
    assert (outcome.journal, outcome.replayed) == ({sid}, set())


def test_an_unknown_station_is_refused_into_a_dead_letter(
    db: Connection, put_station: Callable[..., str]
) -> None:
    put_station("st-1")
    stranger = door("st-9", 1)
    outcome = write_batch(db, [stranger])
    assert stranger.result == "unknown_station"
    assert outcome.journal == set()  # nothing to ack to a station we do not know
    dead = db.execute(select(DEAD)).one()
    assert (dead.reason, dead.station_id, dead.seq, dead.payload) == (
        "unknown_station",
        "st-9",
        1,
        stranger.raw,
    )
    assert count(db, EVENT) == 0


def test_a_refused_journal_item_is_still_noted_as_received(
    db: Connection, put_station: Callable[..., str]
) -> None:
    """The station must get its ack, or it would resend the broken row for ever."""
    sid = put_station("st-1")
    broken = item(sid, "events", b'{"v":1,"seq":7,"type":"door","action":"exploded"}')
    assert broken.refused
    outcome = write_batch(db, [broken])
    assert outcome.journal == {sid}
    received = db.execute(select(RECEIVED.c.seq, RECEIVED.c.kind)).one()
    assert tuple(received) == (7, "dead_letter")
    assert db.execute(select(DEAD.c.reason)).scalar_one() == broken.reason


def test_the_newest_footfall_seq_wins_per_interval(
    db: Connection, put_station: Callable[..., str]
) -> None:
    sid = put_station("st-1")
    write_batch(db, [footfall(sid, 5, 10), footfall(sid, 6, 12), footfall(sid, 4, 99)])
    assert db.execute(select(FOOTFALL.c.entries, FOOTFALL.c.seq)).one() == (12, 6)
    write_batch(db, [footfall(sid, 3, 50)])  # a late replay of an older count
    assert db.execute(select(FOOTFALL.c.entries, FOOTFALL.c.seq)).one() == (12, 6)


def test_a_heartbeat_is_stored_and_sets_the_live_state(
    db: Connection, put_station: Callable[..., str]
) -> None:
    sid = put_station("st-1")
    beat = item(
        sid, "telemetry", TelemetryPayload(sid=sid, ts=at(5), uptime_s=5, door="open"), received=5
    )
    beat.notes.append(("implausible", "sensors dropped: {'fridge_c': -300.0}"))  # from sanity
    write_batch(db, [beat])
    assert beat.result == "stored"
    assert count(db, TELEMETRY) == 1
    state = db.execute(select(STATE)).one()
    assert (state.door, state.last_heartbeat, state.last_seen) == ("open", at(5), at(5))
    assert db.execute(select(DEAD.c.reason)).scalar_one() == "implausible"  # the original kept


def test_a_live_birth_restates_the_ack_mark_and_a_retained_one_does_not(
    db: Connection, put_station: Callable[..., str]
) -> None:
    sid = put_station("st-1")
    retained = item(
        sid, "state", StatePayload(sid=sid, ts=at(0), status="online", sess=1), retained=True
    )
    outcome = write_batch(db, [retained])
    assert retained.result == "stored"
    assert outcome.replayed == set()
    assert db.execute(select(STATE.c.last_seen)).scalar_one() is None  # retained: not "now"
    live = item(sid, "state", StatePayload(sid=sid, ts=at(9), status="online", sess=2), received=9)
    assert write_batch(db, [live]).replayed == {sid}
    stale = item(sid, "state", StatePayload(sid=sid, ts=at(10), status="lost", sess=1), received=10)
    write_batch(db, [stale])
    assert stale.result == "ignored"


def test_alarm_events_raise_alarms_and_the_station_level(
    db: Connection, put_station: Callable[..., str]
) -> None:
    sid = put_station("st-1")
    raised = AlarmEvent(
        sid=sid, ts=at(1), event_id=UUID(int=1), seq=1, alarm="camera_down", state="raised"
    )
    batch = [item(sid, "events", raised, received=1), door(sid, 2, "forced_open", cause=None)]
    write_batch(db, batch)
    rules = sorted(db.execute(select(ALARM.c.rule, ALARM.c.state)).all())
    assert [tuple(r) for r in rules] == [("camera_down", "raised"), ("forced_open", "raised")]
    assert db.execute(select(STATE.c.alarm_level)).scalar_one() == "blocking"
    replay = [door(sid, 2, "forced_open", cause=None)]
    write_batch(db, replay)  # a duplicate event raises nothing again
    assert (
        db.execute(select(ALARM.c.occurrences).where(ALARM.c.rule == "forced_open")).scalar_one()
        == 1
    )


def test_an_empty_batch_writes_nothing(db: Connection) -> None:
    outcome = write_batch(db, [])
    assert (outcome.journal, outcome.replayed) == (set(), set())
    assert count(db, DEAD) == 0
