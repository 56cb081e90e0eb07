"""Alarm rules as pure functions: thresholds, durations, hysteresis, missing readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloud.alarms.rules import RULES, THRESHOLDS, EdgeRule, Open, Severity, Threshold, edge_rule
from cloud.alarms.rules import facts as facts_of
from cloud.alarms.rules import step as step_of

T = datetime(2026, 1, 1, tzinfo=UTC)
FRIDGE = RULES["fridge_warm"]
assert isinstance(FRIDGE, Threshold)


def at(minutes: float) -> datetime:
    return T + timedelta(minutes=minutes)


def run(rule: Threshold, readings: list[tuple[float, float | None]]) -> list[str]:
    """Feed (minute, value) samples through the state machine like the monitor does; the
    row's state after each sample."""
    row: Open | None = None
    states = []
    for minute, value in readings:
        move = step_of(rule, row, value, at(minute))
        if move is not None:
            v = move.values
            if move.action == "insert":
                row = Open(1, v["state"], v["since"], None)
            elif move.action == "delete":
                row = None
            else:
                assert row is not None
                row = Open(
                    row.id,
                    v.get("state", row.state),
                    row.since,
                    v.get("clearing_since", row.clearing_since),
                )
                if row.state == "cleared":
                    states.append("cleared")
                    row = None
                    continue
        states.append(row.state if row else "-")
    return states


def test_fridge_must_be_warm_for_15_minutes_before_the_alarm() -> None:
    samples = [(0, 9.0), (10, 9.5), (14.9, 9.1), (15, 9.2)]
    assert run(FRIDGE, samples) == ["pending", "pending", "pending", "raised"]


def test_a_warm_spell_shorter_than_15_minutes_raises_nothing() -> None:
    samples = [(0, 9.0), (10, 9.5), (12, 7.9), (14, 9.0), (20, 9.0), (28, 9.0)]
    # the dip at minute 12 restarts the clock: pending again from minute 14, not raised at 28
    assert run(FRIDGE, samples) == ["pending", "pending", "-", "pending", "pending", "pending"]


def test_hysteresis_a_reading_between_the_thresholds_neither_raises_nor_clears() -> None:
    raised = [(0, 9.0), (15, 9.0)]
    hovering = [(16, 7.5), (30, 7.9), (60, 7.1)]  # below 8 but not below 7
    assert run(FRIDGE, raised + hovering)[-3:] == ["raised"] * 3
    # and it takes 5 minutes below 7 °C to clear
    cooled = [(61, 6.5), (65, 6.0), (66, 6.2)]
    assert run(FRIDGE, raised + cooled)[-3:] == ["raised", "raised", "cleared"]


def test_a_rise_while_clearing_restarts_the_clear_timer() -> None:
    samples = [(0, 9.0), (15, 9.0), (16, 6.0), (19, 7.5), (20, 6.0), (24, 6.0), (25, 6.0)]
    assert run(FRIDGE, samples)[-4:] == ["raised", "raised", "raised", "cleared"]


def test_a_missing_reading_changes_nothing() -> None:
    assert step_of(FRIDGE, None, None, T) is None
    pending = Open(1, "pending", T, None)
    assert step_of(FRIDGE, pending, None, at(20)) is None


def test_rules_without_duration_raise_at_once() -> None:
    lock = RULES["lock_fault"]
    assert isinstance(lock, Threshold)
    move = step_of(lock, None, 1.0, T)
    assert move is not None
    assert move.values["state"] == "raised"
    assert move.values["raised_at"] == T
    assert lock.blocks_open
    assert lock.severity is Severity.CRITICAL


def test_offline_over_ten_minutes() -> None:
    rule = RULES["station_offline"]
    assert isinstance(rule, Threshold)
    assert run(rule, [(0, 300.0), (5, 600.0), (6, 660.0), (20, 0.0)]) == [
        "-",
        "-",
        "raised",
        "cleared",
    ]


def test_facts_bring_list_ages_up_to_now_and_read_the_fridge() -> None:
    telemetry = {
        "trust_age_s": 20 * 3600,
        "revocation_age_s": 1000,
        "sensors": {"fridge_c": 6.5},
        "disk_used_pct": 91.5,
    }
    f = facts_of(telemetry, lock="locked", offline_s=0, heartbeat_age_s=5 * 3600)
    assert f["trust_age_h"] == pytest.approx(25.0)
    assert f["revocation_age_h"] == pytest.approx((1000 + 5 * 3600) / 3600)
    assert f["fridge_c"] == 6.5
    assert f["disk_used_pct"] == 91.5
    assert f["lock_fault"] == 0.0
    empty = facts_of(None, lock=None, offline_s=0, heartbeat_age_s=0)
    assert empty["fridge_c"] is None
    assert empty["lock_fault"] is None
    assert (
        facts_of({"sensors": {"fridge_c": True}}, lock="fault", offline_s=0, heartbeat_age_s=0)[
            "fridge_c"
        ]
        is None
    )  # a bool is not a temperature


def test_every_threshold_metric_is_a_fact() -> None:
    f = facts_of({}, lock="locked", offline_s=0, heartbeat_age_s=0)
    assert {r.metric for r in THRESHOLDS} <= set(f)
    for rule in THRESHOLDS:
        assert rule.clear_below <= rule.raise_above  # hysteresis never inverted


def test_unknown_edge_alarms_are_kept_as_warnings() -> None:
    assert edge_rule("camera_down").blocks_open
    novel = edge_rule("water_leak")
    assert isinstance(novel, EdgeRule)
    assert (novel.name, novel.severity, novel.blocks_open) == ("water_leak", "warning", False)
    assert edge_rule("tailgating").momentary


def test_attention_marks_readings_at_or_past_a_clear_threshold() -> None:
    from cloud.alarms.rules import attention

    calm = {"sensors": {"fridge_c": 4.0}, "disk_used_pct": 40.0, "trust_age_s": 3600}
    assert not attention(calm, "locked")
    assert not attention(None, None)
    assert attention(calm | {"sensors": {"fridge_c": 7.0}}, "locked")  # may be clearing
    assert attention(calm | {"disk_used_pct": 85.0}, "locked")
    assert attention(calm, "fault")
    # a list 90 s short of 24 h old may cross it before the station's next heartbeats
    assert attention(calm | {"trust_age_s": 24 * 3600 - 60}, "locked")
    assert not attention(calm | {"trust_age_s": 24 * 3600 - 600}, "locked")
