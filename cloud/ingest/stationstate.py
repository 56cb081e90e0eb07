"""What a batch changes on a station's live-state row (`station_state`), and its history.

Births, LWTs and clean stops set the reported status (guarded by session, see
`apply_state`); meta sets the station's self-description; the newest heartbeat sets the
live door, lock and occupancy readings; any live message sets `last_seen`. Every UPDATE is
guarded so that replays and two workers racing on one station leave the newest values.
Called by `cloud.ingest.writer.write_batch` inside its transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, func, or_, update

from cloud.alarms import rules as alarm_rules
from cloud.ingest.parse import Item
from cloud.models import StationState, StatusChange, table
from cloud.sql.dialect import Dialect, Guard
from protocol.messages import MetaPayload, StatePayload, TelemetryPayload

STATE = table(StationState)
HISTORY = table(StatusChange)

HEARTBEAT_FRESHER = Guard("last_heartbeat", "<=", or_null=True)  # newest or as new wins
SEEN_LATER = Guard("last_seen", "<", or_null=True)


def apply_state(conn: Connection, item: Item) -> bool:
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


def apply_meta(conn: Connection, item: Item) -> None:
    p = item.payload
    assert isinstance(p, MetaPayload)
    values: dict[str, Any] = {"meta": p.model_dump(mode="json")}
    if p.config_version is not None:
        values["config_version"] = p.config_version
    conn.execute(update(STATE).where(STATE.c.station_id == item.sid).values(values))


def _latest(items: Iterable[Item]) -> dict[str, Item]:
    latest: dict[str, Item] = {}
    for item in items:
        assert item.sid is not None
        if item.sid not in latest or latest[item.sid].received_at <= item.received_at:
            latest[item.sid] = item
    return latest


def apply_heartbeats(db: Dialect, conn: Connection, items: list[Item]) -> None:
    """The newest heartbeat per station sets the live door/lock/occupancy readings.

    One statement for the batch; `config_version` is kept when the heartbeat does not carry
    one."""
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
                "door_mode": p.door_mode,
                "occupancy": p.occupancy,
                "config_version": p.config_version,
                "telemetry": (dump := p.model_dump(mode="json", exclude_none=True)),
                "attention": alarm_rules.attention(dump, p.lock),
            }
        )
    if rows:
        db.update(
            conn,
            STATE,
            rows,
            key="station_id",
            guard=HEARTBEAT_FRESHER,
            keep_if_null=frozenset({"config_version"}),
        )


def touch_last_seen(db: Dialect, conn: Connection, items: list[Item]) -> None:
    """Any live (non-retained) message proves the station is connected right now."""
    latest = sorted(_latest(items).items())
    if latest:
        rows = [{"station_id": sid, "last_seen": i.received_at} for sid, i in latest]
        db.update(conn, STATE, rows, key="station_id", guard=SEEN_LATER)
