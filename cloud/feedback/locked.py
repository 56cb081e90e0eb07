"""Workers' reports count: a report of a locked, closed or broken door takes the station off
the open map (reason `reported_locked`, `cloud.stations.opennow`) until it is disproved.

- A report flags the station: `station_state.reported_locked_at` = the report's time (the
  newest standing report; the live-state row is created if the station has none), and the
  ops alarm `reported_locked` (source `report`, a warning) is raised or counts one more.
- Abuse: one report alone does not take a station off the map when its own door has just
  proved it works: if the station recorded a granted entry followed by `door_opened` within
  `DOOR_PROOF_S` before the report, the report is stored for ops but flags nothing. A
  station without an agent (basis `schedule`) has no door events, so one report flags it.
  The reports themselves are rate-limited per client (`cloud.api.reports`).
- Cleared when an operator resolves a flagging report of the station, or when the door
  proves otherwise: ingest stores a granted entry and a `door_opened` (station time `ts`, at
  or after the grant) both at or after the flag's time (`on_door_events`, called by
  `cloud.ingest.writer` in the batch's transaction). Clearing also clears the alarm.

Everything runs in the caller's transaction; rows of one station at a time.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, func, select, update

from cloud.alarms import rows as alarm_rows
from cloud.alarms.models import CLEARED, RAISED
from cloud.alarms.rules import REPORTED_LOCKED
from cloud.models import Event, StationState, table
from cloud.sql.dialect import dialect_for

FLAG_KINDS = frozenset({"locked", "closed", "broken"})  # report kinds that mean "can't get in"
DOOR_PROOF_S = 15 * 60  # a granted entry with door_opened this recent outweighs one report
SOURCE = "report"  # the alarm's source (edge and cloud are the others)
RULE = REPORTED_LOCKED

STATE = table(StationState)
EVENT = table(Event)


def door_admitted_since(conn: Connection, sid: str, since: datetime) -> bool:
    """Whether the station's door let a member in at or after `since` (station time): a
    granted access event, and a `door_opened` at or after it. Two lookups on the
    (station, ts) index."""
    first_grant = conn.execute(
        select(func.min(EVENT.c.ts)).where(
            EVENT.c.station_id == sid,
            EVENT.c.ts >= since,
            EVENT.c.type == "access",
            EVENT.c.granted.is_(True),
        )
    ).scalar_one_or_none()
    if first_grant is None:
        return False
    opened = conn.execute(
        select(EVENT.c.id)
        .where(
            EVENT.c.station_id == sid,
            EVENT.c.ts >= first_grant,
            EVENT.c.type == "door",
            EVENT.c.action == "door_opened",
        )
        .limit(1)
    ).first()
    return opened is not None


def on_report(conn: Connection, sid: str, kind: str, now: datetime) -> bool:
    """Apply a new report of `kind` at `sid` (registered); whether it flagged the station."""
    if kind not in FLAG_KINDS:
        return False
    if door_admitted_since(conn, sid, now - timedelta(seconds=DOOR_PROOF_S)):
        return False
    dialect_for(conn).ensure(conn, STATE, [{"station_id": sid}], ["station_id"])
    conn.execute(update(STATE).where(STATE.c.station_id == sid).values(reported_locked_at=now))
    open_row = alarm_rows.open_rows(conn, source=SOURCE, stations={sid}).get((sid, RULE.name))
    if open_row is not None:
        alarm_rows.change(conn, open_row.id, {"detail": kind}, now, again=True)
    else:
        values = {"state": RAISED, "since": now, "raised_at": now, "detail": kind}
        alarm_rows.add(conn, sid, RULE, SOURCE, values, now)
    alarm_rows.refresh_levels(conn, {sid})
    return True


def clear(conn: Connection, sid: str, now: datetime) -> None:
    """Drop the station's flag and clear its alarm (nothing to do when it has none)."""
    conn.execute(update(STATE).where(STATE.c.station_id == sid).values(reported_locked_at=None))
    open_row = alarm_rows.open_rows(conn, source=SOURCE, stations={sid}).get((sid, RULE.name))
    if open_row is not None:
        alarm_rows.change(conn, open_row.id, {"state": CLEARED, "cleared_at": now}, now)
        alarm_rows.refresh_levels(conn, {sid})


def on_resolve(conn: Connection, sid: str, kind: str, now: datetime) -> None:
    """An operator resolved a report of `kind` at `sid`: a flagging kind clears the flag."""
    if kind in FLAG_KINDS:
        clear(conn, sid, now)


def on_door_events(conn: Connection, sids: Collection[str], now: datetime) -> set[str]:
    """After ingest stored entries or door openings of `sids`: clear each flag the door has
    disproved since it was set; returns the stations cleared. One indexed read of the
    flagged ones (usually none)."""
    if not sids:
        return set()
    flagged = conn.execute(
        select(STATE.c.station_id, STATE.c.reported_locked_at).where(
            and_(STATE.c.station_id.in_(sorted(sids)), STATE.c.reported_locked_at.is_not(None))
        )
    ).all()
    cleared = set()
    for sid, since in flagged:
        if door_admitted_since(conn, sid, since):
            clear(conn, sid, now)
            cleared.add(sid)
    return cleared
