"""Database tables of the cloud (the public shape of a station is `cloud.stations.public`).

All timestamps are aware UTC (`UTCDateTime`); `received_at` is the cloud's clock, `ts` the
station's. Coordinates are WGS-84 degrees.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import JSON, BigInteger, Index, Integer, LargeBinary, Table, UniqueConstraint
from sqlmodel import Field, SQLModel

from cloud.clock import utcnow
from cloud.sql.types import UTCDateTime

# BIGINT everywhere a counter can outgrow 2^31, but SQLite only auto-increments a column
# declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")
DEFAULT_TZ = "Asia/Shanghai"


# --- stations ------------------------------------------------------------------------------


class StationBase(SQLModel):
    """Registry fields shared by the table and the public view."""

    name: str = Field(max_length=120)
    lat: float = Field(ge=-90, le=90, description="WGS-84 latitude, degrees")
    lon: float = Field(ge=-180, le=180, description="WGS-84 longitude, degrees")
    amenities: list[str] = Field(default_factory=list, sa_type=JSON)
    opening_hours: str = Field(default="24/7", max_length=255, description="OSM syntax")
    operator: str = Field(default="", max_length=120)
    address: str = Field(default="", max_length=255)
    city: str = Field(default="", max_length=60)
    tz: str = Field(default=DEFAULT_TZ, max_length=64, description="IANA zone of the hours")
    capacity: int | None = Field(default=None, ge=0, description="people it can seat")


class Station(StationBase, table=True):
    """A registered station; `maintenance` takes it off the open map without deleting it,
    `retired_at` off every map and list (its rows and history stay)."""

    __tablename__ = "station"
    # The nearby search filters on a lat/lon box first; this index serves that range scan.
    # Scoped ops accounts (cloud.auth.scope) select by operator and/or city. The registry
    # version check (cloud.stations.index, every 2 s in every API worker) reads the newest
    # `updated_at`: from this index, not by scanning the registry.
    __table_args__ = (
        Index("ix_station_lat_lon", "lat", "lon"),
        Index("ix_station_operator", "operator"),
        Index("ix_station_city", "city"),
        Index("ix_station_updated_at", "updated_at"),
    )

    id: str = Field(primary_key=True, max_length=40)
    maintenance: bool = False
    # Shown on the station's detail page only (not in the nearby index: no memory per station).
    entrance_hint: str = Field(default="", max_length=200, description="how to find the door")
    contact_phone: str = Field(default="", max_length=32, description="protocol.registry.PHONE_RE")
    retired_at: datetime | None = Field(
        default=None,
        sa_type=UTCDateTime,
        description="retired (cloud.stations.edit): off the map and the fleet lists, rows kept",
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- live state ------------------------------------------------------------------------------


class StationState(SQLModel, table=True):
    """What the station last told us; `cloud.stations.liveness` turns it into an effective status.

    `last_seen`, `last_heartbeat` and `status_at` are cloud receive times, so a station with
    a wrong clock is still judged correctly.
    """

    __tablename__ = "station_state"
    # The seq-gap sweep (cloud.ingest.gaps) reads only the stations waiting on a gap.
    __table_args__ = (Index("ix_station_state_gap_since", "gap_since"),)

    station_id: str = Field(primary_key=True, foreign_key="station.id", max_length=40)
    status: str = Field(default="unknown", max_length=16, description="as last reported")
    sess: int | None = Field(default=None, sa_type=BigInteger, description="of that report")
    status_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reason: str | None = Field(default=None, description="why degraded")
    last_seen: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_heartbeat: datetime | None = Field(default=None, sa_type=UTCDateTime)
    heartbeat_interval_s: float | None = None
    door: str | None = Field(default=None, max_length=16)
    lock: str | None = Field(default=None, max_length=16)
    door_mode: str | None = Field(
        default=None, max_length=16, description="free/members/closed by its schedule, reported"
    )
    occupancy: int | None = None
    config_version: int | None = Field(default=None, sa_type=BigInteger)
    meta: dict[str, Any] | None = Field(default=None, sa_type=JSON, description="last meta")
    acked_seq: int = Field(
        default=0, sa_type=BigInteger, description="every journal seq <= this is committed"
    )
    telemetry: dict[str, Any] | None = Field(
        default=None, sa_type=JSON, description="the newest heartbeat, what alarm rules read"
    )
    alarm_level: str = Field(
        default="none", max_length=16, description="none, warning or blocking (cloud.alarms)"
    )
    attention: bool = Field(
        default=False, description="the newest heartbeat has a reading near an alarm threshold"
    )
    history_status: str | None = Field(
        default=None, max_length=16, description="the status the newest history row records"
    )
    health: str | None = Field(
        default=None, max_length=16, description="ok, degraded or down as the monitor last judged"
    )
    # Refusals are never silent (cloud.ingest.refusals, cloud.ingest.gaps): counted here,
    # judged by the `payload_refused` and `seq_gap` alarm rules.
    refused: int = Field(
        default=0, sa_type=BigInteger, description="messages of this station ingest refused"
    )
    refused_at: datetime | None = Field(
        default=None, sa_type=UTCDateTime, description="the newest refusal (cloud clock)"
    )
    refused_reason: str | None = Field(
        default=None, max_length=200, description="the newest refusal's reason and detail"
    )
    skipped: int = Field(
        default=0, sa_type=BigInteger, description="journal seqs acked past as a seq gap"
    )
    gap_at: datetime | None = Field(
        default=None, sa_type=UTCDateTime, description="the newest seq gap acked past"
    )
    gap_since: datetime | None = Field(
        default=None,
        sa_type=UTCDateTime,
        description="a seq gap may hold the ack since then; the sweep judges it (a hint)",
    )
    # Workers' reports (cloud.feedback.locked): the newest standing report of a locked door,
    # read with the liveness columns so the nearby search needs no other query.
    reported_locked_at: datetime | None = Field(
        default=None,
        sa_type=UTCDateTime,
        description="a worker reported the door locked (cloud clock); None: no standing report",
    )


class StatusChange(SQLModel, table=True):
    """One change of a station's effective status: what uptime reports are computed from.

    Reported changes (births, LWTs, clean stops) are written by ingest as they are applied;
    the ones silence causes (online → stale, and back when heartbeats resume) by the monitor.
    """

    __tablename__ = "station_status_history"
    __table_args__ = (
        Index("ix_status_history_station_at", "station_id", "at"),
        Index("ix_status_history_at", "at"),  # retention deletes by age alone
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    station_id: str = Field(foreign_key="station.id", max_length=40)
    at: datetime = Field(sa_type=UTCDateTime, description="when the change happened (cloud)")
    status: str = Field(max_length=16)
    sess: int | None = Field(default=None, sa_type=BigInteger)
    reason: str | None = Field(default=None, max_length=200)
    source: str = Field(max_length=16, description="report (a state message) or silence")


# --- journaled items -------------------------------------------------------------------------


class Event(SQLModel, table=True):
    """Access decisions, door events and alarms; one row per (station, event_id)."""

    __tablename__ = "event"
    __table_args__ = (
        UniqueConstraint("station_id", "event_id", name="uq_event_station_event_id"),
        Index("ix_event_station_seq", "station_id", "seq"),
        Index("ix_event_station_ts", "station_id", "ts"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    station_id: str = Field(foreign_key="station.id", max_length=40)
    event_id: UUID
    seq: int = Field(sa_type=BigInteger)
    type: str = Field(max_length=16, description="access, door or alarm")
    ts: datetime = Field(sa_type=UTCDateTime)
    received_at: datetime = Field(sa_type=UTCDateTime)
    historical: bool = False
    # access
    granted: bool | None = None
    reason: str | None = Field(default=None, max_length=32)
    credential: str | None = Field(default=None, max_length=8)
    kid: str | None = Field(default=None, max_length=16)
    serial: str | None = Field(default=None, max_length=24)
    # door
    action: str | None = Field(default=None, max_length=32)
    cause: str | None = Field(default=None, max_length=40)
    # alarm
    alarm: str | None = Field(default=None, max_length=40)
    alarm_state: str | None = Field(default=None, max_length=16)
    detail: str | None = None


class FootfallInterval(SQLModel, table=True):
    """People counts per interval; upserted on (station, interval_start), newest seq wins."""

    __tablename__ = "footfall_interval"
    __table_args__ = (
        UniqueConstraint("station_id", "interval_start", name="uq_footfall_station_start"),
        # roll-ups and retention scan a time range across all stations
        Index("ix_footfall_interval_start", "interval_start"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    station_id: str = Field(foreign_key="station.id", max_length=40)
    interval_start: datetime = Field(sa_type=UTCDateTime)
    seconds: int
    entries: int
    exits: int
    occupancy: int
    seq: int = Field(sa_type=BigInteger)
    historical: bool = False
    received_at: datetime = Field(sa_type=UTCDateTime)


class ReceivedSeq(SQLModel, table=True):
    """Every journal seq the cloud has committed for a station, whatever became of the item.

    Acks are computed from this one table: events, footfall intervals (which an upsert may
    overwrite with a newer seq) and kept dead letters all land here, so a seq is never missed
    and a gap is a real gap.
    """

    __tablename__ = "received_seq"

    station_id: str = Field(primary_key=True, max_length=40)
    seq: int = Field(primary_key=True, sa_type=BigInteger)
    kind: str = Field(max_length=16, description="events, footfall or dead_letter")
    received_at: datetime = Field(sa_type=UTCDateTime)


# --- telemetry and refused input ---------------------------------------------------------------


class Telemetry(SQLModel, table=True):
    """Heartbeats with the metrics ops chart; the whole payload is kept in `payload`."""

    __tablename__ = "telemetry"
    __table_args__ = (
        Index("ix_telemetry_station_received", "station_id", "received_at"),
        Index("ix_telemetry_received", "received_at"),  # retention deletes by age alone
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    station_id: str = Field(foreign_key="station.id", max_length=40)
    ts: datetime = Field(sa_type=UTCDateTime)
    received_at: datetime = Field(sa_type=UTCDateTime)
    uptime_s: float
    interval_s: float
    door: str = Field(max_length=16)
    lock: str = Field(max_length=16)
    occupancy: int | None = None
    config_version: int | None = Field(default=None, sa_type=BigInteger)
    journal_backlog: int = 0
    cpu_temp_c: float | None = None
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class DeadLetter(SQLModel, table=True):
    """A message ingest refused, kept byte for byte so it can be inspected and replayed.

    `reason` is a short stable code: `not_json`, `schema`, `bad_version`, `sid_mismatch`,
    `unknown_station`, `bad_topic`, `too_large`, `bad_text` (a control character or a lone
    surrogate), `bad_time` (out of range), `implausible`, `clock_ahead`, `store_failed` (the
    database refused the row; its message is the detail), `internal` (a bug; the station and
    `seq` are kept so acks move on), …; `station_id` is the topic's station when
    the topic names one, even an unregistered one, so it is not a foreign key.
    """

    __tablename__ = "dead_letter"
    __table_args__ = (
        Index("ix_dead_letter_station_seq", "station_id", "seq"),
        Index("ix_dead_letter_received", "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    received_at: datetime = Field(sa_type=UTCDateTime)
    topic: str
    payload: bytes = Field(sa_type=LargeBinary)
    reason: str = Field(max_length=32)
    detail: str = ""
    station_id: str | None = Field(default=None, max_length=40)
    seq: int | None = Field(default=None, sa_type=BigInteger)


# --- footfall roll-ups (cloud.jobs.rollup) ----------------------------------------------------


class FootfallHour(SQLModel, table=True):
    """Footfall summed per station and UTC hour; what charts read once raw intervals expire.

    200,000 stations × 8,760 hours is 1.75 billion rows a year at worst, so charts over
    months read `footfall_day` (73 million rows a year) and only recent ranges read hours.
    """

    __tablename__ = "footfall_hour"
    __table_args__ = (Index("ix_footfall_hour_start", "bucket_start"),)

    station_id: str = Field(primary_key=True, foreign_key="station.id", max_length=40)
    bucket_start: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    entries: int = Field(default=0, sa_type=BigInteger)
    exits: int = Field(default=0, sa_type=BigInteger)
    max_occupancy: int = 0
    seconds: int = Field(default=0, description="seconds of counting the intervals cover")


class FootfallDay(SQLModel, table=True):
    """Footfall summed per station and UTC day, rolled up from `footfall_hour`."""

    __tablename__ = "footfall_day"
    __table_args__ = (Index("ix_footfall_day_start", "bucket_start"),)

    station_id: str = Field(primary_key=True, foreign_key="station.id", max_length=40)
    bucket_start: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    entries: int = Field(default=0, sa_type=BigInteger)
    exits: int = Field(default=0, sa_type=BigInteger)
    max_occupancy: int = 0
    seconds: int = 0


# --- the cloud's own sight --------------------------------------------------------------------


class IngestPresence(SQLModel, table=True):
    """Each ingest worker's connection to the broker, recorded by its process's monitor every
    run; `cloud.stations.sight` reads it to tell the cloud's blindness from stations' silence."""

    __tablename__ = "ingest_presence"

    worker: str = Field(primary_key=True, max_length=80, description="the MQTT client id")
    connected: bool = Field(description="connected and subscribed at `seen_at`")
    since: datetime = Field(sa_type=UTCDateTime, description="`connected` last changed")
    seen_at: datetime = Field(sa_type=UTCDateTime, description="the newest record")


def table(model: type[SQLModel]) -> Table:
    """The Core table of a table model, for bulk statements."""
    return model.__table__  # type: ignore[attr-defined, no-any-return]


TABLES = [
    table(m)
    for m in (
        Station,
        StationState,
        StatusChange,
        Event,
        FootfallInterval,
        ReceivedSeq,
        Telemetry,
        DeadLetter,
        FootfallHour,
        FootfallDay,
        IngestPresence,
    )
]
