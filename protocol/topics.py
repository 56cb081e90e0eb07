"""MQTT topic names of contract v1 (DESIGN.md), built and parsed in one place.

Every other package asks this module for a topic instead of formatting strings, so a typo
cannot split the edge and the cloud onto different topics.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

PREFIX = "ws/v1"
SID_RE = re.compile(r"^[a-z0-9-]{3,40}$")

TRUST_KEYS = f"{PREFIX}/trust/keys"
TRUST_REVOCATIONS = f"{PREFIX}/trust/revocations"
CLOUD_STATE = f"{PREFIX}/_cloud/state"

# Names that may never be station ids because they are global topic segments.
RESERVED_SIDS = frozenset({"trust", "_cloud", "cloud"})  # "cloud" is the cloud account
COMMANDS = frozenset({"unlock", "rebirth", "sync", "reboot"})


class TopicError(ValueError):
    """A topic or station id that is not part of contract v1."""


class Kind(StrEnum):
    """What a per-station topic carries."""

    STATE = "state"
    META = "meta"
    TELEMETRY = "telemetry"
    EVENTS = "events"
    FOOTFALL = "footfall"
    ACK = "ack"
    CMD = "cmd"
    CMD_RESULT = "cmd_result"
    CONFIG = "config"


# Direction of each kind, used by parse() callers to refuse a message that came the wrong way.
EDGE_TO_CLOUD = frozenset(
    {Kind.STATE, Kind.META, Kind.TELEMETRY, Kind.EVENTS, Kind.FOOTFALL, Kind.CMD_RESULT}
)
CLOUD_TO_EDGE = frozenset({Kind.ACK, Kind.CMD, Kind.CONFIG})


def check_sid(sid: str) -> str:
    """Return `sid` if it is a valid station id (also its MQTT username and client id)."""
    if not isinstance(sid, str) or not SID_RE.fullmatch(sid) or sid in RESERVED_SIDS:
        raise TopicError(f"invalid station id {sid!r}: expected [a-z0-9-]{{3,40}}")
    return sid


def station(sid: str, kind: Kind | str, name: str | None = None) -> str:
    """Topic of `kind` for station `sid`; `name` is the command name for `cmd`."""
    kind = Kind(kind)
    check_sid(sid)
    if kind is Kind.CMD:
        if name not in COMMANDS:
            raise TopicError(f"unknown command {name!r}; known: {sorted(COMMANDS)}")
        return f"{PREFIX}/{sid}/cmd/{name}"
    if name is not None:
        raise TopicError(f"topic kind {kind} takes no name")
    return f"{PREFIX}/{sid}/{kind.value}"


def state(sid: str) -> str:
    return station(sid, Kind.STATE)


def meta(sid: str) -> str:
    return station(sid, Kind.META)


def telemetry(sid: str) -> str:
    return station(sid, Kind.TELEMETRY)


def events(sid: str) -> str:
    return station(sid, Kind.EVENTS)


def footfall(sid: str) -> str:
    return station(sid, Kind.FOOTFALL)


def ack(sid: str) -> str:
    return station(sid, Kind.ACK)


def cmd(sid: str, name: str) -> str:
    return station(sid, Kind.CMD, name)


def cmd_result(sid: str) -> str:
    return station(sid, Kind.CMD_RESULT)


def config(sid: str) -> str:
    return station(sid, Kind.CONFIG)


def all_stations(kind: Kind | str) -> str:
    """Subscription filter for `kind` across every station (`cmd` covers every command)."""
    kind = Kind(kind)
    suffix = "cmd/+" if kind is Kind.CMD else kind.value
    return f"{PREFIX}/+/{suffix}"


def shared(group: str, topic_filter: str) -> str:
    """MQTT 5 shared subscription so several ingest workers split one stream."""
    if not re.fullmatch(r"[A-Za-z0-9_-]+", group):
        raise TopicError(f"invalid share group {group!r}")
    return f"$share/{group}/{topic_filter}"


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed per-station topic."""

    sid: str
    kind: Kind
    name: str | None = None


def parse(topic: str) -> Topic:
    """Parse a per-station topic; raise TopicError for anything outside the contract."""
    parts = topic.split("/")
    if len(parts) < 4 or f"{parts[0]}/{parts[1]}" != PREFIX:
        raise TopicError(f"not a v1 station topic: {topic!r}")
    sid = check_sid(parts[2])
    rest = parts[3:]
    if len(rest) == 2 and rest[0] == Kind.CMD.value:
        if rest[1] not in COMMANDS:
            raise TopicError(f"unknown command in topic {topic!r}")
        return Topic(sid, Kind.CMD, rest[1])
    if len(rest) == 1 and rest[0] != Kind.CMD.value:
        try:
            return Topic(sid, Kind(rest[0]))
        except ValueError:
            pass
    raise TopicError(f"unknown station topic {topic!r}")
