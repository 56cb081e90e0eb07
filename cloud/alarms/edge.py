"""Edge alarms: the station's own `alarm` events and the door events that imply one, applied
to the alarm table by ingest in the same transaction that stores the events.

Times are the station's (`ts`, never later than receipt), because a replayed journal tells
when the door was forced, not when the uplink came back. Events are applied per station in
`seq` order; a replayed `raised` older than the last clear of that alarm is history, not news.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from cloud.alarms import rows as alarm_rows
from cloud.alarms.models import CLEARED, RAISED
from cloud.alarms.rules import DOOR_ACTIONS, Open, edge_rule
from protocol.messages import AlarmEvent, DoorEvent

SOURCE = "edge"


@dataclass(frozen=True, slots=True)
class Signal:
    """One raise or clear of an edge alarm."""

    sid: str
    rule: str
    raised: bool
    at: datetime
    seq: int
    detail: str | None = None


def signals(events: Iterable[tuple[str, AlarmEvent | DoorEvent, datetime]]) -> list[Signal]:
    """(station, event, received_at) → the alarm signals they carry, in (station, seq) order."""
    out: list[Signal] = []
    for sid, event, received_at in events:
        at = min(event.ts, received_at)
        if isinstance(event, AlarmEvent):
            out.append(
                Signal(sid, event.alarm, event.state == "raised", at, event.seq, event.detail)
            )
        else:
            for rule, raises in DOOR_ACTIONS.get(event.action, ()):
                out.append(Signal(sid, rule, raises, at, event.seq, event.cause))
    out.sort(key=lambda s: (s.sid, s.seq))
    return out


def apply(conn: Connection, sigs: list[Signal], now: datetime) -> set[str]:
    """Apply signals; returns the stations whose alarms changed (their level needs a refresh)."""
    if not sigs:
        return set()
    rows = alarm_rows.open_rows(conn, source=SOURCE, stations={s.sid for s in sigs})
    changed: set[str] = set()
    for sig in sigs:
        rule = edge_rule(sig.rule)
        key = (sig.sid, rule.name)
        row = rows.get(key)
        detail = sig.detail[:200] if sig.detail else None
        if sig.raised:
            if row is not None:  # de-duplicated: the open alarm counts one more raise
                alarm_rows.change(conn, row.id, {"detail": detail}, now, again=True)
                continue
            cleared = alarm_rows.last_cleared_at(conn, sig.sid, rule.name)
            if cleared is not None and cleared >= sig.at:
                continue  # an old raise replayed after its clear
            values = {"state": RAISED, "since": sig.at, "raised_at": sig.at, "detail": detail}
            if rule.momentary:
                values |= {"state": CLEARED, "cleared_at": sig.at}
            alarm_id = alarm_rows.add(conn, sig.sid, rule, SOURCE, values, now)
            if not rule.momentary:
                rows[key] = Open(alarm_id, RAISED, sig.at, None)
            changed.add(sig.sid)
        elif row is not None and row.since <= sig.at:
            alarm_rows.change(conn, row.id, {"state": CLEARED, "cleared_at": sig.at}, now)
            del rows[key]
            changed.add(sig.sid)
    return changed
