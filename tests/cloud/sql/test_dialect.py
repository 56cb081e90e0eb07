"""`cloud.sql.dialect`: the bulk statements spelled per database change the same rows the
same way; every test runs on SQLite and on PostgreSQL (`db` is parametrized over both)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Connection, select

from cloud.models import FootfallInterval, ReceivedSeq, StationState, Telemetry, table
from cloud.sql.dialect import Guard, PostgresDialect, SqliteDialect, dialect_for
from protocol.messages import TelemetryPayload

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RECEIVED = table(ReceivedSeq)
FOOTFALL = table(FootfallInterval)
STATE = table(StationState)
TELEMETRY = table(Telemetry)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_each_database_gets_its_dialect(db: Connection) -> None:
    expected = SqliteDialect if db.dialect.name == "sqlite" else PostgresDialect
    assert type(dialect_for(db)) is expected
    assert dialect_for(db) is dialect_for(db)  # stateless, shared


def test_another_database_is_refused_by_name() -> None:
    mysql: Any = SimpleNamespace(dialect=SimpleNamespace(name="mysql"))
    with pytest.raises(NotImplementedError, match="not mysql"):
        dialect_for(mysql)


def test_a_guard_reads_the_same_in_sql_and_in_sqlalchemy() -> None:
    assert Guard("last_seen", "<").sql() == "t.last_seen < v.last_seen"
    assert Guard("last_heartbeat", "<=", or_null=True).sql() == (
        "t.last_heartbeat IS NULL OR t.last_heartbeat <= v.last_heartbeat"
    )


def received(db: Connection) -> list[tuple[str, int, str]]:
    query = select(RECEIVED.c.station_id, RECEIVED.c.seq, RECEIVED.c.kind).order_by(
        RECEIVED.c.station_id, RECEIVED.c.seq
    )
    return [tuple(r) for r in db.execute(query)]  # type: ignore[misc]


def seq_rows(sid: str, *seqs: int, kind: str = "events") -> list[dict[str, Any]]:
    return [{"station_id": sid, "seq": s, "kind": kind, "received_at": T0} for s in seqs]


def test_insert_new_inserts_only_new_keys_and_returns_them(db: Connection) -> None:
    d = dialect_for(db)
    keys = ("station_id", "seq")
    first = d.insert_new(db, RECEIVED, seq_rows("st-1", 1, 2), keys, returning=keys)
    assert sorted(tuple(r) for r in first) == [("st-1", 1), ("st-1", 2)]
    again = d.insert_new(db, RECEIVED, seq_rows("st-1", 2, 3, kind="footfall"), keys, keys)
    assert sorted(tuple(r) for r in again) == [("st-1", 3)]  # 2 was there: not returned
    assert received(db) == [("st-1", 1, "events"), ("st-1", 2, "events"), ("st-1", 3, "footfall")]
    d.insert_new(db, RECEIVED, seq_rows("st-2", 1), keys)  # no returning asked for
    assert len(received(db)) == 4


def footfall_row(sid: str, seq: int, entries: int) -> dict[str, Any]:
    return {
        "station_id": sid,
        "interval_start": T0,
        "seconds": 300,
        "entries": entries,
        "exits": 0,
        "occupancy": entries,
        "seq": seq,
        "historical": False,
        "received_at": at(seq),
    }


def test_upsert_newer_lets_the_newest_version_win(
    db: Connection, put_station: Callable[..., str]
) -> None:
    sid = put_station("st-1")
    d = dialect_for(db)
    keys = ("station_id", "interval_start")
    updated = ("entries", "occupancy", "seq", "received_at")

    def upsert(seq: int, entries: int) -> tuple[int, int, datetime]:
        d.upsert_newer(db, FOOTFALL, [footfall_row(sid, seq, entries)], keys, updated, "seq")
        row = db.execute(select(FOOTFALL.c.entries, FOOTFALL.c.seq, FOOTFALL.c.received_at)).one()
        return row.entries, row.seq, row.received_at

    assert upsert(5, 10) == (10, 5, at(5))
    assert upsert(7, 12) == (12, 7, at(7))  # newer: replaces
    assert upsert(6, 99) == (12, 7, at(7))  # older (a replay): ignored
    assert upsert(7, 99) == (12, 7, at(7))  # the same version again: ignored


def test_ensure_inserts_missing_rows_with_the_tables_defaults(
    db: Connection, put_station: Callable[..., str]
) -> None:
    put_station("st-1")
    put_station("st-2")
    db.execute(STATE.delete().where(STATE.c.station_id == "st-2"))  # registered, no state yet
    d = dialect_for(db)
    db.execute(STATE.update().values(status="online"))
    d.ensure(db, STATE, [{"station_id": "st-1"}, {"station_id": "st-2"}], ["station_id"])
    rows = {r.station_id: r.status for r in db.execute(select(STATE.c.station_id, STATE.c.status))}
    assert rows == {"st-1": "online", "st-2": "unknown"}  # kept, and a new one with defaults


def state(db: Connection, sid: str) -> Any:
    return db.execute(select(STATE).where(STATE.c.station_id == sid)).one()


def test_update_applies_only_where_the_guard_holds(
    db: Connection, put_station: Callable[..., str]
) -> None:
    for sid in ("st-1", "st-2", "st-3"):
        put_station(sid)
    d = dialect_for(db)
    guard = Guard("last_seen", "<", or_null=True)
    d.update(
        db,
        STATE,
        [{"station_id": "st-1", "last_seen": at(10)}, {"station_id": "st-2", "last_seen": at(10)}],
        key="station_id",
        guard=guard,
    )
    assert (state(db, "st-1").last_seen, state(db, "st-3").last_seen) == (at(10), None)
    rows = [{"station_id": "st-1", "last_seen": at(5)}, {"station_id": "st-2", "last_seen": at(20)}]
    d.update(db, STATE, rows, key="station_id", guard=guard)
    assert state(db, "st-1").last_seen == at(10)  # older: refused
    assert state(db, "st-2").last_seen == at(20)
    d.update(
        db,
        STATE,
        [{"station_id": "st-2", "last_seen": at(20)}],
        key="station_id",
        guard=Guard("last_seen", "<"),
    )
    assert state(db, "st-2").last_seen == at(20)  # "<": the same instant is no news


def test_update_keeps_a_stored_value_when_the_new_one_is_null(
    db: Connection, put_station: Callable[..., str]
) -> None:
    sid = put_station("st-1")
    d = dialect_for(db)
    guard = Guard("last_heartbeat", "<=", or_null=True)
    keep = frozenset({"config_version"})

    def beat(seconds: float, version: int | None, door: str) -> None:
        row = {
            "station_id": sid,
            "last_heartbeat": at(seconds),
            "config_version": version,
            "door": door,
        }
        d.update(db, STATE, [row], key="station_id", guard=guard, keep_if_null=keep)

    beat(1, 4, "closed")
    beat(2, None, "open")
    row = state(db, sid)
    assert (row.config_version, row.door, row.last_heartbeat) == (4, "open", at(2))
    beat(2, 5, "closed")  # "<=": as new as the stored one still applies
    assert (state(db, sid).config_version, state(db, sid).door) == (5, "closed")


def test_insert_all_stores_a_model_as_the_same_json_on_both(
    db: Connection, put_station: Callable[..., str]
) -> None:
    sid = put_station("st-1")
    d = dialect_for(db)
    payload = TelemetryPayload(sid=sid, ts=T0, uptime_s=5, sensors={"fridge_c": 4.5})
    row = {
        "station_id": sid,
        "ts": T0,
        "received_at": T0,
        "uptime_s": 5.0,
        "interval_s": 30.0,
        "door": "closed",
        "lock": "locked",
        "occupancy": None,
        "config_version": None,
        "journal_backlog": 0,
        "cpu_temp_c": None,
        "payload": d.json(payload),
    }
    d.insert_all(db, TELEMETRY, [row, row | {"uptime_s": 6.0}])
    stored = list(
        db.execute(select(TELEMETRY.c.uptime_s, TELEMETRY.c.payload).order_by(TELEMETRY.c.id))
    )
    assert [r.uptime_s for r in stored] == [5.0, 6.0]
    assert stored[0].payload == payload.model_dump(mode="json")
