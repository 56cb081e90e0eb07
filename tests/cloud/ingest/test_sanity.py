"""`cloud.ingest.sanity.check`: an absurd reading is removed and noted, a clock far ahead is
replaced by the receipt time, a footfall interval from the future is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloud.ingest.sanity import BOUNDS, MAX_AHEAD, check
from protocol.messages import AckPayload, FootfallPayload, TelemetryPayload

SID = "st-001"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def beat(**fields: object) -> TelemetryPayload:
    return TelemetryPayload(sid=SID, ts=NOW, uptime_s=5, **fields)  # type: ignore[arg-type]


def test_a_plausible_payload_is_returned_unchanged() -> None:
    payload = beat(
        sensors={"fridge_c": 4.0, "humidity_pct": 55.0, "meter_kwh": 12.5}, cpu_temp_c=60
    )
    out, notes = check(payload, NOW)
    assert out is payload
    assert notes == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("fridge_c", -300.0),
        ("soc_c", 150.1),
        ("humidity_pct", -0.1),
        ("humidity_pct", 100.5),
        ("meter_kwh", -1.0),
        ("wifi_dbm", 3.0),
        ("wifi_dbm", -121.0),
    ],
)
def test_a_reading_outside_its_units_bounds_is_dropped(name: str, value: float) -> None:
    out, notes = check(beat(sensors={name: value, "ok_c": 20.0}), NOW)
    assert isinstance(out, TelemetryPayload)
    assert out.sensors == {"ok_c": 20.0}
    assert [reason for reason, _ in notes] == ["implausible"]
    assert name in notes[0][1]


def test_the_bounds_themselves_are_plausible() -> None:
    sensors = {f"low{suffix}": low for suffix, (low, _) in BOUNDS.items()}
    sensors |= {f"high{suffix}": high for suffix, (_, high) in BOUNDS.items()}
    _, notes = check(beat(sensors=sensors), NOW)
    assert notes == []


def test_a_reading_without_a_known_unit_is_kept_whatever_its_value() -> None:
    _, notes = check(beat(sensors={"people_count": 1e9, "temp": -500.0}), NOW)
    assert notes == []


def test_non_finite_readings_are_dropped() -> None:
    payload = beat(sensors={"ok_c": 1.0}).model_copy(
        update={"sensors": {"ok_c": 1.0, "nan_c": float("nan"), "inf_x": float("inf")}}
    )
    out, notes = check(payload, NOW)
    assert isinstance(out, TelemetryPayload)
    assert out.sensors == {"ok_c": 1.0}
    assert [r for r, _ in notes] == ["implausible"]


def test_an_absurd_cpu_temperature_is_dropped_alone() -> None:
    out, notes = check(beat(cpu_temp_c=999.0, sensors={"fridge_c": 4.0}), NOW)
    assert isinstance(out, TelemetryPayload)
    assert out.cpu_temp_c is None
    assert out.sensors == {"fridge_c": 4.0}
    assert notes == [("implausible", "cpu_temp_c 999.0 dropped")]


def test_a_clock_far_ahead_is_replaced_by_the_receipt_time() -> None:
    ahead = AckPayload(ts=NOW + MAX_AHEAD + timedelta(seconds=1), upto_seq=1)
    out, notes = check(ahead, NOW)
    assert out.ts == NOW
    assert [r for r, _ in notes] == ["clock_ahead"]
    just = AckPayload(ts=NOW + MAX_AHEAD, upto_seq=1)  # at the limit: early, not wrong
    assert check(just, NOW) == (just, [])


def test_both_problems_are_noted_and_fixed_together() -> None:
    payload = beat(sensors={"fridge_c": -300.0}).model_copy(update={"ts": NOW + timedelta(days=1)})
    out, notes = check(payload, NOW)
    assert out.ts == NOW
    assert isinstance(out, TelemetryPayload)
    assert out.sensors == {}
    assert [r for r, _ in notes] == ["clock_ahead", "implausible"]


def footfall(start: datetime) -> FootfallPayload:
    return FootfallPayload(
        sid=SID, ts=start, seq=1, interval_start=start, seconds=60, entries=1, exits=0, occupancy=1
    )


def test_a_footfall_interval_from_the_future_is_refused() -> None:
    with pytest.raises(ValueError, match=r"interval_start .* is in the future"):
        check(footfall(NOW + MAX_AHEAD + timedelta(minutes=1)), NOW)
    ok = footfall(NOW - timedelta(minutes=1))
    assert check(ok, NOW) == (ok, [])
