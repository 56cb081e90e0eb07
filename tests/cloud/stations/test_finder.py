"""The API's fast nearby path: memoised hours give the same verdicts as evaluating, live state
is reused only for its TTL, digests judge to the microsecond as the liveness rule says, and
the plain rows have the public model's shape."""

from __future__ import annotations

import gc
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.models import Station, StationState
from cloud.stations import finder, livestates
from cloud.stations.index import PUBLIC_FIELDS, RegistryRow, Snapshot, StationIndex, load_snapshot
from cloud.stations.liveness import NEVER_HEARD, LivenessPolicy, digest, epoch_us, judge
from cloud.stations.opennow import assess
from tests.support import nearby_reference
from tests.support.wait import wait_for

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
            memoised = assess(row, state, now, policy, hours=livestates.HOURS.at(row, now))
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
    policy = LivenessPolicy()
    live = livestates.LiveStates(1.0, clock=ticks)
    with engine.connect() as conn:
        first = live.get(conn, ["st-a", "st-b"], policy)
        assert first["st-a"].occupancy == 1
        assert first["st-b"] == NEVER_HEARD  # no state row: never heard from
        set_state("st-a", status="online", occupancy=5)
        set_state("st-b", status="online", occupancy=2)
        ticks.t = 0.9
        cached = live.get(conn, ["st-a", "st-b"], policy)
        assert cached["st-a"].occupancy == 1
        assert cached["st-b"] == NEVER_HEARD
        ticks.t = 1.0
        fresh = live.get(engine, ["st-a", "st-b"], policy)  # an Engine: connects to read
        assert (fresh["st-a"].occupancy, fresh["st-b"].occupancy) == (5, 2)
        # Another policy judges differently: nothing made under the old one is reused.
        set_state("st-a", occupancy=6)
        assert live.get(conn, ["st-a"], LivenessPolicy(grace_intervals=5))["st-a"].occupancy == 6
    # TTL 0 (what tests of the API use) reads every time.
    live0 = livestates.LiveStates(0.0, clock=ticks)
    with engine.connect() as conn:
        live0.get(conn, ["st-a"], policy)
        set_state("st-a", occupancy=9)
        assert live0.get(conn, ["st-a"], policy)["st-a"].occupancy == 9


def test_live_states_forget_what_nobody_asked_for_in_two_periods(
    engine: Engine, add_station: Callable[..., Any], set_state: Callable[..., Any]
) -> None:
    # Story: memory stays at a couple of seconds of reads however many stations are asked for.
    for sid in ("st-a", "st-b", "st-c"):
        add_station(sid)
        set_state(sid, status="online", occupancy=1)
    ticks = Ticks()
    live = livestates.LiveStates(1.0, clock=ticks)
    policy = LivenessPolicy()
    with engine.connect() as conn:
        live.get(conn, ["st-a", "st-b"], policy)
        entry = live._new["st-a"]
        ticks.t = 1.5
        live.get(conn, ["st-c"], policy)
        assert len(live) == 3  # the previous period's reads are kept for their TTL
        ticks.t = 2.6
        live.get(conn, ["st-c"], policy)
        assert len(live) == 2  # st-a and st-b (read at 0) are gone; st-c twice
    # Cache entries are plain tuples of plain values, which the collector stops tracking:
    # tens of thousands of tracked cache entries made full collections ~0.25 s long.
    gc.collect()
    gc.collect()  # the first pass may meet the entry before the digest inside it
    assert type(entry[1]) is tuple
    assert not gc.is_tracked(entry[1])
    assert not gc.is_tracked(entry)


def _state_cases() -> list[dict[str, Any]]:
    """Live-state rows around every boundary `assess` has (times to the microsecond)."""
    us = timedelta(microseconds=1)
    cases: list[dict[str, Any]] = [
        {"status": None},
        {"status": ""},
        {"status": "unknown", "status_at": T0},
        {"status": "lost", "status_at": T0, "last_heartbeat": T0},
        {"status": "offline", "status_at": T0},
        {"status": "online", "status_at": None, "last_heartbeat": None},
        {"status": "weird", "status_at": T0},  # reported as online, like `liveness` does
    ]
    for status, door, lock, level in itertools.product(
        ("online", "degraded"),
        (None, "closed", "fault"),
        ("locked", "fault"),
        (None, "none", "warning", "blocking"),
    ):
        cases.append(
            {"status": status, "status_at": T0 - timedelta(hours=1), "last_heartbeat": T0,
             "heartbeat_interval_s": 30.0, "door": door, "lock": lock, "alarm_level": level}
        )  # fmt: skip
    for beat, at, interval in itertools.product(
        (None, T0, T0 + 7 * us), (None, T0 - us, T0 + 3 * us), (None, 0.0, 30.0, 0.3333333)
    ):
        cases.append(
            {"status": "online", "status_at": at, "last_heartbeat": beat,
             "heartbeat_interval_s": interval, "occupancy": 4}
        )  # fmt: skip
    return cases


def _times(policy: LivenessPolicy) -> list[datetime]:
    """Instants on and around the deadlines and grace ends of the cases above."""
    us = timedelta(microseconds=1)
    out = [T0 - timedelta(days=1), T0, T0 + timedelta(days=1)]
    for base in (T0 - us, T0, T0 + 3 * us, T0 + 7 * us):
        for interval in (policy.default_interval_s, 30.0, 0.3333333):
            deadline = base + timedelta(seconds=policy.grace_intervals * interval)
            grace = deadline + timedelta(seconds=policy.stale_open_grace_s)
            out += [deadline - us, deadline, deadline + us, grace - us, grace, grace + us]
    return out


def _spec(state: StationState, now: datetime, policy: LivenessPolicy) -> tuple[str, bool]:
    """(status, live) as the module docstring of `cloud.stations.liveness` words it, in
    datetimes."""
    if state.status in (None, "", "unknown"):
        return "unknown", False
    if state.status in ("lost", "offline"):
        return state.status, False
    alive = [t for t in (state.last_heartbeat, state.status_at) if t is not None]
    if not alive:
        return "stale", False
    interval = state.heartbeat_interval_s or policy.default_interval_s
    deadline = max(alive) + timedelta(seconds=policy.grace_intervals * interval)
    if now <= deadline:
        return ("degraded" if state.status == "degraded" else "online"), True
    return "stale", now <= deadline + timedelta(seconds=policy.stale_open_grace_s)


def test_digests_judge_as_the_rule_says_at_every_boundary() -> None:
    # Story: the nearby search judges from precomputed integers; a station must never be
    # shown open (or online) when the rule says otherwise, not even for a microsecond.
    station = Station(id="s", name="s", lat=31.23, lon=121.47, opening_hours="24/7")
    for policy in (LivenessPolicy(), LivenessPolicy(grace_intervals=2.5, stale_open_grace_s=0.5)):
        digester = finder.digester_for(policy)
        times = _times(policy)
        for fields in _state_cases():
            state = StationState(station_id="s", **fields)
            fast = digest(state, policy)
            alive = [t for t in (state.last_heartbeat, state.status_at) if t is not None]
            raw = digester(
                state.status, epoch_us(max(alive)) if alive else None,
                state.heartbeat_interval_s, state.door, state.lock, state.alarm_level, None,
                state.occupancy,
            )  # fmt: skip
            assert raw == fast, fields
            for now in times:
                status, live = _spec(state, now, policy)
                assert judge(fast, epoch_us(now)) == (status, live), (fields, now)
                a = assess(station, state, now, policy)
                blocked = (
                    state.status == "degraded"
                    or "fault" in (state.door, state.lock)
                    or state.alarm_level == "blocking"
                )
                agentless = status == "unknown"
                assert a.open_now == (agentless or (live and not blocked)), (fields, now)
    assert judge(NEVER_HEARD, epoch_us(T0)) == ("unknown", False)


def test_digests_read_from_the_database_equal_those_of_the_rows(
    engine: Engine, add_station: Callable[..., Any], set_state: Callable[..., Any]
) -> None:
    # Story: the search reads live state on the driver's own cursor (SQLite text timestamps,
    # PostgreSQL's named parameters); it must come out as the ORM rows do.
    policy = LivenessPolicy()
    cases = _state_cases()
    ids = [f"st-{i:03d}" for i in range(len(cases))]
    for sid, fields in zip(ids, cases, strict=True):
        add_station(sid)
        set_state(sid, **fields)
    add_station("st-none")
    with Session(engine) as s:
        expected = {sid: digest(s.get(StationState, sid), policy) for sid in ids}
    digester = finder.digester_for(policy)
    for source in (engine, engine.connect(), Session(engine)):
        got = livestates.read_digests(source, [*ids, "st-none"], digester)
        assert got == expected
        source.close() if not isinstance(source, Engine) else None
    # The one-row and many-row statements are compiled per count and reused.
    assert livestates.read_digests(engine, ids[:1], digester) == {ids[0]: expected[ids[0]]}


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
        reference = nearby_reference.nearby(s, policy=LivenessPolicy(), **kw)
    body = orjson.dumps({"stations": rows, "count": len(rows)}, option=orjson.OPT_UTC_Z)
    model = finder.NearbyResponse(stations=reference, count=len(reference))
    assert orjson.loads(body) == orjson.loads(model.model_dump_json())
    # Key order as the API has always sent it: id, the registry fields, the live ones.
    live = ["open_now", "basis", "reason", "status", "closes_at", "opens_at", "occupancy"]
    live += ["reported_locked_at", "maintenance_window", "next_maintenance", "distance_m"]
    assert list(rows[0]) == [*PUBLIC_FIELDS, *live]
    assert set(rows[0]) == set(finder.NearbyStation.model_fields)
    assert rows[0]["closes_at"] is not None
    assert body.count(b'Z"') >= 1


def test_index_checks_the_registry_off_the_request_path(
    engine: Engine, add_station: Callable[..., Any]
) -> None:
    # Story: a due registry check must not hold up searches (it stalled them ~60 ms every
    # 2 s); they keep the snapshot they have until the new one is swapped in.
    add_station("st-a")
    index = StationIndex(engine, refresh_s=0.01)
    assert index.snapshot_nowait() is None  # nothing loaded yet: the caller loads
    first = index.current()
    add_station("st-b")
    time.sleep(0.02)  # the check is due (refresh_s passes: the point of the test)
    assert index.snapshot_nowait() is first  # answered at once, from what it has

    def swapped() -> tuple[Snapshot | None] | None:
        """The snapshot once it is not `first` (one read: a later one would start a new check)."""
        snap = index.snapshot_nowait()
        return None if snap is first else (snap,)

    (snap,) = wait_for(swapped, 30, "the background check to swap", interval_s=0.01)
    assert snap is not None
    assert sorted(row[0] for row in snap.rows) == ["st-a", "st-b"]
    # refresh_s 0 (tests, the demo's API tests): callers check synchronously every time.
    assert StationIndex(engine, refresh_s=0).snapshot_nowait() is None
