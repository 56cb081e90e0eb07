"""Second stage of ingest: write a batch of Items in one transaction, idempotently.

Replays are harmless by construction: events insert-or-ignore on (station, event_id),
footfall upserts on (station, interval_start) with the newest seq winning, journal seqs
insert-or-ignore into `received_seq`, and state changes are guarded UPDATEs (sess order,
timestamps only move forward) that stay correct when two workers race on one station.

Every statement touches rows in key order (tables in a fixed order, rows sorted by station
and key), so two workers' transactions take their locks in the same order and cannot
deadlock on PostgreSQL. The statements are spelled per database by `cloud.sql.dialect`,
chosen once per batch; what a batch changes on the live-state row is in
`cloud.ingest.stationstate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from cloud.alarms import edge as edge_alarms
from cloud.alarms import rows as alarm_rows
from cloud.commands import service as commands
from cloud.feedback import locked as locked_reports
from cloud.ingest import refusals
from cloud.ingest.parse import MAX_KEPT_BYTES, Item
from cloud.ingest.stationstate import (
    STATE,
    apply_heartbeats,
    apply_meta,
    apply_state,
    touch_last_seen,
)
from cloud.models import (
    DeadLetter,
    Event,
    FootfallInterval,
    ReceivedSeq,
    Station,
    Telemetry,
    table,
)
from cloud.sql.dialect import Dialect, dialect_for
from protocol.messages import (
    AccessEvent,
    AlarmEvent,
    CmdResultPayload,
    DoorEvent,
    FootfallPayload,
    TelemetryPayload,
    printable,
)
from protocol.topics import Kind

STATION = table(Station)
EVENT = table(Event)
FOOTFALL = table(FootfallInterval)
RECEIVED = table(ReceivedSeq)
TELEMETRY = table(Telemetry)
DEAD = table(DeadLetter)
_KIND_NAME = {k: k.value for k in Kind}  # str(member) is a Python call per row


@dataclass(slots=True)
class Outcome:
    """Which stations a batch may need to ack."""

    journal: set[str] = field(default_factory=set)  # stations with journal seqs in the batch
    replayed: set[str] = field(default_factory=set)  # stations that re-sent something
    top: dict[str, int] = field(default_factory=dict)  # highest seq in the batch per station

    def __ior__(self, other: Outcome) -> Outcome:
        self.journal |= other.journal
        self.replayed |= other.replayed
        for sid, seq in other.top.items():
            if seq > self.top.get(sid, 0):
                self.top[sid] = seq
        return self


def write_batch(conn: Connection, items: list[Item]) -> Outcome:
    """Store `items` (in arrival order) inside the caller's transaction; sets `item.result`."""
    db = dialect_for(conn)
    sids = {i.sid for i in items if i.sid is not None}
    known = set(conn.scalars(select(STATION.c.id).where(STATION.c.id.in_(sids)))) if sids else set()
    for item in items:
        if not item.refused and item.sid not in known:
            item.refuse("unknown_station", f"station {item.sid!r} is not in the registry")
    if known:
        db.ensure(conn, STATE, [{"station_id": sid} for sid in sorted(known)], ["station_id"])
    # stable sort: stations in key order, each station's messages still in arrival order
    ok = sorted((i for i in items if not i.refused), key=lambda i: i.sid or "")
    _insert_events(db, conn, [i for i in ok if i.kind is Kind.EVENTS])
    _upsert_footfall(db, conn, [i for i in ok if i.kind is Kind.FOOTFALL])
    _insert_telemetry(db, conn, [i for i in ok if i.kind is Kind.TELEMETRY])
    outcome = _record_seqs(db, conn, [i for i in items if i.seq is not None and i.sid in known])
    for item in ok:
        if item.kind is Kind.STATE:
            applied = apply_state(conn, item)
            item.result = "stored" if applied else "ignored"
            if applied and not item.retained and item.sid is not None:
                # Re-state the ack mark at every live birth: a replaced Pi whose journal began
                # again at seq 1 learns where the station's seqs stand (edge.journal.ack).
                outcome.replayed.add(item.sid)
        elif item.kind is Kind.META:
            apply_meta(conn, item)
            item.result = "stored"
        elif item.kind is Kind.CMD_RESULT:
            assert isinstance(item.payload, CmdResultPayload)
            assert item.sid is not None
            answered = commands.apply_result(conn, item.sid, item.payload, item.received_at)
            item.result = "stored" if answered else "ignored"
        elif item.result is None:
            item.result = "stored"
    apply_heartbeats(db, conn, [i for i in ok if i.kind is Kind.TELEMETRY])
    touch_last_seen(db, conn, [i for i in items if i.sid in known and not i.retained])
    stored_events = [i for i in ok if i.kind is Kind.EVENTS and i.result == "stored"]
    _apply_edge_alarms(conn, stored_events)
    _disprove_reports(conn, stored_events)
    refusals.account(conn, [i for i in items if i.refused and i.sid in known])
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


def _insert_events(db: Dialect, conn: Connection, items: list[Item]) -> None:
    if items:
        rows = sorted(
            (_event_row(i) for i in items), key=lambda r: (r["station_id"], r["event_id"])
        )
        db.insert_new(conn, EVENT, rows, ("station_id", "event_id"))


def _upsert_footfall(db: Dialect, conn: Connection, items: list[Item]) -> None:
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
    if rows:
        keys = ("station_id", "interval_start")
        updated = ("seconds", "entries", "exits", "occupancy", "seq", "historical", "received_at")
        db.upsert_newer(conn, FOOTFALL, [rows[k] for k in sorted(rows)], keys, updated, "seq")


def _record_seqs(db: Dialect, conn: Connection, items: list[Item]) -> Outcome:
    """Note every journal seq as received; the ones already known mark a replay."""
    outcome = Outcome()
    keyed: list[tuple[tuple[str, int], Item]] = []
    top = outcome.top
    for item in items:
        assert item.sid is not None
        assert item.seq is not None
        keyed.append(((item.sid, item.seq), item))
        if item.seq > top.get(item.sid, 0):
            top[item.sid] = item.seq
        if item.replay:
            outcome.replayed.add(item.sid)
    outcome.journal.update(top)
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
    keys = ("station_id", "seq")
    result = db.insert_new(conn, RECEIVED, rows, keys, returning=keys)
    new = {(sid, seq) for sid, seq in result}  # unpacking a Row: no per-column lookup
    for (sid, seq), item in keyed:
        if (sid, seq) not in new or first[(sid, seq)] is not item:
            outcome.replayed.add(sid)
            if not item.refused:
                item.result = "duplicate"
    return outcome


# --- telemetry and the station's own alarms ------------------------------------------------------


def _insert_telemetry(db: Dialect, conn: Connection, items: list[Item]) -> None:
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
                "payload": db.json(p),
            }
        )
    if rows:
        db.insert_all(conn, TELEMETRY, rows)


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
        alarm_rows.refresh_levels(conn, changed)


def _disprove_reports(conn: Connection, items: list[Item]) -> None:
    """A granted entry or a door opening may disprove a worker's report of a locked door
    (`cloud.feedback.locked`); only stations with one in this batch are looked at."""
    sids = {
        i.sid
        for i in items
        if i.sid is not None
        and (
            (isinstance(i.payload, DoorEvent) and i.payload.action == "door_opened")
            or (isinstance(i.payload, AccessEvent) and i.payload.granted)
        )
    }
    if sids:
        locked_reports.on_door_events(conn, sids, max(i.received_at for i in items))


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
