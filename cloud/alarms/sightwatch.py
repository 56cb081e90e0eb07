"""The cloud's sight as read from the database: the signs (`cloud.stations.sight`) plus the
monitor's standing judgement, kept in its `cloud_blind` alarm row.

The judgement itself (`judge_sight`) and the station-side signs live with the stations; what
reads the alarm table lives here, with the alarms, so the stations package never imports
the alarms package (which imports it)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, select

from cloud.alarms.models import PENDING, RAISED, Alarm
from cloud.background import BackgroundRead
from cloud.models import table
from cloud.stations.liveness import LivenessPolicy
from cloud.stations.sight import (
    BLIND_RULE,
    Blindness,
    Sight,
    SightPolicy,
    Standing,
    judge_sight,
    read_presence,
    read_pulse,
)

ALARM = table(Alarm)


def read_standing(conn: Connection) -> Standing:
    """The newest `cloud_blind` row (an indexed look-up: the cloud's own alarms have no
    station)."""
    row = conn.execute(
        select(ALARM.c.state, ALARM.c.detail, ALARM.c.value, ALARM.c.updated_at)
        .where(ALARM.c.station_id.is_(None), ALARM.c.rule == BLIND_RULE, ALARM.c.state != PENDING)
        .order_by(ALARM.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return Standing()
    if row.state != RAISED:
        return Standing(updated_at=row.updated_at)
    reason = Blindness(row.detail) if row.detail in Blindness.__members__.values() else None
    saw = row.updated_at - timedelta(seconds=row.value or 0.0)
    return Standing(True, reason, saw, row.updated_at)


def read_sight(
    conn: Connection,
    now: datetime,
    liveness: LivenessPolicy,
    policy: SightPolicy,
    *,
    pulse: bool = True,
) -> Sight:
    """The signs, read now; `pulse=False` (the API) leaves fleet silence to the monitor."""
    fleet = read_pulse(conn, now, liveness, policy) if pulse else None
    presence = read_presence(conn, now, policy)
    return judge_sight(fleet, presence, policy, read_standing(conn))


class SightWatch:
    """The API's view of `read_sight` (without the fleet scan: see `judge_sight`), read again
    at most every `refresh_s` seconds.

    `current` never waits for the database once it has a reading: a due refresh runs on a
    thread of its own (as `cloud.stations.index.StationIndex` does, and for the same reason: a
    synchronous read on the event loop stalls every request queued behind it). With
    `refresh_s` 0 it reads on every call (tests)."""

    def __init__(
        self,
        engine: Engine,
        liveness: LivenessPolicy,
        policy: SightPolicy,
        *,
        refresh_s: float,
        clock: object,
    ) -> None:
        self._engine = engine
        self._liveness = liveness
        self._policy = policy
        self._refresh_s = refresh_s
        self._clock = clock
        self._sight: Sight | None = None
        self._read_at = 0.0  # monotonic
        self._background = BackgroundRead(self._read_in_background, "sight read")

    def read(self) -> Sight:
        now = self._clock()  # type: ignore[operator]
        with self._engine.connect() as conn:
            sight = read_sight(conn, now, self._liveness, self._policy, pulse=False)
        self._sight, self._read_at = sight, time.monotonic()
        return sight

    def current(self) -> Sight:
        sight = self._sight
        if sight is None or self._refresh_s <= 0:
            return self.read()
        if time.monotonic() - self._read_at >= self._refresh_s:
            self._background.start()  # one at a time; none once closed
        return sight

    def _read_in_background(self) -> None:
        try:
            self.read()
        except Exception:  # the next due refresh tries again; meanwhile the last reading holds
            self._read_at = time.monotonic()
            raise

    def close(self) -> None:
        """At shutdown, before the engine is disposed: no more background reads, and the one
        in flight has given its connection back (`cloud.background`)."""
        self._background.close()
