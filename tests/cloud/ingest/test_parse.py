from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.ingest.parse import parse
from protocol import messages, topics
from protocol.messages import AccessEvent, printable

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
            st.one_of(
                st.integers(),
                st.text(max_size=10),
                st.none(),
                st.booleans(),
                # control characters and lone surrogates, and times at the ends of the range
                st.text(st.characters(codec=None, exclude_categories=()), max_size=10),
                st.datetimes(
                    timezones=st.integers(-14 * 60, 14 * 60).map(
                        lambda m: timezone(timedelta(minutes=m))
                    )
                ).map(datetime.isoformat),
            ),
        ).map(lambda d: json.dumps(d).encode()),
    ),
)
def test_parse_never_raises(topic: str, raw: bytes) -> None:
    item = parse(topic, raw, retained=False, received_at=T)
    assert item.refused or item.payload is not None
    assert item.reason != "internal"
    assert printable(item.detail) == item.detail  # storable as it is


def test_a_time_out_of_range_keeps_station_and_seq() -> None:
    """Story: OverflowError escaped parse for `0001-01-01T00:00:00+01:00`, losing the seq.

    The dead letter had no station and no seq, and the station's acks stalled behind it."""
    event = AccessEvent(sid="st-001", event_id=uuid4(), seq=7, granted=True, reason="granted")
    raw = json.dumps(json.loads(event.to_bytes()) | {"ts": "0001-01-01T00:00:00+01:00"})
    item = parse(topics.events("st-001"), raw.encode(), retained=False, received_at=T)
    assert (item.reason, item.sid, item.seq) == ("bad_time", "st-001", 7)
    assert item.detail.startswith("access.ts: time 0001-01-01T00:00:00+01:00 out of range")


def test_an_unforeseen_error_still_keeps_station_and_seq(monkeypatch: pytest.MonkeyPatch) -> None:
    """Story: an exception out of decode left its dead letter without station or seq."""

    def broken(*_args: object) -> None:
        raise OverflowError("date value out of range")

    monkeypatch.setattr(messages, "decode", broken)
    event = AccessEvent(sid="st-001", event_id=uuid4(), seq=7, granted=True, reason="granted")
    item = parse(topics.events("st-001"), event.to_bytes(), retained=False, received_at=T)
    assert (item.reason, item.sid, item.seq) == ("internal", "st-001", 7)
    assert item.detail == "OverflowError: date value out of range"
