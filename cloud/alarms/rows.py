"""Reading and writing alarm rows inside a caller's transaction, and the station's alarm level.

Writers are ingest (edge alarms) and the monitor (cloud rules); both hold a transaction and
touch rows of one (station, rule) at a time, and the partial unique index `uq_alarm_open`
keeps at most one row not yet cleared per station and rule whoever writes.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, delete, exists, insert, select, update

from cloud.alarms.models import CLEARED, RAISED, Alarm
from cloud.alarms.rules import Open, Rule
from cloud.models import StationState, table

ALARM = table(Alarm)
STATE = table(StationState)

Key = tuple[str | None, str]  # (station id, or None for the cloud's own alarms; rule)


def open_rows(
    conn: Connection, *, source: str, stations: Collection[str] | None = None
) -> dict[Key, Open]:
    """Rows not yet cleared, by (station, rule); all stations when `stations` is None."""
    query = select(
        ALARM.c.id,
        ALARM.c.station_id,
        ALARM.c.rule,
        ALARM.c.state,
        ALARM.c.since,
        ALARM.c.clearing_since,
    ).where(ALARM.c.state != CLEARED, ALARM.c.source == source)
    if stations is not None:
        if not stations:
            return {}
        query = query.where(ALARM.c.station_id.in_(sorted(stations)))
    return {
        (r.station_id, r.rule): Open(r.id, r.state, r.since, r.clearing_since)
        for r in conn.execute(query)
    }


def add(
    conn: Connection,
    sid: str | None,
    rule: Rule,
    source: str,
    values: dict[str, Any],
    now: datetime,
) -> int:
    row = {
        "station_id": sid,
        "rule": rule.name,
        "severity": str(rule.severity),
        "blocks_open": rule.blocks_open,
        "source": source,
        "occurrences": 1,
        "updated_at": now,
        **values,
    }
    return int(conn.execute(insert(ALARM).values(row).returning(ALARM.c.id)).scalar_one())


def change(
    conn: Connection, alarm_id: int, values: dict[str, Any], now: datetime, *, again: bool = False
) -> None:
    """Update a row; `again` counts one more raise folded into it (de-duplication)."""
    if again:
        values = {**values, "occurrences": ALARM.c.occurrences + 1}
    conn.execute(update(ALARM).where(ALARM.c.id == alarm_id).values(updated_at=now, **values))


def remove(conn: Connection, alarm_id: int) -> None:
    conn.execute(delete(ALARM).where(ALARM.c.id == alarm_id))


def last_cleared_at(conn: Connection, sid: str, rule: str) -> datetime | None:
    return conn.execute(
        select(ALARM.c.cleared_at)
        .where(ALARM.c.station_id == sid, ALARM.c.rule == rule, ALARM.c.state == CLEARED)
        .order_by(ALARM.c.cleared_at.desc())
        .limit(1)
    ).scalar_one_or_none()


def refresh_levels(conn: Connection, stations: Collection[str]) -> None:
    """Recompute `station_state.alarm_level` of `stations` from their raised alarms:
    `blocking` if one of them blocks opening, `warning` if any is raised, else `none`."""
    if not stations:
        return
    raised = and_(ALARM.c.station_id == STATE.c.station_id, ALARM.c.state == RAISED)
    level = case(
        (exists().where(raised, ALARM.c.blocks_open.is_(True)), "blocking"),
        (exists().where(raised), "warning"),
        else_="none",
    )
    conn.execute(
        update(STATE).where(STATE.c.station_id.in_(sorted(stations))).values(alarm_level=level)
    )
