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


# --- text: no control characters, no lone surrogates ---------------------------------------------

ALL_MODELS = (*m.MODELS.values(), m.AccessEvent, m.DoorEvent, m.AlarmEvent)
# cloud→edge free-form values: the edge checks each command's args and the config override
# against schemas of its own (edge.remote); ingest never stores them.
FREE_FORM = {(m.CommandPayload, "args"), (m.ConfigPayload, "config")}


def _unconstrained(node: object, where: str) -> list[str]:
    """Places in a JSON schema where any string goes: a string without a pattern, enum or
    format, or an object whose keys have no pattern."""
    found: list[str] = []
    if isinstance(node, dict):
        if node.get("type") == "string" and not (
            {"pattern", "enum", "const", "format"} & node.keys()
        ):
            found.append(where)
        if node.get("type") == "object" and node.get("additionalProperties") not in (None, False):
            found.append(f"{where}[key]")
        for key, value in node.items():
            found += _unconstrained(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _unconstrained(value, f"{where}[{i}]")
    return found


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda model: model.__name__)
def test_no_payload_field_takes_any_string(model: type[m.Payload]) -> None:
    """Story: a NUL in free text passed validation and PostgreSQL refused its whole batch.

    Every str is now `Name`, `Text` or another pattern, so a new field cannot slip past the
    rule unnoticed."""
    schema = model.model_json_schema()
    loose = []
    for name, prop in schema["properties"].items():
        if (model, name) not in FREE_FORM:
            loose += _unconstrained(prop, name)
    loose += _unconstrained(schema.get("$defs", {}), "$defs")
    assert loose == []


def alarm_raw(**fields: object) -> bytes:
    body = json.loads(
        m.AlarmEvent(
            sid="st-001", event_id=uuid6.uuid7(), seq=4, alarm="camera_down", state="raised"
        ).to_bytes()
    )
    return json.dumps(body | fields).encode()


@pytest.mark.parametrize(
    ("kind", "raw", "field", "char"),
    [
        (Kind.EVENTS, alarm_raw(detail="no frames\x00"), "alarm.detail", "U+0000"),
        (Kind.EVENTS, alarm_raw(detail="\x1b[31m red"), "alarm.detail", "U+001B"),
        (Kind.EVENTS, alarm_raw(detail="del\x7f"), "alarm.detail", "U+007F"),
        (Kind.EVENTS, alarm_raw(detail="c1\x85"), "alarm.detail", "U+0085"),
        (
            Kind.EVENTS,
            b'{"v":1,"sid":"st-001","event_id":"0190f0a0-0000-7000-8000-000000000001",'
            b'"seq":1,"type":"door","action":"door_opened","cause":"grant\\u0000"}',
            "door.cause",
            "U+0000",
        ),
        (
            Kind.EVENTS,
            b'{"v":1,"sid":"st-001","event_id":"0190f0a0-0000-7000-8000-000000000002","seq":2,'
            b'"type":"access","granted":true,"reason":"granted","kid":"k1\\n"}',
            "access.kid",
            "U+000A",
        ),
        (Kind.STATE, b'{"v":1,"sid":"st-001","status":"degraded","sess":1,"reason":"x\\u0000"}',
         "reason", "U+0000"),
        (Kind.META, b'{"v":1,"sid":"st-001","agent_version":"0.1\\u0000"}', "agent_version",
         "U+0000"),
        (Kind.META, b'{"v":1,"sid":"st-001","agent_version":"0.1","capabilities":["a\\t"]}',
         "capabilities.0", "U+0009"),
        (Kind.TELEMETRY, b'{"v":1,"sid":"st-001","uptime_s":1,"sensors":{"f\\u0000_c":4}}',
         "sensors.f\\x00_c.[key]", "U+0000"),
        (Kind.CMD_RESULT, b'{"v":1,"sid":"st-001","cmd_id":"c\\u0001","ok":true}', "cmd_id",
         "U+0001"),
        (Kind.CMD_RESULT, b'{"v":1,"sid":"st-001","cmd_id":"c1","ok":true,"detail":"\\u0000"}',
         "detail", "U+0000"),
    ],
)  # fmt: skip
def test_control_characters_are_refused_naming_the_field(
    kind: Kind, raw: bytes, field: str, char: str
) -> None:
    """Story: `"detail": "a\\u0000b"` was valid; PostgreSQL refused it, and its batch with it.

    Each cost its ingest batch a row-by-row rewrite (92 ms → 5 s). Now `bad_text`, naming
    the field and the character."""
    with pytest.raises(m.PayloadError) as info:
        m.decode(kind, raw)
    assert info.value.reason == "bad_text"
    assert info.value.detail == f"{field}: control character {char} not allowed"


@pytest.mark.parametrize(
    ("kind", "raw", "field"),
    [
        (Kind.EVENTS, alarm_raw(detail="\ud800"), "alarm.detail"),
        (Kind.EVENTS, alarm_raw(detail="ok \udfff"), "alarm.detail"),
        (Kind.META, b'{"v":1,"sid":"st-001","agent_version":"\\udc00"}', "agent_version"),
        (Kind.CMD_RESULT, b'{"v":1,"sid":"st-001","cmd_id":"c1","ok":false,"detail":"\\ud83d"}',
         "detail"),
    ],
)  # fmt: skip
def test_lone_surrogates_are_refused(kind: Kind, raw: bytes, field: str) -> None:
    """Story: JSON `"\\ud800"` passed validation, and no encoder can store a lone surrogate.

    Neither orjson nor PostgreSQL can encode it, so it too failed the whole ingest batch."""
    with pytest.raises(m.PayloadError) as info:
        m.decode(kind, raw)
    assert (info.value.reason, info.value.detail) == (
        "bad_text",
        f"{field}: not Unicode text (a lone surrogate)",
    )
    with pytest.raises(ValueError, match="unicode"):  # built in Python too
        m.AlarmEvent(
            sid="st-001", event_id=uuid6.uuid7(), seq=1, alarm="a_b", state="raised",
            detail="\ud800",
        )  # fmt: skip


def test_free_text_keeps_tabs_and_newlines_and_any_language() -> None:
    text = "摄像头离线\tcamera\r\nline 2 😀"
    raw = alarm_raw(detail=text)
    decoded = m.decode(Kind.EVENTS, raw)
    assert isinstance(decoded, m.AlarmEvent)
    assert decoded.detail == text
    pair = b'{"v":1,"sid":"st-001","cmd_id":"c1","ok":true,"detail":"\\ud83d\\ude00"}'
    assert getattr(m.decode(Kind.CMD_RESULT, pair), "detail", None) == "😀"
    with pytest.raises(m.PayloadError, match="cause: control character U\\+0009"):
        m.decode(Kind.EVENTS, alarm_raw(type="door", action="door_opened", cause="a\tb"))


def test_refusal_details_are_printable_themselves() -> None:
    """A tag or a key the payload chose ends up in the detail: escaped, not copied."""
    with pytest.raises(m.PayloadError) as info:
        m.decode(Kind.EVENTS, alarm_raw(type="x\x00"))
    assert info.value.reason == "schema"
    assert "\x00" not in info.value.detail
    assert "x\\x00" in info.value.detail


def test_printable_escapes_only_what_text_refuses() -> None:
    assert m.printable("plain 文字\t\n") == "plain 文字\t\n"
    assert m.printable("a\x00b\x1b\ud800\x85") == "a\\x00b\\x1b\\ud800\\x85"


# --- times: out of range is a refusal, never an exception ----------------------------------------


@pytest.mark.parametrize(
    "ts",
    [
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC: OverflowError in astimezone
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:00:00-14:00",  # after year 9999 in UTC
        "9999-12-31T23:59:59.999999-01:00",
        "0001-01-01T00:00:00Z",  # representable, but no margin for local time or + 1 day
        "9999-12-31T00:00:00Z",
        -62135596800000,  # 0001-01-01 as a Unix time (in ms: pydantic reads big numbers so)
    ],
)
def test_times_out_of_range_are_refused_with_a_reason(ts: object) -> None:
    """Story: `"ts": "0001-01-01T00:00:00+01:00"` raised OverflowError out of decode.

    Ingest made it an anonymous `internal` dead letter, lost its seq, and the station's acks
    stalled. Now a refusal, `bad_time`, naming the field."""
    raw = json.loads(event().to_bytes())
    raw["ts"] = ts
    with pytest.raises(m.PayloadError) as info:
        m.decode(Kind.EVENTS, json.dumps(raw))
    assert info.value.reason == "bad_time"
    assert info.value.detail.startswith("access.ts: time ")
    assert "out of range" in info.value.detail


def test_interval_start_out_of_range_is_refused() -> None:
    """Story: an interval starting on 9999-12-31 passed, though its end is after year 9999."""
    raw = m.FootfallPayload(
        sid="st-001", seq=9, interval_start=datetime(2026, 11, 21, tzinfo=UTC), seconds=86400,
        entries=1, exits=0, occupancy=1,
    ).model_dump(mode="json")  # fmt: skip
    raw["interval_start"] = "9999-12-31T00:00:00+00:00"  # + 86400 s: after year 9999
    with pytest.raises(m.PayloadError) as info:
        m.decode(Kind.FOOTFALL, json.dumps(raw))
    assert info.value.reason == "bad_time"
    assert info.value.detail.startswith("interval_start: ")


def test_the_time_range_edges() -> None:
    """Inside the range every derived time is representable: UTC, local time in any zone,
    an interval's end."""
    east, west = timezone(timedelta(hours=14)), timezone(timedelta(hours=-14))
    for ts in (m.TIME_MIN, m.TIME_MAX, m.TIME_MIN.astimezone(east), m.TIME_MAX.astimezone(west)):
        e = m.decode(Kind.EVENTS, event(ts=ts).to_bytes())
        assert e.ts == ts
        assert e.ts.tzinfo is UTC
        for zone in (east, west):
            e.ts.astimezone(zone)
        e.ts + timedelta(days=1)  # an interval's end: must not overflow
    tick = timedelta(microseconds=1)
    for ts in (m.TIME_MIN - tick, m.TIME_MAX + tick):
        with pytest.raises(ValueError, match="out of range"):
            event(ts=ts)


def test_an_ack_lists_refused_seqs_and_old_readers_ignore_them() -> None:
    """New fields are optional and unknown fields are ignored (`extra="ignore"`): a station
    that predates `refused` reads only `upto_seq`, and a plain ack is the old bytes."""
    plain = m.AckPayload(upto_seq=7, ts=datetime(2026, 1, 1, tzinfo=UTC))
    assert plain.to_bytes() == b'{"v":1,"ts":"2026-01-01T00:00:00Z","upto_seq":7}'
    raw = b'{"upto_seq":7,"refused":[{"seq":5,"reason":"schema"}],"refused_more":2,"new":1}'
    ack = m.decode(Kind.ACK, raw)
    assert isinstance(ack, m.AckPayload)
    assert (ack.upto_seq, ack.refused, ack.refused_more) == (
        7,
        [m.RefusedSeq(seq=5, reason="schema")],
        2,
    )
    too_many = [{"seq": s, "reason": "schema"} for s in range(1, m.MAX_ACK_REFUSED + 2)]
    with pytest.raises(m.PayloadError):
        m.decode(Kind.ACK, json.dumps({"upto_seq": 200, "refused": too_many}).encode())
