from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cloud.models import Station, StationState
from cloud.stations.liveness import LivenessPolicy, Status, liveness
from cloud.stations.opennow import Basis, Reason, assess, open_now
from cloud.stations.sight import Blindness, Sight

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
    ("station_fields", "state_fields", "reason"),
    [
        pytest.param({"opening_hours": "Mo-Su 20:00-23:00"}, {}, "closed_by_hours", id="hours"),
        pytest.param({"maintenance": True}, {}, "maintenance", id="maintenance"),
        pytest.param({}, {"lock": "fault"}, "station_fault", id="lock-fault"),
        pytest.param({}, {"status": "degraded"}, "station_fault", id="degraded"),
        pytest.param({}, {"alarm_level": "blocking"}, "station_fault", id="blocking-alarm"),
        pytest.param({}, {"status": "lost"}, "station_down", id="lost"),
        pytest.param({}, {"status": "offline"}, "station_down", id="offline"),
        pytest.param({}, {"last_heartbeat": ago(90 + 301)}, "station_down", id="stale-beyond"),
        pytest.param({"opening_hours": "not hours"}, {}, "closed_by_hours", id="invalid-hours"),
        pytest.param(
            {"opening_hours": "Mo-Su 20:00-23:00"},
            {"status": "lost"},
            "station_down",
            id="down-before-hours",
        ),
        pytest.param(
            {"maintenance": True}, {"status": "lost"}, "maintenance", id="maintenance-first"
        ),
    ],
)
def test_not_open_with_the_first_reason_that_applies(
    station_fields: dict[str, Any], state_fields: dict[str, Any], reason: str
) -> None:
    a = assess(station(**station_fields), state(**state_fields), NOW, POLICY)
    assert (a.open_now, a.basis, a.reason) == (False, Basis.LIVE, Reason(reason))
    assert not open_now(station(**station_fields), state(**state_fields), NOW, POLICY)


def test_an_open_live_station_has_no_reason() -> None:
    a = assess(station(), state(), NOW, POLICY)
    assert (a.open_now, a.basis, a.reason) == (True, Basis.LIVE, None)


@pytest.mark.parametrize("no_agent", [None, StationState(station_id="st-001")])
def test_a_station_without_an_agent_is_open_by_its_hours(no_agent: StationState | None) -> None:
    # Story: most stations have no agent; they were all shown closed (`unknown`, never open).
    inside = assess(station(opening_hours="Mo-Su 08:00-20:00"), no_agent, NOW, POLICY)
    assert (inside.open_now, inside.basis, inside.reason) == (True, Basis.SCHEDULE, None)
    assert inside.status is Status.UNKNOWN
    outside = assess(station(opening_hours="Mo-Su 20:00-23:00"), no_agent, NOW, POLICY)
    assert (outside.open_now, outside.basis) == (False, Basis.SCHEDULE)
    assert outside.reason is Reason.CLOSED_BY_HOURS
    kept = assess(station(maintenance=True), no_agent, NOW, POLICY)
    assert (kept.open_now, kept.reason) == (False, Reason.MAINTENANCE)


# --- while the cloud is blind ------------------------------------------------------------------

BLIND = Sight(True, Blindness.NO_INGEST, saw_until=ago(3600))


def test_while_blind_stations_up_when_it_last_saw_are_open_by_their_hours() -> None:
    # Story: with the broker down longer than the stale grace every station turned `stale`
    # past it and the map went empty; the outage was the cloud's, not the stations'.
    last_seen = state(last_heartbeat=ago(3600 + 10))  # fresh when the cloud last saw
    assert not assess(station(), last_seen, NOW, POLICY).open_now  # judged as if seeing
    a = assess(station(), last_seen, NOW, POLICY, sight=BLIND)
    assert (a.open_now, a.basis, a.reason, a.status) == (True, Basis.SCHEDULE, None, "online")
    night = assess(station(opening_hours="Mo-Su 20:00-23:00"), last_seen, NOW, POLICY, sight=BLIND)
    assert (night.open_now, night.basis, night.reason) == (
        False, Basis.SCHEDULE, Reason.CLOSED_BY_HOURS,
    )  # fmt: skip


def test_while_blind_a_station_already_down_stays_down() -> None:
    lost = assess(station(), state(status="lost", status_at=ago(4000)), NOW, POLICY, sight=BLIND)
    assert (lost.open_now, lost.basis, lost.reason) == (False, Basis.LIVE, Reason.STATION_DOWN)
    faulty = state(last_heartbeat=ago(3600 + 10), lock="fault")
    a = assess(station(), faulty, NOW, POLICY, sight=BLIND)
    assert (a.open_now, a.reason) == (False, Reason.STATION_FAULT)


def test_silence_counts_only_from_when_the_cloud_saw_again() -> None:
    # Heard last 2 h ago, before an outage that ended 60 s ago: still online for its span,
    # then stale for the open grace, then down, as any station that just went quiet.
    old = state(last_heartbeat=ago(7200))
    back = Sight(heard_from=ago(60))
    assert liveness(old, NOW, POLICY, heard_from=back.heard_from).status is Status.ONLINE
    assert assess(station(), old, NOW, POLICY, sight=back).open_now
    later = NOW + timedelta(seconds=30 + 1)
    assert liveness(old, later, POLICY, heard_from=back.heard_from).status is Status.STALE
    gone = NOW + timedelta(seconds=30 + 300 + 1)
    a = assess(station(), old, gone, POLICY, sight=back)
    assert (a.open_now, a.basis, a.reason) == (False, Basis.LIVE, Reason.STATION_DOWN)
    # A sign of life after the cloud saw again is judged as usual.
    assert liveness(state(), NOW, POLICY, heard_from=ago(3600)).status is Status.ONLINE


def test_stale_within_grace_is_still_open() -> None:
    assert open_now(station(), state(last_heartbeat=ago(200)), NOW, POLICY)


def test_stale_degraded_station_is_not_open() -> None:
    assert not open_now(station(), state(status="degraded", last_heartbeat=ago(200)), NOW, POLICY)


def test_an_open_door_is_not_a_fault() -> None:
    assert open_now(station(), state(door="open", lock="unlocked"), NOW, POLICY)
