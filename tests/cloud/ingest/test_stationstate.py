"""`cloud.ingest.stationstate`: what a batch changes on a station's live-state row. Births,
LWTs and stops are guarded by session; the newest heartbeat and the latest sighting win, so a
replay or a racing worker never moves the row backwards. Items come from the real parser."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, select

from cloud.ingest.parse import Item, parse
from cloud.ingest.stationstate import (
    HISTORY,
    STATE,
    apply_heartbeats,
    apply_meta,
    apply_state,
    touch_last_seen,
)
from cloud.sql.dialect import dialect_for
from protocol import topics
from protocol.messages import MetaPayload, Payload, StatePayload, TelemetryPayload

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SID = "st-1"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def item(payload: Payload, topic: str, received: float, *, retained: bool = False) -> Item:
    parsed = parse(topic, payload.to_bytes(), retained=retained, received_at=at(received))
    assert not parsed.refused, parsed.detail
    return parsed


def state_item(status: str, sess: int, received: float, **kw: Any) -> Item:
    retained = kw.pop("retained", False)
    ts = kw.pop("ts", at(received))
    payload = StatePayload(sid=SID, ts=ts, status=status, sess=sess, **kw)  # type: ignore[arg-type]
    return item(payload, topics.state(SID), received, retained=retained)


def row(db: Connection, sid: str = SID) -> Any:
    return db.execute(select(STATE).where(STATE.c.station_id == sid)).one()


def history(db: Connection) -> list[tuple[str, int, datetime]]:
    query = select(HISTORY.c.status, HISTORY.c.sess, HISTORY.c.at).order_by(HISTORY.c.id)
    return [(r.status, r.sess, r.at) for r in db.execute(query)]


@pytest.fixture
def sid(put_station: Callable[..., str]) -> str:
    return put_station(SID)


def test_a_birth_sets_the_status_and_writes_history(db: Connection, sid: str) -> None:
    assert apply_state(db, state_item("degraded", 3, 10, reason="camera down", config_version=2))
    r = row(db)
    assert (r.status, r.sess, r.status_at, r.reason, r.config_version) == (
        "degraded",
        3,
        at(10),
        "camera down",
        2,
    )
    assert history(db) == [("degraded", 3, at(10))]


def test_a_late_lwt_of_an_older_session_is_ignored(db: Connection, sid: str) -> None:
    apply_state(db, state_item("online", 5, 10))
    assert not apply_state(db, state_item("lost", 4, 20))  # the previous connection's will
    assert row(db).status == "online"
    assert apply_state(db, state_item("offline", 5, 30))  # this session's clean stop
    assert row(db).status == "offline"
    assert [h[0] for h in history(db)] == ["online", "offline"]


def test_a_live_birth_applies_whatever_its_session(db: Connection, sid: str) -> None:
    """A re-imaged Pi counts its sessions from 1 again: it must not stay off the map."""
    apply_state(db, state_item("online", 900, 10))
    apply_state(db, state_item("lost", 900, 20))
    assert apply_state(db, state_item("online", 1, 30))
    assert (row(db).status, row(db).sess) == ("online", 1)


def test_a_retained_copy_applies_only_if_it_tells_something_new(db: Connection, sid: str) -> None:
    apply_state(db, state_item("online", 5, 10))
    assert not apply_state(db, state_item("online", 5, 60, retained=True))  # old news
    assert row(db).status_at == at(10)
    # a newer session is news, dated no later than its receipt (a station clock ahead)
    assert apply_state(db, state_item("online", 6, 70, retained=True, ts=at(100)))
    assert (row(db).sess, row(db).status_at) == (6, at(70))
    assert len(history(db)) == 2


def test_retained_news_is_dated_by_its_own_ts(db: Connection, sid: str) -> None:
    apply_state(db, state_item("online", 5, 10))
    assert apply_state(db, state_item("lost", 5, 60, retained=True, ts=at(40)))
    assert (row(db).status, row(db).status_at) == ("lost", at(40))
    assert not apply_state(db, state_item("lost", 4, 70, retained=True, ts=at(5)))  # older sess


def test_meta_sets_the_self_description(db: Connection, sid: str) -> None:
    meta = MetaPayload(
        sid=SID, ts=T0, agent_version="0.1.0", capabilities=["access"], config_version=7
    )
    apply_meta(db, item(meta, topics.meta(SID), 1))
    r = row(db)
    assert r.meta["agent_version"] == "0.1.0"
    assert r.config_version == 7
    apply_meta(db, item(meta.model_copy(update={"config_version": None}), topics.meta(SID), 2))
    assert row(db).config_version == 7  # a meta without a version keeps the stored one


def beat(received: float, sid: str = SID, **kw: Any) -> Item:
    payload = TelemetryPayload(sid=sid, ts=at(received), uptime_s=received, **kw)
    return item(payload, topics.telemetry(sid), received)


def test_the_newest_heartbeat_per_station_sets_the_live_readings(
    db: Connection, sid: str, put_station: Callable[..., str]
) -> None:
    put_station("st-2")
    db_dialect = dialect_for(db)
    batch = [
        beat(20, door="open", lock="unlocked", occupancy=3, config_version=4),
        beat(10, door="closed", occupancy=1),  # older, later in the batch
        beat(15, sid="st-2", door="closed"),
    ]
    apply_heartbeats(db_dialect, db, batch)
    r = row(db)
    assert (r.last_heartbeat, r.door, r.lock, r.occupancy, r.config_version) == (
        at(20),
        "open",
        "unlocked",
        3,
        4,
    )
    assert r.telemetry["uptime_s"] == 20
    assert row(db, "st-2").last_heartbeat == at(15)
    apply_heartbeats(db_dialect, db, [beat(5, door="closed")])  # a replay from before
    assert row(db).door == "open"
    apply_heartbeats(db_dialect, db, [beat(30, door="closed")])  # no config_version: kept
    assert (row(db).door, row(db).config_version) == ("closed", 4)
    apply_heartbeats(db_dialect, db, [])


def test_any_live_message_moves_last_seen_forward_only(db: Connection, sid: str) -> None:
    d = dialect_for(db)
    touch_last_seen(d, db, [beat(10), state_item("online", 1, 30), beat(20)])
    assert row(db).last_seen == at(30)
    touch_last_seen(d, db, [beat(25)])
    assert row(db).last_seen == at(30)
    touch_last_seen(d, db, [])
