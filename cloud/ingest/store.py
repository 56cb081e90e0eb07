"""Second stage of ingest: write a batch of Items in one transaction, idempotently.

Replays are harmless by construction: events insert-or-ignore on (station, event_id),
footfall upserts on (station, interval_start) with the newest seq winning, journal seqs
insert-or-ignore into `received_seq`, and state changes are guarded UPDATEs (sess order,
timestamps only move forward) that stay correct when two workers race on one station.

Every statement touches rows in key order (tables in a fixed order, rows sorted by station
and key), so two workers' transactions take their locks in the same order and cannot
deadlock on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Table, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from cloud.alarms import edge as edge_alarms
from cloud.alarms import rules as alarm_rules
from cloud.alarms import store as alarm_store
from cloud.commands import service as commands
from cloud.ingest import pgbulk
from cloud.ingest.parse import MAX_KEPT_BYTES, Item
from cloud.models import (
    DeadLetter,
    Event,
    FootfallInterval,
    ReceivedSeq,
    Station,
    StationState,
    StatusChange,
    Telemetry,
    table,
)
from protocol.messages import (
    AccessEvent,
    AlarmEvent,
    CmdResultPayload,
    DoorEvent,
    FootfallPayload,
    MetaPayload,
    StatePayload,
    TelemetryPayload,
    printable,
)
from protocol.topics import Kind

STATION = table(Station)
STATE = table(StationState)
EVENT = table(Event)
FOOTFALL = table(FootfallInterval)
RECEIVED = table(ReceivedSeq)
TELEMETRY = table(Telemetry)
DEAD = table(DeadLetter)
HISTORY = table(StatusChange)
_KIND_NAME = {k: k.value for k in Kind}  # str(member) is a Python call per row


@dataclass(slots=True)
class Outcome:
    """Which stations a batch may need to ack."""

    journal: set[str] = field(default_factory=set)  # stations with journal seqs in the batch
    replayed: set[str] = field(default_factory=set)  # stations that re-sent something

    def __ior__(self, other: Outcome) -> Outcome:
        self.journal |= other.journal
        self.replayed |= other.replayed
        return self


def _insert(conn: Connection, tbl: Table) -> postgresql.Insert | sqlite.Insert:
    """INSERT with the dialect's ON CONFLICT support (SQLite and PostgreSQL spell it alike)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(tbl)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(tbl)
    raise NotImplementedError(f"ingest supports sqlite and postgresql, not {conn.dialect.name}")


def write_batch(conn: Connection, items: list[Item]) -> Outcome:
    """Store `items` (in arrival order) inside the caller's transaction; sets `item.result`."""
    sids = {i.sid for i in items if i.sid is not None}
    known = set(conn.scalars(select(STATION.c.id).where(STATION.c.id.in_(sids)))) if sids else set()
    for item in items:
        if not item.refused and item.sid not in known:
            item.refuse("unknown_station", f"station {item.sid!r} is not in the registry")
    if known:
        conn.execute(
            _insert(conn, STATE).on_conflict_do_nothing(index_elements=["station_id"]),
            [{"station_id": sid} for sid in sorted(known)],
        )
    # stable sort: stations in key order, each station's messages still in arrival order
    ok = sorted((i for i in items if not i.refused), key=lambda i: i.sid or "")
    _insert_events(conn, [i for i in ok if i.kind is Kind.EVENTS])
    _upsert_footfall(conn, [i for i in ok if i.kind is Kind.FOOTFALL])
    _insert_telemetry(conn, [i for i in ok if i.kind is Kind.TELEMETRY])
    outcome = _record_seqs(conn, [i for i in items if i.seq is not None and i.sid in known])
    for item in ok:
        if item.kind is Kind.STATE:
            applied = _apply_state(conn, item)
            item.result = "stored" if applied else "ignored"
            if applied and not item.retained and item.sid is not None:
                # Re-state the ack mark at every live birth: a replaced Pi whose journal began
                # again at seq 1 learns where the station's seqs stand (edge.journal.ack).
                outcome.replayed.add(item.sid)
        elif item.kind is Kind.META:
            _apply_meta(conn, item)
            item.result = "stored"
        elif item.kind is Kind.CMD_RESULT:
            assert isinstance(item.payload, CmdResultPayload)
            assert item.sid is not None
            answered = commands.apply_result(conn, item.sid, item.payload, item.received_at)
            item.result = "stored" if answered else "ignored"
        elif item.result is None:
            item.result = "stored"
    _apply_heartbeats(conn, [i for i in ok if i.kind is Kind.TELEMETRY])
    _touch_last_seen(conn, [i for i in items if i.sid in known and not i.retained])
    _apply_edge_alarms(conn, [i for i in ok if i.kind is Kind.EVENTS and i.result == "stored"])
    _insert_dead(conn, [i for i in items if i.refused or i.notes])
    return outcome


# --- journaled items -------------------------------------------------------------------------


def _event_row(item: Item) -> dict[str, Any]:
    p = item.payload
    assert isinstance(p, AccessEvent | DoorEvent | AlarmEvent)
    row: dict[str, Any] = {
        "station_id": item.sid,
        "event_id": p.event_id,
        "seq": p.seq,
        "type": p.type,
        "ts": p.ts,
        "received_at": item.received_at,
        "historical": p.historical,
        "granted": None,
        "reason": None,
        "credential": None,
        "kid": None,
        "serial": None,
        "action": None,
        "cause": None,
        "alarm": None,
        "alarm_state": None,
        "detail": None,
    }
    if isinstance(p, AccessEvent):
        row |= {
            "granted": p.granted,
            "reason": p.reason.value,
            "credential": p.credential,
            "kid": p.kid,
            "serial": p.serial,
        }
    elif isinstance(p, DoorEvent):
        row |= {"action": p.action, "cause": p.cause}
    else:
        row |= {"alarm": p.alarm, "alarm_state": p.state, "detail": p.detail}
    return row


def _insert_events(conn: Connection, items: list[Item]) -> None:
    if items:
        rows = sorted(
            (_event_row(i) for i in items), key=lambda r: (r["station_id"], r["event_id"])
        )
        if conn.dialect.name == "postgresql":
            pgbulk.insert(conn, EVENT, rows, "(station_id, event_id) DO NOTHING")
            return
        stmt = _insert(conn, EVENT).on_conflict_do_nothing(
            index_elements=["station_id", "event_id"]
        )
        conn.execute(stmt, rows)


def _upsert_footfall(conn: Connection, items: list[Item]) -> None:
    """Newest seq wins per interval; PostgreSQL refuses to upsert one row twice per statement,
    so the batch is reduced to one row per (station, interval_start) first."""
    rows: dict[tuple[str, datetime], dict[str, Any]] = {}
    for item in items:
        p = item.payload
        assert isinstance(p, FootfallPayload)
        assert item.sid is not None
        key = (item.sid, p.interval_start)
        if key in rows and rows[key]["seq"] >= p.seq:
            continue
        rows[key] = {
            "station_id": item.sid,
            "interval_start": p.interval_start,
            "seconds": p.seconds,
            "entries": p.entries,
            "exits": p.exits,
            "occupancy": p.occupancy,
            "seq": p.seq,
            "historical": p.historical,
            "received_at": item.received_at,
        }
    if not rows:
        return
    updated = ("seconds", "entries", "exits", "occupancy", "seq", "historical", "received_at")
    if conn.dialect.name == "postgresql":
        sets = ", ".join(f"{c} = excluded.{c}" for c in updated)
        conflict = (
            f"(station_id, interval_start) DO UPDATE SET {sets} "
            "WHERE footfall_interval.seq < excluded.seq"
        )
        pgbulk.insert(conn, FOOTFALL, [rows[k] for k in sorted(rows)], conflict)
        return
    stmt = _insert(conn, FOOTFALL)
    stmt = stmt.on_conflict_do_update(
        index_elements=["station_id", "interval_start"],
        set_={c: stmt.excluded[c] for c in updated},
        where=FOOTFALL.c.seq < stmt.excluded.seq,
    )
    conn.execute(stmt, [rows[k] for k in sorted(rows)])


def _record_seqs(conn: Connection, items: list[Item]) -> Outcome:
    """Note every journal seq as received; the ones already known mark a replay."""
    outcome = Outcome()
    keyed: list[tuple[tuple[str, int], Item]] = []
    for item in items:
        assert item.sid is not None
        assert item.seq is not None
        keyed.append(((item.sid, item.seq), item))
        outcome.journal.add(item.sid)
        if item.replay:
            outcome.replayed.add(item.sid)
    first: dict[tuple[str, int], Item] = {}
    for key, item in keyed:
        first.setdefault(key, item)
    if not first:
        return outcome
    rows = [
        {
            "station_id": key[0],
            "seq": key[1],
            "kind": "dead_letter" if (item := first[key]).refused else _KIND_NAME[item.kind],
            "received_at": item.received_at,
        }
        for key in sorted(first)
    ]
    if conn.dialect.name == "postgresql":
        result = pgbulk.insert(
            conn, RECEIVED, rows, "(station_id, seq) DO NOTHING", "station_id, seq"
        )
    else:
        stmt = (
            _insert(conn, RECEIVED)
            .on_conflict_do_nothing(index_elements=["station_id", "seq"])
            .returning(RECEIVED.c.station_id, RECEIVED.c.seq)
        )
        result = conn.execute(stmt, rows)
    new = {(sid, seq) for sid, seq in result}  # unpacking a Row: no per-column lookup
    for (sid, seq), item in keyed:
        if (sid, seq) not in new or first[(sid, seq)] is not item:
            outcome.replayed.add(sid)
            if not item.refused:
                item.result = "duplicate"
    return outcome


# --- state -----------------------------------------------------------------------------------


def _apply_state(conn: Connection, item: Item) -> bool:
    """Apply a birth/LWT/stop unless it belongs to an older session than the one stored.

    A live `online`/`degraded` message is applied whatever its `sess`: only a running session
    sends one, and a replaced or re-imaged Pi starts its counter again at 1 — refusing it
    would keep a working station off the map for good. `lost`/`offline` (possibly a late LWT
    of an older session) still need a `sess` no older than the stored one. A retained copy
    replayed at (re)subscribe is old news: it is applied only if it tells something new, and
    its own `ts` (not the receive time) says when it was true.
    """
    p = item.payload
    assert isinstance(p, StatePayload)
    stored_sess = func.coalesce(STATE.c.sess, -1)
    where = [STATE.c.station_id == item.sid]
    if item.retained or p.status not in ("online", "degraded"):
        where.append(stored_sess <= p.sess)
    at = item.received_at
    if item.retained:
        where.append(or_(stored_sess < p.sess, STATE.c.status != p.status))
        at = min(p.ts, item.received_at)
    values: dict[str, Any] = {"status": p.status, "sess": p.sess, "status_at": at}
    values |= {"reason": p.reason, "history_status": p.status}
    if p.config_version is not None:
        values["config_version"] = p.config_version
    if not conn.execute(update(STATE).where(*where).values(values)).rowcount:
        return False
    history = {"station_id": item.sid, "at": at, "status": p.status, "sess": p.sess}
    conn.execute(HISTORY.insert().values(**history, reason=p.reason, source="report"))
    return True


def _apply_meta(conn: Connection, item: Item) -> None:
    p = item.payload
    assert isinstance(p, MetaPayload)
    values: dict[str, Any] = {"meta": p.model_dump(mode="json")}
    if p.config_version is not None:
        values["config_version"] = p.config_version
    conn.execute(update(STATE).where(STATE.c.station_id == item.sid).values(values))


def _insert_telemetry(conn: Connection, items: list[Item]) -> None:
    postgres = conn.dialect.name == "postgresql"
    rows = []
    for item in items:
        p = item.payload
        assert isinstance(p, TelemetryPayload)
        rows.append(
            {
                "station_id": item.sid,
                "ts": p.ts,
                "received_at": item.received_at,
                "uptime_s": p.uptime_s,
                "interval_s": p.interval_s,
                "door": p.door,
                "lock": p.lock,
                "occupancy": p.occupancy,
                "config_version": p.config_version,
                "journal_backlog": p.journal_backlog,
                "cpu_temp_c": p.cpu_temp_c,
                # the same JSON either way; pydantic serialises it in one call for PostgreSQL
                "payload": orjson.Fragment(p.model_dump_json())
                if postgres
                else p.model_dump(mode="json"),
            }
        )
    if rows and postgres:
        pgbulk.insert(conn, TELEMETRY, rows)
    elif rows:
        conn.execute(TELEMETRY.insert(), rows)


def _latest(items: Iterable[Item]) -> dict[str, Item]:
    latest: dict[str, Item] = {}
    for item in items:
        assert item.sid is not None
        if item.sid not in latest or latest[item.sid].received_at <= item.received_at:
            latest[item.sid] = item
    return latest


def _apply_heartbeats(conn: Connection, items: list[Item]) -> None:
    """The newest heartbeat per station sets the live door/lock/occupancy readings.

    One statement for the batch on PostgreSQL (`pgbulk.update`), one executemany on SQLite;
    `config_version` is kept when the heartbeat does not carry one."""
    rows = []
    for sid, item in sorted(_latest(items).items()):
        p = item.payload
        assert isinstance(p, TelemetryPayload)
        rows.append(
            {
                "station_id": sid,
                "last_heartbeat": item.received_at,
                "heartbeat_interval_s": p.interval_s,
                "door": p.door,
                "lock": p.lock,
                "occupancy": p.occupancy,
                "config_version": p.config_version,
                "telemetry": (dump := p.model_dump(mode="json", exclude_none=True)),
                "attention": alarm_rules.attention(dump, p.lock),
            }
        )
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        pgbulk.update(
            conn,
            STATE,
            rows,
            key="station_id",
            guard="t.last_heartbeat IS NULL OR t.last_heartbeat <= v.last_heartbeat",
            keep_if_null=frozenset({"config_version"}),
        )
        return
    # SQLAlchemy reserves a column's own name for its SET value: the parameters are b_<column>
    at = bindparam("b_last_heartbeat", type_=STATE.c.last_heartbeat.type)
    fresher = or_(STATE.c.last_heartbeat.is_(None), STATE.c.last_heartbeat <= at)
    conn.execute(
        update(STATE)
        .where(STATE.c.station_id == bindparam("b_station_id"), fresher)
        .values(
            last_heartbeat=at,
            heartbeat_interval_s=bindparam("b_heartbeat_interval_s"),
            door=bindparam("b_door"),
            lock=bindparam("b_lock"),
            occupancy=bindparam("b_occupancy"),
            config_version=func.coalesce(
                bindparam("b_config_version", type_=STATE.c.config_version.type),
                STATE.c.config_version,
            ),
            telemetry=bindparam("b_telemetry", type_=STATE.c.telemetry.type),
            attention=bindparam("b_attention"),
        ),
        [{f"b_{k}": v for k, v in row.items()} for row in rows],
    )


def _touch_last_seen(conn: Connection, items: list[Item]) -> None:
    """Any live (non-retained) message proves the station is connected right now."""
    latest = sorted(_latest(items).items())
    if not latest:
        return
    if conn.dialect.name == "postgresql":
        pgbulk.update(
            conn,
            STATE,
            [{"station_id": sid, "last_seen": i.received_at} for sid, i in latest],
            key="station_id",
            guard="t.last_seen IS NULL OR t.last_seen < v.last_seen",
        )
        return
    rows = [{"b_sid": sid, "b_at": i.received_at} for sid, i in latest]
    at = bindparam("b_at", type_=STATE.c.last_seen.type)
    fresher = or_(STATE.c.last_seen.is_(None), STATE.c.last_seen < at)
    conn.execute(
        update(STATE).where(STATE.c.station_id == bindparam("b_sid"), fresher).values(last_seen=at),
        rows,
    )


def _apply_edge_alarms(conn: Connection, items: list[Item]) -> None:
    """The station's own alarms, and the door events that imply one (held or forced open)."""
    events = [
        (i.sid, i.payload, i.received_at)
        for i in items
        if isinstance(i.payload, AlarmEvent | DoorEvent) and i.sid is not None
    ]
    if events:
        now = max(i.received_at for i in items)
        changed = edge_alarms.apply(conn, edge_alarms.signals(events), now)
        alarm_store.refresh_levels(conn, changed)


# --- refused ---------------------------------------------------------------------------------


def _insert_dead(conn: Connection, items: list[Item]) -> None:
    """Refused items, and the originals of stored items whose values were changed."""
    rows = []
    for item in items:
        if item.reason is not None:
            item.result = item.reason
            problems = [(item.reason, item.detail)]
        else:
            problems = item.notes
        for reason, detail in problems:
            if len(item.raw) > MAX_KEPT_BYTES:
                detail = f"{detail} [payload cut to {MAX_KEPT_BYTES} of {len(item.raw)} bytes]"
            rows.append(
                {
                    "received_at": item.received_at,
                    "topic": printable(item.topic),  # the payload keeps the bytes
                    "payload": item.raw[:MAX_KEPT_BYTES],
                    "reason": reason,
                    "detail": printable(detail),
                    "station_id": item.sid,
                    "seq": item.seq,
                }
            )
    if rows:
        conn.execute(DEAD.insert(), rows)
