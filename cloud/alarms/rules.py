"""The alarm rules and their state machine, as pure data and pure functions (no I/O).

Cloud rules (`Threshold`) judge one number per station — a sensor, an age, seconds offline —
with a raise threshold, a lower clear threshold (hysteresis, so a reading hovering at the
limit does not flap), and durations on both sides (the fridge must be warm for 15 minutes
before anyone is woken up, and cool for 5 before the alarm goes away). Edge rules
(`EdgeRule`) follow the station's own alarm and door events; the edge already debounced them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from cloud.alarms.models import CLEARED, PENDING, RAISED
from cloud.stations.sight import BLIND_RULE
from protocol.trust import LIST_MAX_AGE_H


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    severity: Severity
    description: str
    blocks_open: bool = False  # while raised, the station is not "open now"


@dataclass(frozen=True, slots=True)
class Threshold(Rule):
    """Raised when `metric` > `raise_above` for `raise_after_s`; cleared when it is below
    `clear_below` for `clear_after_s`. A missing reading changes nothing either way."""

    metric: str = ""
    raise_above: float = 0.0
    clear_below: float = 0.0
    raise_after_s: float = 0.0
    clear_after_s: float = 0.0


@dataclass(frozen=True, slots=True)
class EdgeRule(Rule):
    """An alarm the station raises and clears itself; `momentary` ones (an incident such as
    tailgating) have no clear event and are recorded as raised-and-cleared at once, waiting
    only for acknowledgement."""

    momentary: bool = False


HOUR = 3600.0
THRESHOLDS: tuple[Threshold, ...] = (
    Threshold(
        "station_offline",
        Severity.CRITICAL,
        "no connection to the station for over 10 minutes",
        metric="offline_s",
        raise_above=600,
        clear_below=1,
    ),
    Threshold(
        "fridge_warm",
        Severity.WARNING,
        "fridge (冷鲜柜) above 8 °C for 15 minutes",
        metric="fridge_c",
        raise_above=8.0,
        clear_below=7.0,
        raise_after_s=900,
        clear_after_s=300,
    ),
    Threshold(
        "disk_full",
        Severity.WARNING,
        "station disk above 90 % for 5 minutes (the journal needs room while offline)",
        metric="disk_used_pct",
        raise_above=90.0,
        clear_below=85.0,
        raise_after_s=300,
    ),
    Threshold(
        "trust_list_old",
        Severity.WARNING,
        "the station's trust list is over 24 h old: it misses new issuer keys",
        metric="trust_age_h",
        raise_above=LIST_MAX_AGE_H,
        clear_below=LIST_MAX_AGE_H,
    ),
    Threshold(
        "revocation_list_old",
        Severity.WARNING,
        "the station's revocation list is over 24 h old: revoked members may still enter",
        metric="revocation_age_h",
        raise_above=LIST_MAX_AGE_H,
        clear_below=LIST_MAX_AGE_H,
    ),
    # Refusals are never silent (cloud.ingest.refusals, cloud.ingest.acks): judged from the
    # cloud's own records, live station or not; the quiet period is a setting
    # (`refusal_quiet_s`), so the metric is 1 while the newest refusal is within it.
    Threshold(
        "payload_refused",
        Severity.WARNING,
        "ingest refused a payload of the station (kept as a dead letter; the ack told it)",
        metric="refused_recent",
        raise_above=0.5,
        clear_below=0.5,
    ),
    Threshold(
        "seq_gap",
        Severity.WARNING,
        "journal seqs the station never sent were acked past after the bounded wait",
        metric="gap_recent",
        raise_above=0.5,
        clear_below=0.5,
    ),
    # The desired config (cloud.stations.desired_config) the station has not applied within the
    # bound (`config_lag_s`, a setting): the metric is 1 once the lag outlasts it, 0 when caught up.
    Threshold(
        "config_mismatch",
        Severity.WARNING,
        "the station has not applied its desired config (config_version lags) within the bound",
        metric="config_lagging",
        raise_above=0.5,
        clear_below=0.5,
    ),
    # The door schedule the station reports in force (`meta.schedule`) against the
    # registry's published hours and zone: 1 while they differ (and no push of the desired
    # config is on its way), 0 when they agree; None when the station reports no schedule.
    Threshold(
        "schedule_mismatch",
        Severity.WARNING,
        "the station's door runs other hours than the map publishes (push its config)",
        metric="schedule_differs",
        raise_above=0.5,
        clear_below=0.5,
    ),
    Threshold(
        "lock_fault",
        Severity.CRITICAL,
        "the lock relay reports a fault",
        blocks_open=True,
        metric="lock_fault",
        raise_above=0.5,
        clear_below=0.5,
    ),
)

# About the cloud itself (station_id NULL), judged by the monitor from `cloud.stations.sight`:
# metric `blind_s`, seconds since the cloud last saw its stations (0 while it sees).
CLOUD_BLIND = Threshold(
    BLIND_RULE,
    Severity.CRITICAL,
    "the cloud cannot see its stations (no ingest worker connected, or fleet-wide silence): "
    "the map shows them open by their hours and no station_offline is raised meanwhile",
    metric="blind_s",
    raise_above=0.0,
    clear_below=0.5,
)

EDGE_RULES: tuple[EdgeRule, ...] = (
    EdgeRule("camera_down", Severity.CRITICAL, "no usable camera frame", blocks_open=True),
    EdgeRule(
        "no_trust_anchor",
        Severity.CRITICAL,
        "the station has no trust anchor: every member is refused",
        blocks_open=True,
    ),
    EdgeRule("door_held_open", Severity.WARNING, "the door has been held open"),
    EdgeRule("forced_open", Severity.CRITICAL, "the door opened without an unlock"),
    EdgeRule("clock_unsynced", Severity.WARNING, "the station clock is not synchronised"),
    EdgeRule("config_rejected", Severity.WARNING, "the station refused a remote config"),
    EdgeRule("counter_degraded", Severity.WARNING, "the people counter cannot trust its input"),
    EdgeRule("counter_mismatch", Severity.WARNING, "camera and beam counts disagree by > 30 %"),
    EdgeRule(
        "tailgating", Severity.WARNING, "more people entered than were let in", momentary=True
    ),
)
# Raised and cleared by workers' reports and what disproves them (`cloud.feedback.locked`):
# source `report`. It does not itself block opening: the flag on the live-state row does.
REPORTED_LOCKED = Rule(
    "reported_locked",
    Severity.WARNING,
    "a worker reported the door locked, closed or broken: the map shows the station closed "
    "until an operator resolves the report or the door admits a member",
)
# Door event action → (rule, raises?) ; `door_closed` clears both door alarms.
DOOR_ACTIONS: dict[str, tuple[tuple[str, bool], ...]] = {
    "held_open": (("door_held_open", True),),
    "forced_open": (("forced_open", True),),
    "door_closed": (("door_held_open", False), ("forced_open", False)),
}

RULES: dict[str, Rule] = {
    r.name: r for r in (*THRESHOLDS, CLOUD_BLIND, *EDGE_RULES, REPORTED_LOCKED)
}


def edge_rule(alarm: str) -> EdgeRule:
    """The rule an edge alarm name feeds; an alarm a newer agent invented is kept as a
    warning rather than dropped."""
    rule = RULES.get(alarm)
    if isinstance(rule, EdgeRule):
        return rule
    return EdgeRule(alarm, Severity.WARNING, "reported by the station")


# --- facts: the numbers cloud rules read ----------------------------------------------------

# Metrics from the cloud's own records, not the heartbeat: judged for a silent station too.
CLOUD_METRICS = frozenset({"offline_s", "refused_recent", "gap_recent"})


def recent(at: datetime | None, now: datetime, quiet_s: float) -> float | None:
    """1.0 if `at` lies within the last `quiet_s` seconds, 0.0 if before, None if never."""
    if at is None:
        return None
    return 1.0 if (now - at).total_seconds() < quiet_s else 0.0


def lagging(
    applied: int | None, desired: int | None, since: datetime | None, now: datetime, bound_s: float
) -> float | None:
    """1.0 if the station's applied config version has lagged the desired one (made at
    `since`) for over `bound_s` seconds, 0.0 if caught up or still within the bound, None if
    there is no desired config."""
    if desired is None or since is None:
        return None
    if applied is not None and applied >= desired:
        return 0.0
    return 1.0 if (now - since).total_seconds() > bound_s else 0.0


def schedule_differs(
    meta: dict[str, Any] | None, hours: str | None, tz: str | None, *, desired: bool, pushing: bool
) -> float | None:
    """1.0 if the members hours or zone the station reports (`meta.schedule`) differ from the
    registry's `hours` and `tz`, 0.0 if they agree or a desired config is on its way
    (`pushing`: its version ahead of the applied one, within the lag bound); None if the
    station reports no schedule (none configured, or an agent that does not say) or the cloud
    never sent it one (`desired` False: its local config rules, and `stations import` names
    the stations to push)."""
    reported = (meta or {}).get("schedule")
    if not isinstance(reported, dict) or not desired:
        return None
    if pushing:
        return 0.0
    same = reported.get("members") == hours and reported.get("timezone") == tz
    return 0.0 if same else 1.0


def facts(
    telemetry: dict[str, Any] | None,
    *,
    lock: str | None,
    offline_s: float,
    heartbeat_age_s: float,
    refused_recent: float | None = None,
    gap_recent: float | None = None,
    config_lagging: float | None = None,
    schedule_differs: float | None = None,
) -> dict[str, float | None]:
    """The readings of one station's newest heartbeat, with list ages brought up to now, and
    the cloud's own facts about it (`recent` refusals and seq gaps)."""
    t = telemetry or {}
    sensors = t.get("sensors") or {}

    def number(value: object) -> float | None:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if ok else None  # type: ignore[arg-type]

    def age_h(key: str) -> float | None:
        age = number(t.get(key))
        return None if age is None else (age + max(0.0, heartbeat_age_s)) / HOUR

    return {
        "offline_s": offline_s,
        "fridge_c": number(sensors.get("fridge_c")),
        "disk_used_pct": number(t.get("disk_used_pct")),
        "trust_age_h": age_h("trust_age_s"),
        "revocation_age_h": age_h("revocation_age_s"),
        "lock_fault": None if lock is None else float(lock == "fault"),
        "refused_recent": refused_recent,
        "gap_recent": gap_recent,
        "config_lagging": config_lagging,
        "schedule_differs": schedule_differs,
    }


# Heartbeat age a live station may reach before it turns stale (3 × 30 s), added to list ages
# when judging attention at ingest so the monitor never misses an age crossing meanwhile.
ATTENTION_MARGIN_S = 90.0


def attention(telemetry: dict[str, Any] | None, lock: str | None) -> bool:
    """Whether a heartbeat has any reading at or past a rule's clear threshold: only such
    stations (and those with open alarms, or not plainly online) need the monitor's eye, so
    a healthy fleet of 200,000 costs it one indexed query, not 200,000 judgements."""
    f = facts(telemetry, lock=lock, offline_s=0.0, heartbeat_age_s=ATTENTION_MARGIN_S)
    return any(
        (value := f[rule.metric]) is not None and value >= min(rule.clear_below, rule.raise_above)
        for rule in THRESHOLDS
        if rule.metric not in CLOUD_METRICS
    )


# --- the state machine -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Open:
    """The not-yet-cleared row of a (station, rule), as the state machine needs it."""

    id: int
    state: str  # pending or raised
    since: datetime
    clearing_since: datetime | None


@dataclass(frozen=True, slots=True)
class Step:
    """What to do to the row: `insert` (a new pending or raised row), `update` (set `values`),
    `delete` (a pending row whose condition broke before its duration ran out)."""

    action: str
    values: dict[str, Any]


def step(rule: Threshold, row: Open | None, value: float | None, now: datetime) -> Step | None:
    """The next move for one station and rule, or None when nothing changes."""
    if value is None:
        return None
    above = value > rule.raise_above
    if row is None:
        if not above:
            return None
        if rule.raise_after_s <= 0:
            return Step("insert", {"state": RAISED, "since": now, "raised_at": now, "value": value})
        return Step("insert", {"state": PENDING, "since": now, "value": value})
    if row.state == PENDING:
        if not above:
            return Step("delete", {})
        if now - row.since >= timedelta(seconds=rule.raise_after_s):
            return Step("update", {"state": RAISED, "raised_at": now, "value": value})
        return None
    # raised
    if value >= rule.clear_below:
        if row.clearing_since is not None:
            return Step("update", {"clearing_since": None, "value": value})
        return None
    clearing_since = row.clearing_since or now
    if now - clearing_since >= timedelta(seconds=rule.clear_after_s):
        return Step("update", {"state": CLEARED, "cleared_at": now, "value": value})
    if row.clearing_since is None:
        return Step("update", {"clearing_since": now, "value": value})
    return None
