"""Topic builders and the parser agree on every topic of DESIGN.md."""

from __future__ import annotations

import pytest

from protocol import topics as t
from protocol.topics import Kind, TopicError


@pytest.mark.parametrize(
    ("topic", "kind", "name"),
    [
        (t.state("st-001"), Kind.STATE, None),
        (t.meta("st-001"), Kind.META, None),
        (t.telemetry("st-001"), Kind.TELEMETRY, None),
        (t.events("st-001"), Kind.EVENTS, None),
        (t.footfall("st-001"), Kind.FOOTFALL, None),
        (t.ack("st-001"), Kind.ACK, None),
        (t.cmd("st-001", "unlock"), Kind.CMD, "unlock"),
        (t.cmd_result("st-001"), Kind.CMD_RESULT, None),
        (t.config("st-001"), Kind.CONFIG, None),
    ],
)
def test_build_then_parse_round_trips(topic: str, kind: Kind, name: str | None) -> None:
    assert topic.startswith("ws/v1/st-001/")
    parsed = t.parse(topic)
    assert (parsed.sid, parsed.kind, parsed.name) == ("st-001", kind, name)


def test_exact_strings_of_the_contract() -> None:
    assert t.events("sz-0001") == "ws/v1/sz-0001/events"
    assert t.cmd("sz-0001", "rebirth") == "ws/v1/sz-0001/cmd/rebirth"
    assert t.TRUST_KEYS == "ws/v1/trust/keys"
    assert t.TRUST_REVOCATIONS == "ws/v1/trust/revocations"
    assert t.CLOUD_STATE == "ws/v1/_cloud/state"
    assert t.all_stations(Kind.EVENTS) == "ws/v1/+/events"
    assert t.shared("ingest", t.all_stations("footfall")) == "$share/ingest/ws/v1/+/footfall"


@pytest.mark.parametrize(
    "sid", ["ab", "A-001", "st_001", "st+1", "st#1", "x" * 41, "trust", "", "st/1", "站点"]
)
def test_invalid_station_ids_are_refused(sid: str) -> None:
    with pytest.raises(TopicError):
        t.events(sid)


@pytest.mark.parametrize(
    "topic",
    [
        "ws/v1/st-001",
        "ws/v2/st-001/events",
        "ws/v1/st-001/evnts",
        "ws/v1/st-001/cmd",
        "ws/v1/st-001/cmd/selfdestruct",
        "ws/v1/st-001/events/extra",
        "ws/v1/trust/keys",
        "ws/v1/ST-001/events",
    ],
)
def test_parse_refuses_topics_outside_the_contract(topic: str) -> None:
    with pytest.raises(TopicError):
        t.parse(topic)


def test_unknown_command_and_bad_group() -> None:
    with pytest.raises(TopicError):
        t.cmd("st-001", "selfdestruct")
    with pytest.raises(TopicError):
        t.shared("bad/group", "ws/v1/+/events")
