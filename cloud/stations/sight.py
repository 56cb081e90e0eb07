"""Whether the cloud can see its stations right now: a cloud-side outage is not a station
outage.

Stations talk to the broker, the ingest workers write what they say into the database, and
everything else (the API, the monitor) judges stations from there. When that chain breaks,
every station goes quiet at once; judged one by one, they would all turn `stale`, leave the
map after the stale grace and raise `station_offline` — the cloud's blindness painted as
every station closed. So the cloud first judges its own sight, from two signs:

- `no_ingest`: no ingest worker is connected to the broker. Each ingest process's monitor
  records its worker's connection in `ingest_presence` every run (`record_presence`); blind
  when workers were recorded within `presence_memory_s` but none reports itself connected
  within `presence_ttl_s`. (No record at all, e.g. a deployment whose ingest runs without a
  monitor: this sign is not used.)
- `fleet_silence`: most stations that were online went quiet within the same short period.
  The *cohort* is the stations reported online/degraded whose last sign of life is within
  `cohort_s` of the newest one anyone gave (`last_heard`): the stations that were alive when
  the cloud last heard anything. Blind when at least `silence_min_stations` of them and at
  least `silence_share` of them are past the heartbeat deadline (the default span: grace
  intervals × the default interval). In normal operation `last_heard` is a moment ago and
  nobody in the cohort can be past a deadline; in an outage `last_heard` stops, so the cohort
  stays the fleet that was alive then, and all of it goes quiet together.

The monitor reads both signs on every run and keeps its judgement in its `cloud_blind`
alarm; the API reads presence itself (a dead ingest process takes its monitor with it) and
takes fleet silence from that alarm, so a search never pays for scanning the live state.

While blind, `cloud.stations.opennow` judges stations as they were at `saw_until` (the last
moment the cloud could see): those that were up are open by their hours (basis `schedule`), those
already down stay down; the monitor raises `cloud_blind` and no `station_offline`. When
sight returns, `heard_from` (the later of: the last time the monitor found the cloud blind,
and the earliest connect of the ingest workers connected now) tells
`cloud.stations.liveness.judge` to count a station's silence from then on only: a station that died
during the outage leaves the map one heartbeat span + stale grace after the cloud sees again,
like any station that goes quiet, and one that is merely slow to reconnect does not flicker.
A station already `lost` or `offline` has no silence to restart: it is judged as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from sqlalchemy import Connection, and_, case, func, insert, select, update

from cloud.models import IngestPresence, StationState, table
from cloud.stations.liveness import LivenessPolicy, Status, epoch_us

STATE = table(StationState)
PRESENCE = table(IngestPresence)
BLIND_RULE = "cloud_blind"  # cloud.alarms.rules.CLOUD_BLIND, raised and cleared by the monitor


class Blindness(StrEnum):
    NO_INGEST = "no_ingest"
    FLEET_SILENCE = "fleet_silence"


@dataclass(frozen=True, slots=True)
class SightPolicy:
    """When the cloud calls itself blind. Defaults are for fleets from a handful of agents to
    hundreds of thousands."""

    # Share of the cohort that must be quiet. Lower: a partial outage (one broker of a
    # cluster) counts sooner, and a real regional power cut is more often taken for the
    # cloud's; higher: only a total outage counts.
    silence_share: float = 0.5
    # Quiet stations needed at least: two stations dying together is not an outage. A city
    # with fewer live agents relies on `no_ingest`.
    silence_min_stations: int = 3
    # Seconds around the newest sign of life that make the cohort: at least one heartbeat
    # interval (30 s), so every live station falls in it; at most the heartbeat span (90 s),
    # so in normal operation no cohort member can be past its deadline.
    cohort_s: float = 60.0
    # A worker's presence record counts this long (3 monitor runs of 10 s by default).
    presence_ttl_s: float = 30.0
    # Records older than this are forgotten (and deleted): a deployment that stopped
    # recording presence is judged by silence alone after a day.
    presence_memory_s: float = 86_400.0


class _SightSettings(Protocol):
    monitor_interval_s: float


def sight_policy_from(settings: _SightSettings) -> SightPolicy:
    """Presence is recorded every monitor run: a record is fresh for three of them."""
    return SightPolicy(presence_ttl_s=max(15.0, 3 * settings.monitor_interval_s))


@dataclass(frozen=True, slots=True)
class Pulse:
    """The fleet's signs of life, at one instant."""

    last_heard: datetime | None  # the newest sign of life of a station reported live
    cohort: int  # stations alive within `cohort_s` of `last_heard`
    quiet: int  # of those, past the heartbeat deadline now


@dataclass(frozen=True, slots=True)
class Presence:
    """The ingest workers' own records (`ingest_presence`), at one instant."""

    known: bool  # any worker recorded within `presence_memory_s`
    connected: int = 0  # workers connected by a fresh record
    connected_since: datetime | None = None  # the earliest connect of those
    last_connected: datetime | None = None  # the newest record of any worker connected


@dataclass(frozen=True, slots=True)
class Sight:
    """What the cloud can see. `blind`: judge stations as at `saw_until`, open by hours;
    `heard_from`: sight (last) returned then, silence before it is not the stations'."""

    blind: bool = False
    reason: Blindness | None = None
    saw_until: datetime | None = None
    heard_from: datetime | None = None
    # The two times as epoch microseconds, for the nearby search's integer judgement.
    saw_until_us: int = field(init=False, default=0)
    heard_from_us: int = field(init=False, default=0)

    def judged_at(self, now: datetime) -> datetime:
        """The instant stations are judged at: `now`, or while blind the moment the cloud
        last saw (their last judged state holds)."""
        if self.blind and self.saw_until is not None and self.saw_until < now:
            return self.saw_until
        return now

    def __post_init__(self) -> None:
        us = epoch_us(self.saw_until) if self.saw_until is not None else 0
        object.__setattr__(self, "saw_until_us", us)
        us = epoch_us(self.heard_from) if self.heard_from is not None else 0
        object.__setattr__(self, "heard_from_us", us)


SEEING = Sight()


@dataclass(frozen=True, slots=True)
class Standing:
    """The monitor's last word: its `cloud_blind` alarm, updated on every run while blind
    (`value` = seconds since it last saw, `detail` = the reason) and when cleared."""

    raised: bool = False
    reason: Blindness | None = None
    saw_until: datetime | None = None
    updated_at: datetime | None = None  # at most one monitor run before sight returned


def judge_sight(
    pulse: Pulse | None, presence: Presence, policy: SightPolicy, standing: Standing = Standing()
) -> Sight:
    """The one blindness rule (see the module docstring). Without `pulse` (the API: two scans
    of the live state on every refresh cost each request ~0.1-0.2 ms of CPU at 200,000
    stations), fleet silence is the monitor's judgement, read from its `standing` alarm; no
    ingest worker connected is judged here, as a dead ingest process takes its monitor."""
    connected = presence.connected_since if presence.known else None
    returns = [t for t in (standing.updated_at, connected) if t is not None]
    heard_from = max(returns) if returns else None
    if presence.known and presence.connected == 0:
        saw = presence.last_connected or (pulse.last_heard if pulse else standing.saw_until)
        return Sight(True, Blindness.NO_INGEST, saw, None)
    if pulse is None:
        if standing.raised and standing.reason is Blindness.FLEET_SILENCE:
            return Sight(True, Blindness.FLEET_SILENCE, standing.saw_until, heard_from)
        return Sight(False, None, None, heard_from)
    quiet = pulse.quiet
    if quiet >= policy.silence_min_stations and quiet >= policy.silence_share * pulse.cohort:
        return Sight(True, Blindness.FLEET_SILENCE, pulse.last_heard, heard_from)
    return Sight(False, None, None, heard_from)


# --- reading the signs ---------------------------------------------------------------------

_LIVE_REPORTS = (Status.ONLINE.value, Status.DEGRADED.value)
# The last sign of life: the later of the newest heartbeat and the reported status's time.
_ALIVE = case(
    (STATE.c.last_heartbeat.is_(None), STATE.c.status_at),
    (STATE.c.status_at.is_(None), STATE.c.last_heartbeat),
    (STATE.c.last_heartbeat > STATE.c.status_at, STATE.c.last_heartbeat),
    else_=STATE.c.status_at,
)


def read_pulse(
    conn: Connection, now: datetime, liveness: LivenessPolicy, policy: SightPolicy
) -> Pulse:
    """Two aggregate scans of `station_state` (~20 ms at 200,000 stations on PostgreSQL)."""
    live = STATE.c.status.in_(_LIVE_REPORTS)
    last = conn.execute(select(func.max(_ALIVE)).where(live)).scalar_one_or_none()
    if last is None:
        return Pulse(None, 0, 0)
    span = timedelta(seconds=liveness.grace_intervals * liveness.default_interval_s)
    in_cohort = and_(live, last - timedelta(seconds=policy.cohort_s) <= _ALIVE)
    quiet = case((now - span > _ALIVE, 1), else_=0)
    cohort, silent = conn.execute(
        select(func.count(), func.coalesce(func.sum(quiet), 0)).where(in_cohort)
    ).one()
    return Pulse(last, int(cohort), int(silent))


def read_presence(conn: Connection, now: datetime, policy: SightPolicy) -> Presence:
    remembered = PRESENCE.c.seen_at >= now - timedelta(seconds=policy.presence_memory_s)
    fresh = PRESENCE.c.seen_at >= now - timedelta(seconds=policy.presence_ttl_s)
    connected = PRESENCE.c.connected.is_(True)
    known, last = conn.execute(
        select(
            func.count(),
            func.max(case((connected, PRESENCE.c.seen_at), else_=None)),
        ).where(remembered)
    ).one()
    if not known:
        return Presence(False)
    n, since = conn.execute(
        select(func.count(), func.min(PRESENCE.c.since)).where(fresh, connected)
    ).one()
    return Presence(True, int(n), since, last)


def record_presence(conn: Connection, worker: str, connected: bool, now: datetime) -> None:
    """`worker`'s connection now (`since` moves when it changes); forgets records past the
    default memory. Called by each ingest process's monitor on every run."""
    changed = PRESENCE.c.connected.is_distinct_from(connected)
    done = conn.execute(
        update(PRESENCE)
        .where(PRESENCE.c.worker == worker)
        .values(
            connected=connected,
            since=case((changed, now), else_=PRESENCE.c.since),
            seen_at=now,
        )
    ).rowcount
    if not done:
        conn.execute(
            insert(PRESENCE).values(worker=worker, connected=connected, since=now, seen_at=now)
        )
    forget = now - timedelta(seconds=SightPolicy().presence_memory_s)
    conn.execute(PRESENCE.delete().where(PRESENCE.c.seen_at < forget))
