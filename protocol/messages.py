"""Versioned payload models of contract v1, one per topic kind.

Unknown fields are ignored so a newer v1 agent can add a field without the cloud dead-lettering
its messages; a different `v` is refused, because that is a breaking change by definition.

One module on purpose (~420 lines): every payload of the wire contract in one place, the
source docs/protocol.md and the AsyncAPI document are generated from.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from protocol.credential import Reason
from protocol.topics import SID_RE, Kind

SCHEMA_VERSION = 1
MAX_PAYLOAD_BYTES = 64 * 1024  # the largest legitimate payload (a config) is a few kB
# Largest integer in a payload: the cloud stores them as BIGINT (SQLite: 64-bit INTEGER), and a
# bigger one would fail its whole ingest batch (a cheap slow-down attack).
MAX_INT = 2**63 - 1
# Times must lie this far inside what Python can represent (years 1-9999, UTC), so that the
# local time in any zone (offsets < 1 day), an interval's end (+ up to 1 day) and a value read
# back by a PostgreSQL client in its session's time zone stay representable too. PostgreSQL's
# own timestamptz range (4713 BC - 294276 AD) is wider. Plausibility (a clock far ahead) is
# the cloud's business: cloud.ingest.sanity.
TIME_MARGIN = timedelta(days=2)
TIME_MIN = datetime.min.replace(tzinfo=UTC) + TIME_MARGIN
TIME_MAX = datetime.max.replace(tzinfo=UTC) - TIME_MARGIN

# --- text --------------------------------------------------------------------------------------
# Every str in a payload is one of two shared types, checked by pydantic-core's regex in Rust
# (no Python call per field): no Unicode control character (C0, DEL, C1) in names and ids, and
# only tab, LF and CR among them in free text. A NUL passes JSON and Python but not PostgreSQL
# (text cannot hold it), so it would fail the ingest batch it arrives in. A lone surrogate
# (JSON "\ud800") is not Unicode text at all: the constrained types refuse it too (pydantic
# converts the value to UTF-8 to match it). tests/protocol checks that no model has a bare str.
NAME_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"  # \t \n \r excepted
# What no stored text may hold (the controls TEXT_PATTERN refuses, lone surrogates); used on
# the error path to say which character it was, and by `printable`.
_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_NAME_BAD = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")

Name = Annotated[str, Field(pattern=NAME_PATTERN)]  # ids, names, versions, short codes
Text = Annotated[str, Field(pattern=TEXT_PATTERN)]  # free text: tab, LF and CR allowed


def printable(text: str) -> str:
    r"""`text` with every character a `Text` field refuses written as a Python escape (`\x00`,
    `\ud800`): for text from elsewhere (an exception, a database error) that must be stored or
    sent. Free when there is nothing to escape."""
    if _UNSTORABLE.search(text) is None:
        return text
    return _UNSTORABLE.sub(lambda m: ascii(m.group())[1:-1], text)


def utcnow() -> datetime:
    return datetime.now(UTC)


class PayloadError(ValueError):
    """A payload that does not match the contract; `reason` is short and stable for counters."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


Sid = Annotated[str, Field(pattern=SID_RE.pattern)]


class Payload(BaseModel):
    """Fields every payload carries: schema version and station clock (UTC)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    v: Literal[1] = Field(
        default=SCHEMA_VERSION, description="schema version; any other value is refused"
    )
    ts: AwareDatetime = Field(
        default_factory=utcnow,
        description="sender's clock, RFC 3339 with offset (UTC recommended); years 1-9999",
    )

    @field_validator("ts", "interval_start", "expires_at", check_fields=False)
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        if 1 < value.year < 9999:  # the hot path: in range in UTC too (offsets < 1 day)
            return value.astimezone(UTC)
        try:
            utc = value.astimezone(UTC)
        except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00: before year 1 in UTC
            utc = None
        if utc is None or not TIME_MIN <= utc <= TIME_MAX:
            raise PydanticCustomError(
                "time_range",
                "time {value} out of range ({low} to {high} UTC)",
                {"value": value.isoformat(), "low": TIME_MIN.date(), "high": TIME_MAX.date()},
            )
        return utc

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


class StationPayload(Payload):
    """Edge→cloud payloads name their station so ingest can refuse a sid/topic mismatch."""

    sid: Sid = Field(description="the station id, equal to the topic's {sid}")


# --- state and meta (retained) -------------------------------------------------------------

Status = Literal["online", "lost", "offline", "degraded"]


class StatePayload(StationPayload):
    status: Status = Field(
        description="online (birth), degraded (runs but cannot admit members), offline (clean "
        "stop), lost (the last will)"
    )
    sess: int = Field(ge=0, le=MAX_INT, description="session counter, +1 per connect, persisted")
    config_version: int | None = Field(
        default=None, ge=0, le=MAX_INT, description="desired-config version applied"
    )
    reason: Text | None = Field(default=None, max_length=200, description="why degraded")


class EffectiveSchedule(BaseModel):
    """The door schedule the station runs now (its config after the desired config), in
    OpenStreetMap `opening_hours` syntax: the cloud compares it with the registry's hours
    (`schedule_mismatch`)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    members: Text | None = Field(
        default=None, max_length=1000, description="hours a member code opens the door"
    )
    free: Text | None = Field(
        default=None, max_length=1000, description="hours the door is released for anyone"
    )
    timezone: Name = Field(max_length=64, description="IANA zone the hours are read in")


class MetaPayload(StationPayload):
    agent_version: Name = Field(max_length=40, description="the station software's version")
    capabilities: list[Name] = Field(
        default_factory=list, max_length=32, description="e.g. access, ws1, ws2, journal"
    )
    config_version: int | None = Field(
        default=None, ge=0, le=MAX_INT, description="desired-config version applied"
    )
    trust_version: int | None = Field(
        default=None, ge=0, le=MAX_INT, description="version of the trust list held"
    )
    revocation_version: int | None = Field(
        default=None, ge=0, le=MAX_INT, description="version of the revocation list held"
    )
    schedule: EffectiveSchedule | None = Field(
        default=None,
        description="the door schedule in force; absent: none configured (members admitted "
        "at any hour) or an agent that does not report it",
    )


# --- telemetry (heartbeat) -------------------------------------------------------------------

DoorState = Literal["closed", "open", "unknown"]
# The door mode by the station's own schedule (edge.access.schedule.DoorMode).
DoorMode = Literal["free", "members", "closed"]
LockState = Literal["locked", "unlocked", "fault", "unknown"]


class TelemetryPayload(StationPayload):
    uptime_s: float = Field(ge=0, description="seconds since the station software started")
    interval_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="heartbeat period, seconds: the station is online while its last "
        "heartbeat is at most 3 of these old",
    )
    config_version: int | None = Field(
        default=None, ge=0, le=MAX_INT, description="desired-config version applied"
    )
    journal_backlog: int = Field(
        default=0, ge=0, le=MAX_INT, description="journal items not yet acked by the cloud"
    )
    door: DoorState = Field(default="unknown", description="the door contact")
    lock: LockState = Field(default="unknown", description="the lock relay")
    door_mode: DoorMode | None = Field(
        default=None,
        description="the door mode now by the station's schedule: free (released for "
        "anyone), members (a member code opens it) or closed (staff only); a station whose "
        "door is closed is not open on the map, whatever its published hours say",
    )
    occupancy: int | None = Field(
        default=None, ge=0, le=MAX_INT, description="people inside now, by the counter"
    )
    trust_version: int | None = Field(
        default=None, ge=0, le=MAX_INT, description="version of the trust list held"
    )
    revocation_version: int | None = Field(
        default=None, ge=0, le=MAX_INT, description="version of the revocation list held"
    )
    revocation_age_s: float | None = Field(
        default=None, ge=0, description="seconds since the held revocation list was issued"
    )
    trust_age_s: float | None = Field(
        default=None, ge=0, description="seconds since the held trust list was issued"
    )
    clock_synced: bool | None = Field(
        default=None, description="False: the station distrusts its clock (clock_unsynced)"
    )
    camera_fps: float | None = Field(
        default=None, ge=0, description="camera frames read per second, last 60 s"
    )
    decode_ms_p50: float | None = Field(
        default=None, ge=0, description="QR decoder time per decoded frame, median, last 60 s"
    )
    decode_ms_p95: float | None = Field(
        default=None, ge=0, description="QR decoder time per decoded frame, 95th pct, last 60 s"
    )
    cpu_temp_c: float | None = Field(default=None, description="SoC temperature, °C")
    load1: float | None = Field(default=None, ge=0, description="1-minute load average")
    mem_used_pct: float | None = Field(default=None, ge=0, le=100, description="memory used, %")
    disk_used_pct: float | None = Field(
        default=None, ge=0, le=100, description="disk holding the journal, used %"
    )
    wifi_dbm: float | None = Field(
        default=None, description="Wi-Fi signal level, dBm (about −30 good … −90 unusable)"
    )
    sensors: dict[Name, float] = Field(
        default_factory=dict, max_length=64, description="e.g. fridge_c, ambient_c, energy_kwh"
    )


# --- events (journaled, QoS 1) -----------------------------------------------------------------


class EventBase(StationPayload):
    event_id: UUID = Field(description="UUIDv7, unique with the station")
    seq: int = Field(ge=1, le=MAX_INT, description="per-station journal sequence, never repeats")
    historical: bool = Field(default=False, description="replayed from the journal")


class AccessEvent(EventBase):
    type: Literal["access"] = Field(default="access", description="the event type")
    granted: bool = Field(description="whether the code was accepted")
    reason: Reason = Field(description="the decision's reason code (docs/credential.md)")
    credential: Literal["ws1", "ws2"] | None = Field(
        default=None, description="which credential form was shown (none: unparseable)"
    )
    kid: Name | None = Field(default=None, max_length=16, description="issuer key id")
    serial: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{24}$",
        description="the certificate serial, hex: the only member identifier ever sent",
    )


DoorAction = Literal["door_opened", "door_closed", "held_open", "forced_open", "unlocked"]


class DoorEvent(EventBase):
    type: Literal["door"] = Field(default="door", description="the event type")
    action: DoorAction = Field(
        description="door_opened/door_closed (contact), held_open (open too long), "
        "forced_open (opened without a release), unlocked (relay released)"
    )
    cause: Name | None = Field(default=None, max_length=40, description="grant, exit, remote")


class AlarmEvent(EventBase):
    type: Literal["alarm"] = Field(default="alarm", description="the event type")
    alarm: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$", description="e.g. camera_down")
    state: Literal["raised", "cleared"] = Field(description="the transition")
    detail: Text | None = Field(default=None, max_length=200, description="why, for people")


Event = Annotated[AccessEvent | DoorEvent | AlarmEvent, Field(discriminator="type")]


class FootfallPayload(StationPayload):
    seq: int = Field(
        ge=1, le=MAX_INT, description="per-station journal sequence, shared with events"
    )
    interval_start: AwareDatetime = Field(
        description="start of the counting interval; with the station, the upsert key"
    )
    seconds: int = Field(gt=0, le=86400, description="interval length, seconds")
    entries: int = Field(ge=0, le=MAX_INT, description="people who came in")
    exits: int = Field(ge=0, le=MAX_INT, description="people who went out")
    occupancy: int = Field(ge=0, le=MAX_INT, description="people inside at the interval's end")
    historical: bool = Field(default=False, description="replayed from the journal")


# --- cloud→edge ------------------------------------------------------------------------------


# Refused seqs one ack lists at most; the rest are only counted (`refused_more`). Keeps an ack
# small (~5 kB) when a broken agent version sends thousands of bad items in a row.
MAX_ACK_REFUSED = 100


class RefusedSeq(BaseModel):
    """One journal item an ack covers that the cloud did not store."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    seq: int = Field(ge=1, le=MAX_INT, description="the item's journal seq")
    reason: Name = Field(
        max_length=32,
        description="why: the dead letter's reason (schema, not_json, bad_text, …), or "
        "seq_gap for a seq the cloud never received and acked past after its bounded wait",
    )


class AckPayload(Payload):
    upto_seq: int = Field(ge=0, description="every journal item with seq <= this is committed")
    refused: list[RefusedSeq] | None = Field(
        default=None,
        max_length=MAX_ACK_REFUSED,
        description="items with seq <= upto_seq that were not stored (kept by the cloud as "
        "dead letters, or skipped as a seq gap), listed once, by the ack that first covers "
        "them; absent when none. Keep such a row for inspection instead of deleting it; "
        "never send it again",
    )
    refused_more: int | None = Field(
        default=None,
        ge=0,
        le=MAX_INT,
        description="how many more such items this ack covers than `refused` lists (it "
        "holds at most 100); absent when none",
    )


class CommandPayload(Payload):
    cmd_id: Name = Field(
        min_length=1, max_length=64, description="unique; a repeated id is never run twice"
    )
    expires_at: AwareDatetime = Field(description="after this the station refuses to run it")
    args: dict[str, Any] = Field(default_factory=dict, description="command arguments")


class CmdResultPayload(StationPayload):
    cmd_id: Name = Field(
        min_length=1, max_length=64, description='the command\'s id ("?" if unreadable)'
    )
    ok: bool = Field(description="whether the command ran")
    detail: Text | None = Field(default=None, max_length=200, description="result or why not")


class ConfigPayload(Payload):
    config_version: int = Field(
        ge=0, le=MAX_INT, description="applied only if newer than the one in force"
    )
    config: dict[str, Any] = Field(description="the override; see docs/protocol.md")


class CloudStatePayload(Payload):
    online: bool = Field(description="false: no ingest worker is up; keep journaling")


_EVENT = TypeAdapter(Event)

MODELS: dict[Kind, type[Payload]] = {
    Kind.STATE: StatePayload,
    Kind.META: MetaPayload,
    Kind.TELEMETRY: TelemetryPayload,
    Kind.FOOTFALL: FootfallPayload,
    Kind.ACK: AckPayload,
    Kind.CMD: CommandPayload,
    Kind.CMD_RESULT: CmdResultPayload,
    Kind.CONFIG: ConfigPayload,
}


def loads(raw: bytes | str) -> dict[str, Any]:
    """Parse a JSON object payload, refusing oversize, non-UTF-8 and non-object input."""
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise PayloadError("too_large", f"{len(raw)} bytes > {MAX_PAYLOAD_BYTES}")
    try:
        data = json.loads(raw)
    except UnicodeDecodeError as exc:
        raise PayloadError("not_utf8", str(exc)) from exc
    except ValueError as exc:
        raise PayloadError("not_json", str(exc)) from exc
    except RecursionError as exc:  # e.g. 30,000 nested brackets: fits in 64 KiB
        raise PayloadError("not_json", "nested too deeply") from exc
    if not isinstance(data, dict):
        raise PayloadError("not_object", f"expected a JSON object, got {type(data).__name__}")
    if data.get("v") != SCHEMA_VERSION:
        raise PayloadError("bad_version", f"v={data.get('v')!r}, expected {SCHEMA_VERSION}")
    return data


def decode(kind: Kind, raw: bytes | str) -> Payload:
    """Validate a payload for topic `kind`; raise PayloadError with a stable reason.

    Valid payloads take pydantic's one-pass JSON validation (ingest's hot path); anything it
    refuses is parsed again step by step to say precisely why.
    """
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise PayloadError("too_large", f"{len(raw)} bytes > {MAX_PAYLOAD_BYTES}")
    try:
        if kind is Kind.EVENTS:
            return _EVENT.validate_json(raw)
        return MODELS[kind].model_validate_json(raw)
    except ValidationError:
        pass
    data = loads(raw)
    try:
        if kind is Kind.EVENTS:
            return _EVENT.validate_python(data)
        return MODELS[kind].model_validate(data)
    except ValidationError as exc:
        raise _refusal(exc.errors()[0]) from exc


def _refusal(error: ErrorDetails) -> PayloadError:
    """The PayloadError for pydantic's first error: text and times out of range have reasons
    of their own (`bad_text`, `bad_time`), the rest is `schema`. The detail names the field and
    is itself printable (a key or a tag from the payload may hold what was refused)."""
    where = printable(".".join(str(p) for p in error["loc"])) or "payload"
    kind = error["type"]
    if kind == "string_unicode":
        return PayloadError("bad_text", f"{where}: not Unicode text (a lone surrogate)")
    pattern = error.get("ctx", {}).get("pattern")
    if kind == "string_pattern_mismatch" and pattern in (NAME_PATTERN, TEXT_PATTERN):
        found = (_NAME_BAD if pattern == NAME_PATTERN else _UNSTORABLE).search(str(error["input"]))
        char = f"U+{ord(found.group()):04X}" if found else "?"
        return PayloadError("bad_text", f"{where}: control character {char} not allowed")
    if kind == "time_range":
        return PayloadError("bad_time", f"{where}: {printable(error['msg'])}")
    return PayloadError("schema", f"{where}: {printable(error['msg'])}")
