"""Payload models: round trips, the version gate and clear errors for bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
import uuid6

from protocol import messages as m
from protocol.credential import Reason
from protocol.topics import Kind


def event(**kw: object) -> m.AccessEvent:
    base: dict[str, object] = {
        "sid": "st-001", "event_id": uuid6.uuid7(), "seq": 7, "granted": False,
        "reason": Reason.REVOKED, "serial": "00" * 12,
    }  # fmt: skip
    base.update(kw)
    return m.AccessEvent.model_validate(base)


def test_event_round_trip_through_bytes() -> None:
    original = event()
    decoded = m.decode(Kind.EVENTS, original.to_bytes())
    assert decoded == original
    assert isinstance(decoded, m.AccessEvent)


def test_event_union_picks_the_right_type() -> None:
    door = m.DoorEvent(sid="st-001", event_id=uuid6.uuid7(), seq=1, action="forced_open")
    alarm = m.AlarmEvent(
        sid="st-001", event_id=uuid6.uuid7(), seq=2, alarm="camera_down", state="raised"
    )
    assert isinstance(m.decode(Kind.EVENTS, door.to_bytes()), m.DoorEvent)
    assert isinstance(m.decode(Kind.EVENTS, alarm.to_bytes()), m.AlarmEvent)


def test_ts_is_rfc3339_utc_and_offsets_are_normalised() -> None:
    raw = json.loads(event().to_bytes())
    assert raw["ts"].endswith("Z")
    assert raw["v"] == 1
    shanghai = timezone(timedelta(hours=8))
    e = event(ts=datetime(2026, 11, 21, 11, 0, tzinfo=shanghai))
    assert e.ts == datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
    assert e.ts.tzinfo is UTC


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "not_json"),
        (b"\xff\xfe\x00", "not_utf8"),
        (b"[1, 2]", "not_object"),
        (b'{"v": 2, "sid": "st-001"}', "bad_version"),
        (b'{"sid": "st-001"}', "bad_version"),
        (b'{"v": 1, "sid": "st-001", "type": "access"}', "schema"),
        (b'{"v": 1, "sid": "st-001", "type": "teleport", "seq": 1}', "schema"),
        (b"{" + b" " * (m.MAX_PAYLOAD_BYTES + 1) + b"}", "too_large"),
    ],
)
def test_bad_payloads_raise_payload_error_with_stable_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(m.PayloadError) as info:
        m.decode(Kind.EVENTS, raw)
    assert info.value.reason == reason
    assert info.value.detail


def test_naive_timestamps_are_refused() -> None:
    raw = json.loads(event().to_bytes())
    raw["ts"] = "2026-11-21T03:00:00"
    with pytest.raises(m.PayloadError, match="ts"):
        m.decode(Kind.EVENTS, json.dumps(raw))


def test_unknown_fields_are_tolerated_within_v1() -> None:
    raw = json.loads(event().to_bytes())
    raw["added_in_v1_7"] = 42
    assert m.decode(Kind.EVENTS, json.dumps(raw)).seq == 7


def test_serial_must_be_hex_never_personal_data() -> None:
    with pytest.raises(ValueError, match="serial"):
        event(serial="13800138000")


@pytest.mark.parametrize(
    ("kind", "model"),
    [
        (Kind.STATE, m.StatePayload(sid="st-001", status="online", sess=3, config_version=2)),
        (Kind.META, m.MetaPayload(sid="st-001", agent_version="0.1.0", capabilities=["door"])),
        (Kind.TELEMETRY, m.TelemetryPayload(sid="st-001", uptime_s=12.5, sensors={"fridge_c": 4})),
        (Kind.FOOTFALL, m.FootfallPayload(
            sid="st-001", seq=9, interval_start=datetime(2026, 11, 21, 3, 0, tzinfo=UTC),
            seconds=300, entries=4, exits=3, occupancy=1)),
        (Kind.ACK, m.AckPayload(upto_seq=41)),
        (Kind.CMD, m.CommandPayload(cmd_id="c1", expires_at=datetime(2026, 11, 21, tzinfo=UTC))),
        (Kind.CMD_RESULT, m.CmdResultPayload(sid="st-001", cmd_id="c1", ok=False)),
        (Kind.CONFIG, m.ConfigPayload(config_version=3, config={"door": {"pulse_s": 2}})),
    ],
)  # fmt: skip
def test_every_kind_round_trips(kind: Kind, model: m.Payload) -> None:
    assert m.decode(kind, model.to_bytes()) == model
