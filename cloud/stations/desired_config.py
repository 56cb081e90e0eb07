"""A station's desired config: the override ops set, plus the sections the cloud owns.

The station applies `ws/v1/{sid}/config` (retained) on top of its own TOML, and only if its
`config_version` is newer than the one in force (edge.remote). The cloud keeps, per station,
the whole override document an admin set (so one change never wipes the others) and the
document it last published; every change of what would be published takes the next
`config_version`. The cloud always merges in what it owns:

- `holidays`: the calendar in force (cloud.stations.holidays), this year and the next, so the door
  decides `PH` from the map's dates while offline;
- `schedule.members`, `.timezone`, `.lat`, `.lon`: the registry's `opening_hours`, `tz` and
  coordinates (the door admits members exactly when the map says open). `schedule.free`
  stays the station's own unless the override sets it.

The station reports the version it applied in `meta`, `state` and telemetry (ingest keeps it
in `station_state.config_version`); the monitor's `config_mismatch` alarm judges the lag.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Connection,
    Engine,
    Table,
    insert,
    select,
    update,
)
from sqlmodel import Field, SQLModel

from cloud.clock import utcnow
from cloud.models import Station, StationState, table
from cloud.sql.types import UTCDateTime
from cloud.stations.holidays import current, station_config
from protocol import topics
from protocol.holidays import HolidayCalendar
from protocol.messages import ConfigPayload

# What an override may hold (the station's RemoteConfig checks the values): the cloud-owned
# keys below are refused, everything else is the edge's to validate.
OVERRIDE_KEYS = frozenset({"door", "schedule", "access", "telemetry_interval_s"})
OWNED_SCHEDULE_KEYS = ("members", "timezone", "lat", "lon")
Message = tuple[str, bytes, bool]


class DesiredConfig(SQLModel, table=True):
    """What the cloud wants one station to run; a row exists once it was set or pushed."""

    __tablename__ = "desired_config"

    station_id: str = Field(primary_key=True, foreign_key="station.id", max_length=40)
    config_version: int = Field(default=0, sa_type=BigInteger, description="of `document`")
    override: dict[str, Any] = Field(
        default_factory=dict, sa_type=JSON, description="what ops set; the whole document"
    )
    document: dict[str, Any] = Field(
        default_factory=dict, sa_type=JSON, description="override + cloud sections, as published"
    )
    set_by: str = Field(default="", max_length=64, description="who set the override")
    changed_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, description="when `config_version` was made"
    )
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


DESIRED = table(DesiredConfig)
STATION = table(Station)
STATE = table(StationState)
TABLES: list[Table] = [DESIRED]


class OverrideError(ValueError):
    """An override the cloud refuses; the message names the field."""


def check_override(override: dict[str, Any]) -> None:
    """Refuse keys the station does not know and the keys the cloud owns."""
    for key, value in override.items():
        if key == "holidays":
            raise OverrideError("holidays: owned by the cloud (waystation stations holidays load)")
        if key not in OVERRIDE_KEYS:
            raise OverrideError(f"{key}: not a remotely settable section")
        if key != "telemetry_interval_s" and not isinstance(value, dict):
            raise OverrideError(f"{key}: must be an object")
    for key in OWNED_SCHEDULE_KEYS:
        if key in (override.get("schedule") or {}):
            raise OverrideError(f"schedule.{key}: owned by the cloud (from the station registry)")


def document(
    override: dict[str, Any], station: Any, calendar: HolidayCalendar, today: date
) -> dict[str, Any]:
    """The config to publish: `override` with the cloud's sections merged in (they win)."""
    schedule = dict(override.get("schedule") or {})
    schedule |= {
        "members": station.opening_hours,
        "timezone": station.tz,
        "lat": station.lat,
        "lon": station.lon,
    }
    years = [today.year, today.year + 1]
    return override | {"schedule": schedule, "holidays": station_config(calendar, years)}


def _refresh(
    conn: Connection,
    station: Any,
    calendar: HolidayCalendar,
    now: datetime,
    *,
    override: dict[str, Any] | None = None,
    by: str | None = None,
) -> tuple[int, dict[str, Any], bool]:
    """Bring one station's row up to date: (version, document, changed). A changed document
    takes a version above both the stored one and the one the station reports applied (a
    station that ran a hand-published config keeps counting up from it)."""
    row = conn.execute(select(DESIRED).where(DESIRED.c.station_id == station.id)).first()
    kept = row.override if row is not None else {}
    new_override = kept if override is None else override
    doc = document(new_override, station, calendar, now.date())
    applied = conn.execute(
        select(STATE.c.config_version).where(STATE.c.station_id == station.id)
    ).scalar()
    # unchanged, unless the station runs a version above ours (hand-published): it would
    # ignore ours as older, so the same document goes out again under a higher version
    ahead = applied is not None and row is not None and applied > row.config_version
    if row is not None and row.document == doc and override is None and not ahead:
        return row.config_version, doc, False
    version = max(row.config_version if row is not None else 0, applied or 0) + 1
    values = {"config_version": version, "override": new_override, "document": doc,
              "changed_at": now}  # fmt: skip
    if by is not None:
        values["set_by"] = by[:64]
    if row is None:
        conn.execute(insert(DESIRED).values(station_id=station.id, **values))
    else:
        conn.execute(update(DESIRED).where(DESIRED.c.station_id == station.id).values(values))
    return version, doc, True


def message(sid: str, version: int, doc: dict[str, Any], now: datetime) -> Message:
    """The retained `config` message for one station."""
    payload = ConfigPayload(config_version=version, config=doc, ts=now)
    return topics.config(sid), payload.to_bytes(), True


def version_of(message: Message) -> int:
    """The `config_version` a message carries."""
    return int(json.loads(message[1])["config_version"])


def set_override(
    conn: Connection, sid: str, override: dict[str, Any], *, by: str, now: datetime
) -> Message | None:
    """Store `override` as the station's whole override (a new version); the message to
    publish, or None if there is no such station. Raises OverrideError."""
    check_override(override)
    station = conn.execute(select(STATION).where(STATION.c.id == sid)).first()
    if station is None:
        return None
    version, doc, _ = _refresh(conn, station, current(conn), now, override=override, by=by)
    return message(sid, version, doc, now)


def merged(override: dict[str, Any], sections: dict[str, Any]) -> dict[str, Any]:
    """`override` with `sections` laid over it key by key: `{"door": {"pulse_s": 3}}` sets
    one door timing and keeps the others; a None value removes that key (or the whole
    `telemetry_interval_s`); a section left empty is dropped."""
    out = {
        key: dict(value) if isinstance(value, dict) else value for key, value in override.items()
    }
    for key, value in sections.items():
        if isinstance(value, dict):
            section = dict(out.get(key) or {})
            for name, item in value.items():
                if item is None:
                    section.pop(name, None)
                else:
                    section[name] = item
            if section:
                out[key] = section
            else:
                out.pop(key, None)
        elif value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def select_stations(
    conn: Connection,
    *,
    city: str | None,
    operator: str | None,
    ids: list[str] | None,
    within: ColumnElement[bool] | None = None,
) -> list[str]:
    """The registered stations a fleet-wide change touches: every filter given must match;
    `within`: a condition on the station row (an account's scope, `cloud.auth.scope`)."""
    query = select(STATION.c.id).order_by(STATION.c.id)
    if within is not None:
        query = query.where(within)
    if city is not None:
        query = query.where(STATION.c.city == city)
    if operator is not None:
        query = query.where(STATION.c.operator == operator)
    if ids is not None:
        query = query.where(STATION.c.id.in_(ids))
    return list(conn.scalars(query))


def set_sections(
    conn: Connection, sids: list[str], sections: dict[str, Any], *, by: str, now: datetime
) -> list[Message]:
    """Lay `sections` over each station's override (`merged`), each a new version; the
    messages to publish. All or nothing: raises OverrideError naming the station."""
    check_override({k: v for k, v in sections.items() if v is not None})
    stored = dict(
        conn.execute(
            select(DESIRED.c.station_id, DESIRED.c.override).where(DESIRED.c.station_id.in_(sids))
        ).all()
    )
    out = []
    for sid in sids:
        override = merged(stored.get(sid) or {}, sections)
        try:
            found = set_override(conn, sid, override, by=by, now=now)
        except OverrideError as exc:
            raise OverrideError(f"{sid}: {exc}") from exc
        if found is not None:
            out.append(found)
    return out


def refresh(engine: Engine, sids: list[str] | None, now: datetime) -> tuple[list[Message], int]:
    """Bring the given stations (None: all) up to date with the registry and the calendar;
    (every station's message, how many changed). Every message is returned, changed or not:
    publishing a retained config again is harmless and repairs a broker that lost it."""
    query = select(STATION).order_by(STATION.c.id)
    if sids is not None:
        query = query.where(STATION.c.id.in_(sids))
    out: list[Message] = []
    changed = 0
    with engine.begin() as conn:
        calendar = current(conn)
        for station in conn.execute(query).all():
            version, doc, moved = _refresh(conn, station, calendar, now)
            changed += moved
            out.append(message(station.id, version, doc, now))
    return out, changed


def stale(engine: Engine, now: datetime) -> list[str]:
    """Stations whose config, as the registry and calendar make it now, differs from the one
    last stored for them, or that never had one: those a push would give a new
    `config_version` (e.g. after `stations import` changed their hours). Reads only."""
    with engine.connect() as conn:
        calendar = current(conn)
        rows = conn.execute(select(DESIRED.c.station_id, DESIRED.c.override, DESIRED.c.document))
        kept = {r.station_id: (r.override, r.document) for r in rows}
        out = []
        for station in conn.execute(select(STATION).order_by(STATION.c.id)):
            override, doc = kept.get(station.id, ({}, None))
            if document(override, station, calendar, now.date()) != doc:
                out.append(station.id)
    return out


def push(
    engine: Engine,
    publish: Callable[[list[Message]], None],
    sids: list[str] | None,
    now: datetime,
) -> tuple[int, int]:
    """Refresh and publish the given stations' configs (None: all); (published, changed).
    Raises cloud.mqttpub.PublishError when the broker did not take them (the new versions
    stay stored: the next push publishes them)."""
    messages, changed = refresh(engine, sids, now)
    if messages:
        publish(messages)
        mark_published(engine, [topics.parse(topic).sid for topic, _, _ in messages], now)
    return len(messages), changed


def mark_published(engine: Engine, sids: list[str], now: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(update(DESIRED).where(DESIRED.c.station_id.in_(sids)).values(published_at=now))


def view(conn: Connection, sid: str) -> dict[str, Any] | None:
    """The station's desired config and the version it reports applied; None if never set."""
    row = conn.execute(select(DESIRED).where(DESIRED.c.station_id == sid)).first()
    if row is None:
        return None
    applied = conn.execute(select(STATE.c.config_version).where(STATE.c.station_id == sid)).scalar()
    return dict(row._mapping) | {"applied_version": applied}
