"""LostGuard: a `lost` reaches the database only once it is believable (broker restarts)."""

from __future__ import annotations

import json

from cloud.ingest.lostguard import (
    LIVE_LOST_HOLD_S,
    RETAINED_LOST_HOLD_S,
    LostGuard,
    Received,
)
from protocol import topics

SID = "sz-0001"


def state(status: str, sess: int, *, retained: bool = False, epoch: int = 0) -> Received:
    body = json.dumps({"v": 1, "sid": SID, "status": status, "sess": sess}).encode()
    return Received(topics.state(SID), body, retained, 0.0, epoch)


def test_a_live_lost_is_stored_after_the_hold_if_the_link_stayed_up() -> None:
    guard = LostGuard()
    assert guard.offer(state("lost", 3), now=100.0)
    assert guard.due(epoch=0, connected=True, now=100.0 + LIVE_LOST_HOLD_S - 0.1) == []
    released = guard.due(epoch=0, connected=True, now=100.0 + LIVE_LOST_HOLD_S)
    assert [m.payload for m in released] == [state("lost", 3).payload]
    assert guard.held == 0


def test_a_lost_that_came_just_before_the_broker_went_away_is_dropped() -> None:
    guard = LostGuard()
    assert guard.offer(state("lost", 3, epoch=4), now=0.0)
    assert guard.due(epoch=5, connected=False, now=60.0) == []  # disconnected: keep waiting
    assert guard.held == 1
    assert guard.due(epoch=5, connected=True, now=60.0) == []  # back: it was the old link's
    assert guard.held == 0
    assert guard.stats["lost_dropped_broker_gone"] == 1


def test_a_retained_lost_waits_longer_and_a_newer_birth_cancels_it() -> None:
    guard = LostGuard()
    assert guard.offer(state("lost", 3, retained=True), now=0.0)
    assert guard.due(epoch=0, connected=True, now=LIVE_LOST_HOLD_S + 1) == []
    # a retained birth of the same or an older session is old news and cancels nothing
    assert not guard.offer(state("online", 3, retained=True), now=1.0)
    assert guard.held == 1
    assert not guard.offer(state("online", 4), now=2.0)  # the station is back
    assert guard.held == 0
    assert guard.due(epoch=0, connected=True, now=RETAINED_LOST_HOLD_S + 1) == []
    assert guard.stats["lost_cancelled_by_birth"] == 1


def test_an_unanswered_retained_lost_is_stored_after_its_hold() -> None:
    guard = LostGuard()
    guard.offer(state("lost", 3, retained=True), now=0.0)
    assert len(guard.due(epoch=0, connected=True, now=RETAINED_LOST_HOLD_S)) == 1


def test_only_the_newest_lost_per_station_is_held() -> None:
    guard = LostGuard()
    guard.offer(state("lost", 5), now=0.0)
    assert guard.offer(state("lost", 4), now=0.1)  # a late will of an older session
    released = guard.due(epoch=0, connected=True, now=LIVE_LOST_HOLD_S + 0.1)
    assert [json.loads(m.payload)["sess"] for m in released] == [5]


def test_everything_else_passes_through() -> None:
    guard = LostGuard()
    assert not guard.offer(state("offline", 3), now=0.0)
    assert not guard.offer(state("online", 3), now=0.0)
    telemetry = Received(topics.telemetry(SID), b'{"status": "lost", "sess": 1}', False, 0.0)
    assert not guard.offer(telemetry, now=0.0)
    for payload in (b"not json", b"[]", b'{"status": "lost", "sess": "1"}'):
        assert not guard.offer(Received(topics.state(SID), payload, False, 0.0), now=0.0)
    assert not guard.offer(Received("ws/v1/NOT A SID/state", b"{}", False, 0.0), now=0.0)
    assert guard.held == 0
