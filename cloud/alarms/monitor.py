"""The health monitor: on a timer, judge every station's liveness and newest heartbeat, step
the cloud alarm rules, and record the status changes silence causes.

Why a timer and not ingest: the conditions that matter most arrive as nothing at all — a
station that stopped talking, a fridge that has been warm for 15 minutes since its last
heartbeat. Each run is one transaction; on PostgreSQL an advisory lock lets one monitor run
at a time, so every ingest worker can host one and a dead worker's monitor is not missed.

Silence is judged only while the cloud can see (`cloud.stations.sight`): while it is blind, stations
are judged as at the moment it last saw (no `stale` history, no `station_offline`), and the
cloud's own alarm `cloud_blind` is raised instead. A station in maintenance (the registry's
flag or a window active now: `cloud.stations.maintenance`) raises no `station_offline`, and
one already raised clears: ops took it off the map themselves. Its other alarms still run.
A station may have its own sensor thresholds (`cloud.alarms.thresholds`, read once per run).
Each run first records its ingest worker's connection (`record_presence`), whoever holds the
lock: that record is how every process knows whether any ingest worker is connected.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    insert,
    select,
    text,
    update,
)

from cloud.alarms import fleetscan, rules, thresholds
from cloud.alarms import rows as alarm_rows
from cloud.alarms.fleetscan import STATES, ahead
from cloud.alarms.rules import CLOUD_BLIND, CLOUD_METRICS, THRESHOLDS, facts, recent, step
from cloud.alarms.sightwatch import read_sight
from cloud.clock import Clock, utcnow
from cloud.models import Station, StationState, StatusChange, table
from cloud.settings import Settings
from cloud.stations.liveness import (
    Liveness,
    LivenessPolicy,
    Status,
    health_of,
    liveness,
    policy_from,
)
from cloud.stations.maintenance import maintained_ids
from cloud.stations.sight import Sight, SightPolicy, record_presence, sight_policy_from

log = logging.getLogger(__name__)

STATE = table(StationState)
STATION = table(Station)
HISTORY = table(StatusChange)
SOURCE = "cloud"
LOCK_KEY = 0x57A7_0001  # pg advisory lock: one monitor run at a time across processes
DEFAULT_INTERVAL_S = 10.0
LIVE_REPORTS = (Status.ONLINE, Status.DEGRADED)
DEFAULT_CONFIG_LAG_S = 600.0


@dataclass(frozen=True, slots=True)
class Report:
    """What one run did."""

    stations: int = 0
    raised: int = 0
    cleared: int = 0
    history: int = 0
    skipped: bool = False  # another monitor held the lock
    seconds: float = 0.0
    sight: Sight | None = None  # what the cloud could see (None: skipped)


def offline_seconds(state: Any, live: Liveness, now: datetime, policy: LivenessPolicy) -> float:
    """How long the station has been unreachable: since its LWT or stop, or since its
    silence outlasted the stale grace; 0 while it is live or was never heard from."""
    if live.live or live.status is Status.UNKNOWN:
        return 0.0
    if live.status is Status.STALE and live.deadline is not None:
        since = live.deadline + timedelta(seconds=policy.stale_open_grace_s)
    else:
        since = state.status_at or now
    return max(0.0, (now - since).total_seconds())


def silence_change(state: Any, live: Liveness) -> tuple[str, datetime] | None:
    """The history row silence implies, if the newest one no longer tells the truth: online
    → stale at the heartbeat deadline, and stale → the reported status when heartbeats came
    back. Reported changes themselves are written by ingest."""
    recorded = state.history_status
    if live.status is Status.STALE and recorded in LIVE_REPORTS and live.deadline is not None:
        return Status.STALE, live.deadline
    if live.status in LIVE_REPORTS and recorded in (Status.STALE, None):
        at = state.last_heartbeat or state.status_at
        return (live.status, at) if at is not None else None
    return None


class Monitor:
    def __init__(
        self,
        engine: Engine,
        *,
        policy: LivenessPolicy | None = None,
        clock: Clock = utcnow,
        interval_s: float = DEFAULT_INTERVAL_S,
        quiet_s: float = 3_600.0,
        sight_policy: SightPolicy | None = None,
        worker: tuple[str, Callable[[], bool]] | None = None,
        config_lag_s: float = DEFAULT_CONFIG_LAG_S,
        thresholds: tuple[rules.Threshold, ...] = THRESHOLDS,  # the demo's wait less
    ) -> None:
        """`worker`: the ingest worker of this process, (client id, is it connected and
        subscribed), whose presence each run records. `config_lag_s`: how long a station
        may run an older config than its desired one before `config_mismatch`."""
        self.config_lag_s, self.thresholds = config_lag_s, thresholds
        self.engine = engine
        self.quiet_s = quiet_s  # a refusal or seq gap keeps its alarm raised this long
        self.policy = policy or LivenessPolicy()
        self.sight_policy = sight_policy or SightPolicy()
        self.clock = clock
        self.interval_s = interval_s
        self.worker = worker
        self.runs = self.failures = 0
        self.last: Report | None = None

    def run_once(self) -> Report:
        started = time.perf_counter()
        now = self.clock()
        if self.worker is not None:
            name, connected = self.worker
            with self.engine.begin() as conn:
                record_presence(conn, name, connected(), now)
        with self.engine.begin() as conn:
            if not _try_lock(conn):
                return Report(skipped=True)
            report = self._judge(conn, now)
        report = replace(report, seconds=time.perf_counter() - started)
        self.runs += 1
        self.last = report
        return report

    def run(self, stop: threading.Event) -> None:
        """Run every `interval_s` until `stop`; a failed run (database away) is logged and
        the next one tries again."""
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:
                self.failures += 1
                log.exception("health monitor: run failed; retrying in %.0f s", self.interval_s)
            stop.wait(self.interval_s)

    def _judge(self, conn: Connection, now: datetime) -> Report:
        rows = alarm_rows.open_rows(conn, source=SOURCE)
        sight = read_sight(conn, now, self.policy, self.sight_policy)
        raised, cleared = self._cloud_alarm(conn, rows, sight, now)
        if cleared:  # sight returned this run: silence before it is not the stations'
            sight = replace(sight, heard_from=now)
        at, heard_from = sight.judged_at(now), sight.heard_from
        quiet = fleetscan.quiet(now, self.policy, self.quiet_s)
        # A station with its own thresholds is never quiet: ingest's `attention` knows
        # only the defaults.
        overrides = thresholds.load(conn)
        judged = {sid for sid, _ in rows if sid} | {sid for sid, _ in overrides}
        states = conn.execute(STATES.where(~quiet)).all()
        states += conn.execute(STATES.where(quiet, STATE.c.station_id.in_(judged))).all()
        changed: set[str] = set()
        history = 0
        maintained = maintained_ids(conn, now)
        for state in states:
            sid = state.station_id
            live = liveness(state, at, self.policy, heard_from=heard_from)
            silence = silence_change(state, live)
            if silence is not None and _record(conn, state, *silence):
                history += 1
            heartbeat_age = (
                (at - state.last_heartbeat).total_seconds() if state.last_heartbeat else 0.0
            )
            readings = facts(
                state.telemetry,
                lock=state.lock,
                # In maintenance or retired (closed for good, its agent likely gone): its
                # silence is expected, so no station_offline, and one raised clears.
                offline_s=(
                    0.0
                    if sid in maintained or state.retired_at is not None
                    else offline_seconds(state, live, at, self.policy)
                ),
                heartbeat_age_s=heartbeat_age,
                refused_recent=recent(state.refused_at, now, self.quiet_s),
                gap_recent=recent(state.gap_at, now, self.quiet_s),
                config_lagging=(
                    lagging := rules.lagging(
                        state.config_version,
                        state.desired_version,
                        state.desired_at,
                        now,
                        self.config_lag_s,
                    )
                ),
                schedule_differs=rules.schedule_differs(
                    state.meta,
                    state.registry_hours,
                    state.registry_tz,
                    desired=state.desired_version is not None,
                    pushing=lagging == 0.0 and ahead(state),
                ),
            )
            for default in self.thresholds:
                rule = thresholds.for_station(overrides, sid, default)
                # A silent station's last heartbeat is old news: only the cloud's own facts
                # (offline time, refusals, seq gaps) are judged.
                live_or_own = live.live or rule.metric in CLOUD_METRICS
                value = readings[rule.metric] if live_or_own else None
                row = rows.get((sid, rule.name))
                move = step(rule, row, value, now)
                if move is None:
                    continue
                if move.action == "insert":
                    values = move.values | _detail(rule.name, state)
                    alarm_rows.add(conn, sid, rule, SOURCE, values, now)
                elif move.action == "delete":
                    assert row is not None
                    alarm_rows.remove(conn, row.id)
                else:
                    assert row is not None
                    alarm_rows.change(conn, row.id, move.values, now)
                state_now = move.values.get("state")
                raised += state_now == "raised"
                cleared += state_now == "cleared"
                changed.add(sid)
        alarm_rows.refresh_levels(conn, changed)
        fresh = self._healths(conn, states, changed, at, heard_from)
        healths = [{"b_sid": sid, "b_health": h} for sid, h in fresh]
        if healths:
            conn.execute(
                update(STATE)
                .where(STATE.c.station_id == bindparam("b_sid"))
                .values(health=bindparam("b_health")),
                healths,
            )
        return Report(len(states), raised, cleared, history, sight=sight)

    def _cloud_alarm(
        self, conn: Connection, rows: dict[alarm_rows.Key, Any], sight: Sight, now: datetime
    ) -> tuple[int, int]:
        """Raise or clear `cloud_blind`; (raised, cleared) by this run."""
        row = rows.get((None, CLOUD_BLIND.name))
        blind_s = 0.0
        if sight.blind:
            saw = sight.saw_until or now
            blind_s = max(1.0, (now - saw).total_seconds())
        move = step(CLOUD_BLIND, row, blind_s, now)
        if move is None:
            if row is not None and sight.blind:  # the API reads the standing judgement here
                alarm_rows.change(
                    conn, row.id, {"value": blind_s, "detail": str(sight.reason)}, now
                )
            return 0, 0
        values = dict(move.values)
        if sight.blind:
            values["detail"] = str(sight.reason)
        if move.action == "insert":
            alarm_rows.add(conn, None, CLOUD_BLIND, SOURCE, values, now)
        else:
            assert row is not None
            alarm_rows.change(conn, row.id, values, now)
        state = move.values.get("state")
        if state == "raised":
            log.warning("the cloud cannot see its stations: %s", sight.reason)
        return int(state == "raised"), int(state == "cleared")

    def _healths(
        self,
        conn: Connection,
        states: list[Any],
        changed: set[str],
        at: datetime,
        heard_from: datetime | None,
    ) -> list[tuple[str, str]]:
        """(station, health) where the stored health is no longer right; the alarm levels
        this run changed are read again so the health written is the one after its alarms."""
        levels: dict[str, str] = {}
        if changed:
            query = select(STATE.c.station_id, STATE.c.alarm_level)
            levels = dict(conn.execute(query.where(STATE.c.station_id.in_(changed))).all())
        out = []
        for state in states:
            view = _WithLevel(state, levels.get(state.station_id, state.alarm_level))
            live = liveness(state, at, self.policy, heard_from=heard_from)
            health = health_of(live, view, self.policy)
            if health != state.health:
                out.append((state.station_id, str(health)))
        return out


def _detail(rule: str, state: Any) -> dict[str, Any]:
    """What a refusal or seq-gap alarm says when raised: the count and the newest reason."""
    if rule == "payload_refused":
        return {"detail": f"{state.refused} refused; newest: {state.refused_reason}"[:200]}
    if rule == "seq_gap":
        return {"detail": f"{state.skipped} seqs never received, acked past"}
    return {}


@dataclass(frozen=True, slots=True)
class _WithLevel:
    """A state row seen with a fresher alarm level."""

    row: Any
    alarm_level: str

    def __getattr__(self, name: str) -> Any:
        return getattr(self.row, name)


def start_monitor(
    engine: Engine,
    settings: Settings,
    stop: threading.Event,
    *,
    worker: tuple[str, Callable[[], bool]] | None = None,
    thresholds: tuple[rules.Threshold, ...] = THRESHOLDS,
) -> threading.Thread | None:
    """Run a monitor on a daemon thread until `stop`, unless `monitor_interval_s` is 0;
    `worker` and `thresholds` as in `Monitor`."""
    if settings.monitor_interval_s <= 0:
        return None
    monitor = Monitor(
        engine,
        policy=policy_from(settings),
        sight_policy=sight_policy_from(settings),
        interval_s=settings.monitor_interval_s,
        quiet_s=settings.refusal_quiet_s,
        worker=worker,
        config_lag_s=settings.config_lag_s,
        thresholds=thresholds,
    )
    thread = threading.Thread(target=monitor.run, args=(stop,), name="monitor", daemon=True)
    thread.start()
    return thread


def _try_lock(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return True  # SQLite has one writer at a time anyway
    # Keyed on the schema too, as `cloud.migrate`'s lock is: two deployments sharing one
    # database in their own schemas (and the test suite's parallel schemas) never skip each
    # other's runs.
    lock = text("SELECT pg_try_advisory_xact_lock(:k, hashtext(current_schema()))")
    got = conn.execute(lock, {"k": LOCK_KEY}).scalar()
    return bool(got)


def _record(conn: Connection, state: Any, status: str, at: datetime) -> bool:
    """Move `history_status` from what was read to `status` and append the history row; a
    concurrent ingest write of a reported status wins (the guarded UPDATE matches nothing)."""
    done = conn.execute(
        update(STATE)
        .where(
            STATE.c.station_id == state.station_id,
            STATE.c.history_status.is_not_distinct_from(state.history_status),
        )
        .values(history_status=status)
    ).rowcount
    if not done:
        return False
    conn.execute(
        insert(HISTORY).values(station_id=state.station_id, at=at, status=status, source="silence")
    )
    return True
