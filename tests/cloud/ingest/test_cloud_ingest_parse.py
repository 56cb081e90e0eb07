from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import uuid4

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.ingest.parse import parse
from protocol import topics
from protocol.messages import AccessEvent

T = datetime(2025, 6, 2, tzinfo=UTC)


def test_accepted_event_carries_its_seq() -> None:
    event = AccessEvent(sid="st-001", event_id=uuid4(), seq=7, granted=True, reason="granted")
    item = parse(topics.events("st-001"), event.to_bytes(), retained=False, received_at=T)
    assert not item.refused
    assert (item.sid, item.seq) == ("st-001", 7)


def test_refused_event_keeps_a_usable_seq() -> None:
    item = parse(topics.events("st-001"), b'{"v":1,"seq":3}', retained=False, received_at=T)
    assert (item.reason, item.seq) == ("schema", 3)


def test_seq_is_only_taken_from_journal_topics() -> None:
    raw = b'{"v":1,"seq":3}'
    item = parse(topics.telemetry("st-001"), raw, retained=False, received_at=T)
    assert (item.reason, item.seq) == ("schema", None)


def test_malformed_topic_still_names_its_station() -> None:
    item = parse("ws/v1/st-001/nonsense", b"{}", retained=False, received_at=T)
    assert (item.reason, item.sid) == ("bad_topic", "st-001")


@settings(max_examples=300, deadline=None)
@given(
    topic=st.one_of(
        st.text(max_size=60),
        st.sampled_from(["events", "footfall", "state", "telemetry", "meta", "ack", "x"]).map(
            lambda k: f"ws/v1/st-001/{k}"
        ),
    ),
    raw=st.one_of(
        st.binary(max_size=200),
        st.dictionaries(
            st.sampled_from(["v", "sid", "seq", "ts", "status", "sess", "event_id", "type"]),
            st.one_of(st.integers(), st.text(max_size=10), st.none(), st.booleans()),
        ).map(lambda d: json.dumps(d).encode()),
    ),
)
def test_parse_never_raises(topic: str, raw: bytes) -> None:
    item = parse(topic, raw, retained=False, received_at=T)
    assert item.refused or item.payload is not None
