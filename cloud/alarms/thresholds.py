"""Per-station overrides of the sensor alarm thresholds, and the one place that says which
threshold applies to a station and rule (`for_station`).

The station does not judge its sensors against limits; the cloud's monitor does
(`cloud.alarms.monitor`, rules in `cloud.alarms.rules`). So a station whose fridge holds
medicine at 4 °C gets a lower `fridge_warm` here, in the cloud, and nothing is pushed to it.
Only rules whose number comes from the station's heartbeat may be tuned (`TUNABLE`): the
cloud's own facts (offline time, refusals, config lag) and yes/no facts (lock fault) keep their
one meaning fleet-wide. A NULL field keeps the default; a rule with no row is the default.
Limits are checked against the effective pair: the clear threshold below the raise one
(hysteresis), both within what the sensor can report (`protocol.units`), durations 0–1 day.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Float, delete, insert, select
from sqlmodel import Field, SQLModel

from cloud.alarms.rules import THRESHOLDS, Threshold
from cloud.clock import utcnow
from cloud.models import table
from cloud.sql.types import UTCDateTime
from protocol.units import bounds_of

FIELDS = ("raise_above", "clear_below", "raise_after_s", "clear_after_s")
LIMITS = ("raise_above", "clear_below")
MAX_DURATION_S = 86_400.0
# Metrics read from the heartbeat, with their bounds: sensor units by suffix, list ages in
# hours (a list over 30 days old is as bad as any older one).
_AGE_BOUNDS = (0.0, 30 * 24.0)
_HEARTBEAT_METRICS = ("fridge_c", "disk_used_pct", "trust_age_h", "revocation_age_h")
TUNABLE: dict[str, Threshold] = {r.name: r for r in THRESHOLDS if r.metric in _HEARTBEAT_METRICS}


class AlarmThreshold(SQLModel, table=True):
    """One station's override of one rule; NULL fields keep the rule's default."""

    __tablename__ = "alarm_threshold"

    station_id: str = Field(primary_key=True, foreign_key="station.id", max_length=40)
    rule: str = Field(primary_key=True, max_length=40)
    raise_above: float | None = Field(default=None, sa_type=Float, description="metric's unit")
    clear_below: float | None = Field(default=None, sa_type=Float, description="metric's unit")
    raise_after_s: float | None = Field(default=None, sa_type=Float, description="seconds")
    clear_after_s: float | None = Field(default=None, sa_type=Float, description="seconds")
    set_by: str = Field(default="", max_length=64)
    changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


ROW = table(AlarmThreshold)
TABLES = [ROW]
Overrides = dict[tuple[str, str], dict[str, float | None]]


class ThresholdError(ValueError):
    """An override refused; `field` names it (`fridge_warm.clear_below`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def bounds(rule: Threshold) -> tuple[float, float]:
    """(low, high) a limit of `rule` may take, in its metric's unit."""
    return bounds_of(rule.metric) or _AGE_BOUNDS


def resolve(rule: Threshold, override: dict[str, float | None] | None) -> Threshold:
    """`rule` with the override's non-NULL fields laid over it."""
    if not override:
        return rule
    return replace(
        rule, **{k: float(v) for k, v in override.items() if k in FIELDS and v is not None}
    )


def for_station(overrides: Overrides, sid: str | None, rule: Threshold) -> Threshold:
    """The threshold the monitor judges `sid` by for `rule`: its override, else `rule`."""
    if sid is None or rule.name not in TUNABLE:
        return rule
    return resolve(rule, overrides.get((sid, rule.name)))


def load(conn: Connection) -> Overrides:
    """Every override, read once per monitor run (a few rows: the stations ops tuned)."""
    rows = conn.execute(select(ROW)).all()
    return {(r.station_id, r.rule): {k: getattr(r, k) for k in FIELDS} for r in rows}


def check(name: str, values: dict[str, float | None]) -> dict[str, float | None]:
    """The override of rule `name` as stored (all four fields, None: the default); raises
    ThresholdError naming the field."""
    rule = TUNABLE.get(name)
    if rule is None:
        known = ", ".join(sorted(TUNABLE))
        raise ThresholdError(name, f"not a station sensor threshold (one of {known})")
    clean: dict[str, float | None] = {}
    for key in FIELDS:
        value = values.get(key)
        clean[key] = None if value is None else float(value)
    for key in set(values) - set(FIELDS):
        raise ThresholdError(f"{name}.{key}", f"unknown field (one of {', '.join(FIELDS)})")
    low, high = bounds(rule)
    for key in LIMITS:
        value = clean[key]
        if value is not None and not low <= value <= high:
            raise ThresholdError(f"{name}.{key}", f"must be between {low:g} and {high:g}")
    for key in ("raise_after_s", "clear_after_s"):
        value = clean[key]
        if value is not None and not 0 <= value <= MAX_DURATION_S:
            raise ThresholdError(f"{name}.{key}", f"must be between 0 and {MAX_DURATION_S:g} s")
    effective = resolve(rule, clean)
    if effective.clear_below >= effective.raise_above:
        field = "clear_below" if clean["clear_below"] is not None else "raise_above"
        raise ThresholdError(
            f"{name}.{field}",
            f"clear_below ({effective.clear_below:g}) must be below raise_above "
            f"({effective.raise_above:g}): the gap keeps a reading at the limit from flapping",
        )
    return clean


def station_overrides(conn: Connection, sid: str) -> dict[str, dict[str, Any]]:
    """The station's overrides by rule, with who set them and when."""
    rows = conn.execute(select(ROW).where(ROW.c.station_id == sid).order_by(ROW.c.rule)).all()
    return {r.rule: {k: getattr(r, k) for k in (*FIELDS, "set_by", "changed_at")} for r in rows}


def defaults() -> list[dict[str, Any]]:
    """Every tunable rule with its metric, the bounds of its limits and its default."""
    return [
        {"rule": name, "metric": rule.metric, "low": bounds(rule)[0], "high": bounds(rule)[1],
         "default": {k: getattr(rule, k) for k in FIELDS}}
        for name, rule in TUNABLE.items()
    ]  # fmt: skip


def view(conn: Connection, sid: str) -> list[dict[str, Any]]:
    """Every tunable rule for the station: its default, the override (None) and the
    effective threshold the monitor uses."""
    mine = station_overrides(conn, sid)
    out = []
    for name, rule in TUNABLE.items():
        override = mine.get(name)
        effective = resolve(rule, override)
        low, high = bounds(rule)
        out.append({
            "rule": name, "metric": rule.metric, "low": low, "high": high,
            "default": {k: getattr(rule, k) for k in FIELDS},
            "override": None if override is None else {k: override[k] for k in FIELDS},
            "effective": {k: getattr(effective, k) for k in FIELDS},
            "set_by": None if override is None else override["set_by"],
            "changed_at": None if override is None else override["changed_at"],
        })  # fmt: skip
    return out


def put(
    conn: Connection,
    sids: list[str],
    rules: dict[str, dict[str, float | None] | None],
    *,
    by: str,
    now: datetime,
    whole: bool,
) -> None:
    """Store the overrides `rules` (a None value: back to the default) for each station;
    `whole`: the named rules are the station's whole set (the others go back to default).
    Checks everything before writing anything (ThresholdError)."""
    checked = {name: None if v is None else check(name, v) for name, v in rules.items()}
    if not sids:
        return
    gone = ROW.c.station_id.in_(sids)
    if not whole:
        gone = gone & ROW.c.rule.in_(list(checked))
    conn.execute(delete(ROW).where(gone))
    rows = [
        {"station_id": sid, "rule": name, **values, "set_by": by[:64], "changed_at": now}
        for sid in sids
        for name, values in checked.items()
        if values is not None and any(v is not None for v in values.values())
    ]
    if rows:
        conn.execute(insert(ROW), rows)


def remove(conn: Connection, sid: str, rule: str | None) -> int:
    """Drop the station's override of `rule` (None: all of them); how many went."""
    query = delete(ROW).where(ROW.c.station_id == sid)
    if rule is not None:
        query = query.where(ROW.c.rule == rule)
    return conn.execute(query).rowcount
