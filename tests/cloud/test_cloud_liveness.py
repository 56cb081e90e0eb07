from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cloud.liveness import LivenessPolicy, Status, assess, liveness, open_now
from cloud.models import Station, StationState

NOW = datetime(2025, 6, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
POLICY = LivenessPolicy(grace_intervals=3, stale_open_grace_s=300)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def state(**fields: Any) -> StationState:
    values: dict[str, Any] = {
        "station_id": "st-001",
        "status": "online",
        "sess": 1,
        "status_at": ago(3600),
        "last_heartbeat": ago(10),
        "heartbeat_interval_s": 30.0,
        "door": "closed",
        "lock": "locked",
    } | fields
    return StationState(**values)


def station(**fields: Any) -> Station:
    values: dict[str, Any] = {"id": "st-001", "name": "A", "lat": 31.23, "lon": 121.47} | fields
    return Station(**values)


def test_never_seen_is_unknown() -> None:
    assert liveness(None, NOW, POLICY).status is Status.UNKNOWN
    assert liveness(StationState(station_id="st-001"), NOW, POLICY).status is Status.UNKNOWN


def test_online_with_a_recent_heartbeat() -> None:
    live = liveness(state(), NOW, POLICY)
    assert live.status is Status.ONLINE
    assert live.live


def test_stale_after_grace_intervals_of_its_own_interval() -> None:
    assert liveness(state(last_heartbeat=ago(89)), NOW, POLICY).status is Status.ONLINE
    assert liveness(state(last_heartbeat=ago(91)), NOW, POLICY).status is Status.STALE
    # a station that heartbeats every 60 s is allowed 180 s
    slow = state(last_heartbeat=ago(150), heartbeat_interval_s=60.0)
    assert liveness(slow, NOW, POLICY).status is Status.ONLINE


def test_stale_counts_as_live_only_within_the_open_grace() -> None:
    within = liveness(state(last_heartbeat=ago(90 + 299)), NOW, POLICY)
    beyond = liveness(state(last_heartbeat=ago(90 + 301)), NOW, POLICY)
    assert (within.status, within.live) == (Status.STALE, True)
    assert (beyond.status, beyond.live) == (Status.STALE, False)


def test_a_fresh_birth_counts_before_the_first_heartbeat() -> None:
    live = liveness(state(last_heartbeat=None, status_at=ago(5)), NOW, POLICY)
    assert live.status is Status.ONLINE


def test_birth_without_any_time_is_not_proof_of_life() -> None:
    live = liveness(state(last_heartbeat=None, status_at=None), NOW, POLICY)
    assert (live.status, live.live) == (Status.STALE, False)


@pytest.mark.parametrize("status", ["lost", "offline"])
def test_lost_and_offline_as_reported_even_with_recent_heartbeats(status: str) -> None:
    live = liveness(state(status=status), NOW, POLICY)
    assert live.status == status
    assert not live.live


def test_degraded_is_reported_while_fresh_then_stale() -> None:
    assert liveness(state(status="degraded"), NOW, POLICY).status is Status.DEGRADED
    stale = state(status="degraded", last_heartbeat=ago(120))
    assert liveness(stale, NOW, POLICY).status is Status.STALE


# --- open now --------------------------------------------------------------------------------


def test_open_when_live_healthy_and_inside_hours() -> None:
    a = assess(station(opening_hours="Mo-Su 08:00-20:00"), state(), NOW, POLICY)
    assert a.open_now
    assert a.status is Status.ONLINE
    assert a.hours.closes_at == datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("station_fields", "state_fields"),
    [
        pytest.param({"opening_hours": "Mo-Su 20:00-23:00"}, {}, id="closed-by-hours"),
        pytest.param({"maintenance": True}, {}, id="maintenance"),
        pytest.param({}, {"lock": "fault"}, id="lock-fault"),
        pytest.param({}, {"status": "degraded"}, id="degraded"),
        pytest.param({}, {"status": "lost"}, id="lost"),
        pytest.param({}, {"status": "offline"}, id="offline"),
        pytest.param({}, {"last_heartbeat": ago(90 + 301)}, id="stale-beyond-grace"),
        pytest.param({"opening_hours": "not hours"}, {}, id="invalid-hours"),
    ],
)
def test_not_open(station_fields: dict[str, Any], state_fields: dict[str, Any]) -> None:
    assert not open_now(station(**station_fields), state(**state_fields), NOW, POLICY)


def test_never_seen_station_is_not_open() -> None:
    assert not open_now(station(), None, NOW, POLICY)


def test_stale_within_grace_is_still_open() -> None:
    assert open_now(station(), state(last_heartbeat=ago(200)), NOW, POLICY)


def test_stale_degraded_station_is_not_open() -> None:
    assert not open_now(station(), state(status="degraded", last_heartbeat=ago(200)), NOW, POLICY)


def test_an_open_door_is_not_a_fault() -> None:
    assert open_now(station(), state(door="open", lock="unlocked"), NOW, POLICY)
