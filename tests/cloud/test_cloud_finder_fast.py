"""The API's fast nearby path: memoised hours judge exactly as `cloud.liveness.assess`, live
state is reused only for its TTL, and the plain rows have the public model's shape."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Engine
from sqlmodel import Session

from cloud import finder
from cloud.liveness import LivenessPolicy, assess
from cloud.models import Station, StationState
from cloud.nearby import RegistryRow, load_snapshot

T0 = datetime(2025, 6, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
HOURS = ["24/7", "Mo-Su 08:00-20:00", "Mo-Fr 09:00-10:30", "Mo-Su 20:00-23:00; PH off", "nope"]
STATES: list[dict[str, Any] | None] = [
    None,
    {"status": "online", "status_at": T0, "last_heartbeat": T0, "heartbeat_interval_s": 30.0},
    {"status": "online", "status_at": T0, "door": "fault"},
    {"status": "degraded", "status_at": T0, "last_heartbeat": T0},
    {"status": "lost", "status_at": T0},
    {"status": "offline", "status_at": T0},
    {"status": "online", "status_at": None, "last_heartbeat": None},
]


def test_memoised_hours_give_the_same_assessment_as_evaluating_over_hours_states_and_time() -> None:
    # Story: the finder reuses hours through a memo; it must never disagree with evaluating.
    policy = LivenessPolicy()
    # Forward in 23-minute steps over two days (crossing every opening and closing), then
    # backwards, so memo entries are both reused and refused.
    times = [T0 + timedelta(minutes=23 * i) for i in range(2 * 24 * 60 // 23)]
    times += times[::-1]
    cases = []
    for hours, maintenance, fields in itertools.product(HOURS, (False, True), STATES):
        station = Station(
            id="s", name="s", lat=31.23, lon=121.47, opening_hours=hours, tz="Asia/Shanghai",
            maintenance=maintenance,
        )  # fmt: skip
        row = RegistryRow(
            "s", "s", 31.23, 121.47, (), hours, "", "", "", "Asia/Shanghai", None, maintenance
        )
        state = None if fields is None else StationState(station_id="s", **fields)
        cases.append((station, row, state))
    for now in times:
        for station, row, state in cases:
            expected = assess(station, state, now, policy)
            memoised = assess(row, state, now, policy, hours=finder.HOURS.at(row, now))
            assert memoised == expected, (row, state, now)


class Ticks:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_live_states_are_reused_for_the_ttl_only(
    engine: Engine, add_station: Callable[..., Any], set_state: Callable[..., Any]
) -> None:
    add_station("st-a")
    add_station("st-b")
    set_state("st-a", status="online", occupancy=1)
    ticks = Ticks()
    live = finder.LiveStates(1.0, clock=ticks)
    with engine.connect() as conn:
        first = live.get(conn, ["st-a", "st-b"])
        assert first["st-a"].occupancy == 1
        assert "st-b" not in first  # no state row: never heard from
        set_state("st-a", status="online", occupancy=5)
        set_state("st-b", status="online", occupancy=2)
        ticks.t = 0.9
        cached = live.get(conn, ["st-a", "st-b"])
        assert cached["st-a"].occupancy == 1
        assert "st-b" not in cached
        ticks.t = 1.0
        fresh = live.get(conn, ["st-a", "st-b"])
        assert (fresh["st-a"].occupancy, fresh["st-b"].occupancy) == (5, 2)
    # TTL 0 (what tests of the API use) reads every time.
    live0 = finder.LiveStates(0.0, clock=ticks)
    with engine.connect() as conn:
        live0.get(conn, ["st-a"])
        set_state("st-a", occupancy=9)
        assert live0.get(conn, ["st-a"])["st-a"].occupancy == 9


def test_rows_serialise_like_the_public_model(
    engine: Engine,
    add_station: Callable[..., Any],
    set_state: Callable[..., Any],
) -> None:
    add_station("st-1", opening_hours="Mo-Su 08:00-20:00", amenities=["water", "fridge"])
    add_station("st-2", lat=31.2310, capacity=4)
    set_state("st-1", status="online", status_at=T0, last_heartbeat=T0, occupancy=3)
    snap = load_snapshot(engine)
    kw: dict[str, Any] = dict(lat=31.2304, lon=121.4737, radius_m=1_000, now=T0)
    with engine.connect() as conn:
        rows = finder.nearby_rows(conn, snap, policy=LivenessPolicy(), **kw)
    with Session(engine) as s:
        reference = finder.nearby(s, policy=LivenessPolicy(), **kw)
    body = orjson.dumps({"stations": rows, "count": len(rows)}, option=orjson.OPT_UTC_Z)
    model = finder.NearbyResponse(stations=reference, count=len(reference))
    assert orjson.loads(body) == orjson.loads(model.model_dump_json())
    assert rows[0]["closes_at"] is not None
    assert body.count(b'Z"') >= 1
