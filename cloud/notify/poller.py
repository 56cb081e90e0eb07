"""Turns alarm changes into notification events and owed deliveries (the outbox).

Why a poller over the alarm table, not an outbox written by ingest: ingest stays exactly as
it was (no extra row, no extra query, no knowledge of channels), and the monitor too. What
keeps it from losing a change:

- It reads alarm rows by `updated_at` from a stored cursor minus `lookback_s` (a transaction
  that stamped its rows earlier but committed later is still read), and a row tells its
  whole story: `raised_at` and `cleared_at` both, so an alarm raised and cleared between two
  polls still gives a raise and a clear.
- Every decision is an event with a unique `key` (`alarm:<id>:raised`, …): reading a row
  twice, two pollers at once, or a restart, decide nothing twice.
- Events and their deliveries are written in one transaction with the cursor, so a crash
  leaves either all or none.

On PostgreSQL an advisory lock (keyed per schema, as the monitor's) lets one poll run at a
time; the unique keys would make a second harmless anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from cloud.alarms.models import CLEARED, RAISED, Alarm
from cloud.models import Station, table
from cloud.notify.models import CHANNEL, CURSOR, DELIVERY, DIGEST, EVENT, PENDING, RULE
from cloud.notify.routing import AlarmFacts, Quiet, Route, channels_for, digest_day, quiet_until
from cloud.notify.summary import digest_facts

ALARM = table(Alarm)
STATION = table(Station)
LOCK_KEY = 0x57A7_0018  # pg advisory lock: one notify poll at a time across processes
CURSOR_NAME = "alarms"


@dataclass(frozen=True, slots=True)
class PollReport:
    events: int = 0
    deliveries: int = 0
    skipped: bool = False


class Poller:
    def __init__(
        self, engine: Engine, *, lookback_s: float = 60.0, max_age_s: float = 7 * 86_400.0
    ) -> None:
        """`lookback_s`: how far before the cursor each poll reads again — longer than any
        alarm-writing transaction takes, plus the clock skew between cloud hosts.
        `max_age_s`: a raise or clear older than this is history, not news (an alarm
        acknowledged months later is read again, and its events may be purged by then)."""
        self.engine = engine
        self.lookback_s = lookback_s
        self.max_age_s = max_age_s

    def run_once(self, now: datetime) -> PollReport:
        with self.engine.begin() as conn:
            if not _try_lock(conn):
                return PollReport(skipped=True)
            writer = _Writer(conn, now)
            cursor = conn.execute(
                select(CURSOR.c.at).where(CURSOR.c.name == CURSOR_NAME)
            ).scalar_one_or_none()
            since = (cursor or now) - timedelta(seconds=self.lookback_s)
            newest = self._changes(writer, since)
            self._escalations(writer)
            self._digests(writer)
            at = max(x for x in (cursor, newest, since) if x is not None)
            if cursor is None:
                conn.execute(insert(CURSOR).values(name=CURSOR_NAME, at=at))
            elif at > cursor:
                conn.execute(update(CURSOR).where(CURSOR.c.name == CURSOR_NAME).values(at=at))
            return PollReport(writer.events, writer.deliveries)

    def _changes(self, w: _Writer, since: datetime) -> datetime | None:
        rows = w.conn.execute(
            _ALARMS.where(ALARM.c.updated_at > since, ALARM.c.state.in_((RAISED, CLEARED)))
        ).all()
        newest = max((r.updated_at for r in rows), default=None)
        if not rows:
            return newest
        done = w.existing({f"alarm:{r.id}:{k}" for r in rows for k in ("raised", "cleared")})
        news = w.now - timedelta(seconds=self.max_age_s)
        for row in rows:
            facts = _alarm_facts(row)
            momentary = row.state == CLEARED and row.cleared_at == row.raised_at
            raised = row.raised_at is not None and row.raised_at >= news
            if raised and f"alarm:{row.id}:raised" not in done:
                targets = channels_for(w.routes, _routing(row), clear=False)
                w.event(f"alarm:{row.id}:raised", "raised", row, facts, targets)
            cleared = row.state == CLEARED and not momentary and row.cleared_at >= news
            if cleared and f"alarm:{row.id}:cleared" not in done:
                targets = channels_for(w.routes, _routing(row), clear=True)
                w.event(f"alarm:{row.id}:cleared", "cleared", row, facts, targets)
        return newest

    def _escalations(self, w: _Writer) -> None:
        routes = [r for r in w.routes if r.escalate_after_min and r.escalate_channel_id]
        if not routes:
            return
        shortest = min(r.escalate_after_min or 0 for r in routes)
        rows = w.conn.execute(
            _ALARMS.where(
                ALARM.c.state == RAISED,
                ALARM.c.acknowledged_at.is_(None),
                ALARM.c.raised_at <= w.now - timedelta(minutes=shortest),
            )
        ).all()
        keys = {f"alarm:{row.id}:escalated:{r.id}" for row in rows for r in routes}
        done = w.existing(keys)
        for row in rows:
            for route in routes:
                key = f"alarm:{row.id}:escalated:{route.id}"
                due = row.raised_at + timedelta(minutes=route.escalate_after_min or 0)
                if key in done or due > w.now or not _matches_one(route, row):
                    continue
                facts = _alarm_facts(row) | {"after_min": route.escalate_after_min}
                assert route.escalate_channel_id is not None
                w.event(key, "escalated", row, facts, {route.escalate_channel_id})

    def _digests(self, w: _Writer) -> None:
        digests = w.conn.execute(
            select(DIGEST, CHANNEL.c.tz)
            .join(CHANNEL, CHANNEL.c.id == DIGEST.c.channel_id)
            .where(DIGEST.c.enabled.is_(True), CHANNEL.c.enabled.is_(True))
        ).all()
        for d in digests:
            day = digest_day(d.tz, d.hour, w.now)
            if day is None:
                continue
            key = f"digest:{d.id}:{day.isoformat()}"
            if w.existing({key}):
                continue
            facts = digest_facts(w.conn, name=d.name, city=d.city, operator=d.operator, now=w.now)
            w.event(key, "digest", None, facts, {d.channel_id})


_ALARMS = select(
    ALARM,
    STATION.c.name.label("station_name"),
    STATION.c.city,
    STATION.c.operator,
    STATION.c.tz,
).select_from(ALARM.outerjoin(STATION, STATION.c.id == ALARM.c.station_id))


def _routing(row: Any) -> AlarmFacts:
    return AlarmFacts(row.rule, row.severity, row.station_id, row.city or "", row.operator or "")


def _matches_one(route: Route, row: Any) -> bool:
    return bool(channels_for([route], _routing(row), clear=False))


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _alarm_facts(row: Any) -> dict[str, Any]:
    return {
        "alarm_id": row.id,
        "rule": row.rule,
        "severity": row.severity,
        "station_id": row.station_id,
        "station_name": row.station_name,
        "city": row.city,
        "operator": row.operator,
        "tz": row.tz,
        "detail": row.detail,
        "value": row.value,
        "raised_at": _iso(row.raised_at),
        "cleared_at": _iso(row.cleared_at),
    }


class _Writer:
    """Events and deliveries of one poll, in its transaction."""

    def __init__(self, conn: Connection, now: datetime) -> None:
        self.conn = conn
        self.now = now
        self.events = 0
        self.deliveries = 0
        rows = conn.execute(
            select(RULE)
            .join(CHANNEL, CHANNEL.c.id == RULE.c.channel_id)
            .where(RULE.c.enabled.is_(True), CHANNEL.c.enabled.is_(True))
        ).all()
        self.routes = [Route.of(r) for r in rows]
        self.quiet = {
            c.id: Quiet(c.tz, c.quiet_start, c.quiet_end, c.quiet_bypass_critical)
            for c in conn.execute(select(CHANNEL).where(CHANNEL.c.enabled.is_(True)))
        }

    def existing(self, keys: set[str]) -> set[str]:
        if not keys:
            return set()
        found = self.conn.execute(select(EVENT.c.key).where(EVENT.c.key.in_(sorted(keys))))
        return set(found.scalars())

    def event(
        self, key: str, kind: str, row: Any, facts: dict[str, Any], channels: set[int]
    ) -> None:
        """Record the event (even with no channel: the decision is made once) and a
        delivery per enabled channel, due now or when the channel's quiet hours end."""
        severity = str(facts.get("severity", "warning"))
        try:
            with self.conn.begin_nested():
                event_id = self.conn.execute(
                    insert(EVENT)
                    .values(
                        key=key,
                        kind=kind,
                        alarm_id=row.id if row is not None else None,
                        severity=severity,
                        facts=facts,
                        created_at=self.now,
                    )
                    .returning(EVENT.c.id)
                ).scalar_one()
        except IntegrityError:  # another poller decided it first
            return
        self.events += 1
        values = []
        for channel_id in sorted(channels):
            quiet = self.quiet.get(channel_id)
            if quiet is None:
                continue  # disabled
            due = quiet_until(quiet, self.now, severity) or self.now
            values.append(
                {
                    "event_id": event_id,
                    "channel_id": channel_id,
                    "status": PENDING,
                    "attempts": 0,
                    "next_at": due,
                    "created_at": self.now,
                }
            )
        if values:
            self.conn.execute(insert(DELIVERY), values)
            self.deliveries += len(values)


def add_event(
    conn: Connection, key: str, kind: str, facts: dict[str, Any], channels: set[int], now: datetime
) -> int | None:
    """An event outside a poll (a test message): its id, None if `key` exists."""
    writer = _Writer(conn, now)
    writer.event(key, kind, None, facts, channels)
    if not writer.events:
        return None
    return int(conn.execute(select(func.max(EVENT.c.id)).where(EVENT.c.key == key)).scalar_one())


def _try_lock(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return True  # SQLite has one writer at a time anyway
    lock = text("SELECT pg_try_advisory_xact_lock(:k, hashtext(current_schema()))")
    return bool(conn.execute(lock, {"k": LOCK_KEY}).scalar())
