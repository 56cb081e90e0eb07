"""`cloud.stations.fleetview`: the whole fleet judged by the one rule, reused for a while."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from cloud.db import session
from cloud.models import Station, StationState
from cloud.stations.fleetview import FleetViews, judge_fleet
from cloud.stations.index import load_snapshot
from cloud.stations.liveness import DEFAULT_POLICY
from cloud.stations.opennow import assess
from cloud.stations.sight import SEEING, Blindness, Sight


def test_fleet_view_agrees_with_assess_and_is_reused_for_its_ttl(
    engine: Engine,
    add_station: Callable[..., Station],
    set_state: Callable[..., StationState],
    clock: Any,
) -> None:
    add_station("s-live")
    add_station("s-never", opening_hours="Mo-Su 20:00-23:00")
    add_station("s-lost")
    now = clock.now
    beat = {"status_at": now - timedelta(hours=1), "last_heartbeat": now, "sess": 1,
            "heartbeat_interval_s": 30.0, "door": "closed", "lock": "locked"}  # fmt: skip
    set_state("s-live", status="online", **beat)
    set_state("s-lost", status="lost", **beat)
    snap = load_snapshot(engine)
    view = judge_fleet(engine, snap, now=now, policy=DEFAULT_POLICY, sight=SEEING)
    got = {reg.id: (j.open_now, j.basis, j.reason) for reg, j in view.rows()}
    with session(engine) as s:
        for sid in got:
            a = assess(s.get(Station, sid), s.get(StationState, sid), now, DEFAULT_POLICY)
            reason = a.reason.value if a.reason else None
            assert got[sid] == (a.open_now, a.basis.value, reason), sid
    assert got["s-never"] == (False, "schedule", "closed_by_hours")
    assert view.blind is False

    blind = Sight(blind=True, reason=Blindness.NO_INGEST, saw_until=now)
    seen = judge_fleet(engine, snap, now=now, policy=DEFAULT_POLICY, sight=blind)
    assert (seen.blind, seen.blindness) == (True, "no_ingest")
    assert {reg.id: j.basis for reg, j in seen.rows()}["s-live"] == "schedule"

    views = FleetViews(ttl_s=30)
    calls: list[int] = []

    def make() -> Any:
        calls.append(1)
        return judge_fleet(engine, snap, now=clock.now, policy=DEFAULT_POLICY, sight=SEEING)

    first = views.get(snap, clock.now, make)
    assert views.get(snap, clock.advance(29), make) is first
    assert views.get(snap, clock.advance(2), make) is not first
    assert len(calls) == 2
