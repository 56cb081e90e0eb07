"""Fault plans (seeded, complete, non-overlapping) and their player."""

from __future__ import annotations

import itertools
import time

import pytest

from tests.support.wait import wait_for
from waystation.harness.faults import (
    ALL_KINDS,
    STATION_KINDS,
    Fault,
    FaultKind,
    FaultPlan,
    make_plan,
)
from waystation.harness.injector import FaultInjector

SIDS = [f"sz-{i:04d}" for i in range(1, 7)]


# --- plans ----------------------------------------------------------------------------------


def test_a_plan_is_reproducible_from_its_seed() -> None:
    a = make_plan(5, SIDS, 600)
    assert a == make_plan(5, SIDS, 600)
    assert a != make_plan(6, SIDS, 600)


@pytest.mark.parametrize(("seed", "duration"), [(1, 45), (2, 60), (3, 600), (4, 3600)])
def test_every_kind_plays_within_the_run_and_nothing_overlaps(seed: int, duration: int) -> None:
    plan = make_plan(seed, SIDS, duration, ingest_workers=2)
    assert plan.kinds() == set(ALL_KINDS)
    by_station: dict[str, list[Fault]] = {}
    shared: list[Fault] = []
    for f in plan.faults:
        assert f.at_s >= 0, f
        assert f.end_s < duration, f
        if f.kind in STATION_KINDS:
            assert f.station in SIDS
            by_station.setdefault(f.station, []).append(f)
        else:
            shared.append(f)
        if f.kind is FaultKind.CLOCK_SKEW:
            assert 20 <= abs(f.offset_s) <= 300  # within the cloud's 10-minute ahead limit
        if f.kind is FaultKind.FLAP:
            assert f.period_s >= 2
        if f.kind is FaultKind.INGEST_RESTART:
            assert f.worker in (0, 1)
    for faults in [*by_station.values(), shared]:
        faults.sort(key=lambda f: f.at_s)
        for before, after in itertools.pairwise(faults):
            assert before.end_s < after.at_s, (before, after)


def test_a_plan_refuses_what_it_cannot_do() -> None:
    with pytest.raises(ValueError, match="10 s"):
        make_plan(1, SIDS, 5)
    with pytest.raises(ValueError, match="station"):
        make_plan(1, [], 60)
    only = make_plan(1, [], 60, kinds=[FaultKind.BROKER_RESTART])
    assert only.kinds() == {FaultKind.BROKER_RESTART}


# --- the player -------------------------------------------------------------------------------


class FakeStation:
    def __init__(self, sid: str) -> None:
        self.sid = sid
        self.clock_offset_s = 0.0
        self.calls: list[str] = []
        self.cut = self.frozen = self.dead = False

    def kill(self) -> None:
        self.dead = True
        self.calls.append("kill")

    def restart(self) -> None:
        self.dead = False
        self.calls.append("restart")

    def partition(self, on: bool) -> None:
        self.cut = on
        self.calls.append(f"partition {on}")

    def reset_connection(self) -> None:
        self.calls.append("reset")

    def freeze_camera(self, on: bool) -> None:
        self.frozen = on
        self.calls.append(f"freeze {on}")


class FakeBroker:
    def __init__(self) -> None:
        self.restarts: list[float] = []

    def restart(self, *, kill: bool = False, down_s: float = 0.0) -> None:
        time.sleep(down_s)
        self.restarts.append(down_s)


class FakeIngest:
    workers = 2

    def __init__(self) -> None:
        self.calls: list[str] = []

    def kill(self, worker: int) -> None:
        self.calls.append(f"kill {worker}")

    def start(self, worker: int) -> None:
        self.calls.append(f"start {worker}")


def test_the_injector_plays_each_fault_and_heals_what_is_left() -> None:
    plan = FaultPlan(
        seed=0,
        duration_s=2,
        faults=[
            Fault(kind=FaultKind.KILL, at_s=0.0, duration_s=0.1, station="a"),
            Fault(kind=FaultKind.FLAP, at_s=0.0, duration_s=0.35, station="b", period_s=0.1),
            Fault(kind=FaultKind.CLOCK_SKEW, at_s=0.05, duration_s=0.1, station="c", offset_s=90),
            Fault(kind=FaultKind.BROKER_RESTART, at_s=0.05, duration_s=0.2),
            Fault(kind=FaultKind.INGEST_RESTART, at_s=0.1, duration_s=0.1, worker=3),
            # these outlast the timeline: heal_all must end them
            Fault(kind=FaultKind.PARTITION, at_s=0.0, duration_s=60, station="d"),
            Fault(kind=FaultKind.FREEZE_CAMERA, at_s=0.0, duration_s=60, station="e"),
            Fault(kind=FaultKind.KILL, at_s=0.0, duration_s=60, station="f"),
            Fault(kind=FaultKind.PARTITION, at_s=0.0, duration_s=1, station="nobody"),
        ],
    )
    stations = {s: FakeStation(s) for s in "abcdef"}
    broker, ingest = FakeBroker(), FakeIngest()
    injector = FaultInjector(plan, stations, broker=broker, ingest=ingest)
    assert [f.station for f in injector.skipped] == ["nobody"]
    injector.start()
    wait_for(lambda: len(injector.log) >= 16, 5, "16 faults logged")
    assert stations["a"].calls == ["kill", "restart"]
    # 3 cycles of 0.1 s: cut, heal; the third ends in a reset
    assert stations["b"].calls == ["partition True", "partition False"] * 2 + [
        "partition True",
        "reset",
        "partition False",
    ]
    assert stations["c"].clock_offset_s == 0.0
    assert "skew c +90s" in [a.name for a in injector.log]
    assert ingest.calls == ["kill 1", "start 1"]  # worker 3 of 2 wraps to 1
    assert stations["d"].cut
    assert stations["e"].frozen
    assert stations["f"].dead
    healed = injector.heal_all()
    assert sorted(healed) == ["heal d", "restart f", "unfreeze e"]
    assert not stations["d"].cut
    assert not stations["e"].frozen
    assert not stations["f"].dead
    assert broker.restarts == [0.2]
    assert all(a.ok for a in injector.log)
    assert injector.played == set(FaultKind)


def test_a_failing_fault_is_logged_and_the_plan_goes_on() -> None:
    class Broken(FakeStation):
        def kill(self) -> None:
            raise OSError("no such station")

    plan = FaultPlan(
        seed=0,
        duration_s=1,
        faults=[
            Fault(kind=FaultKind.KILL, at_s=0.0, duration_s=0.05, station="a"),
            Fault(kind=FaultKind.FREEZE_CAMERA, at_s=0.1, duration_s=0.05, station="b"),
        ],
    )
    stations = {"a": Broken("a"), "b": FakeStation("b")}
    injector = FaultInjector(plan, stations)
    injector.start()
    assert injector.wait(5)
    assert [(a.name, a.ok) for a in injector.log] == [
        ("kill a", False),
        ("restart a", True),
        ("freeze b", True),
        ("unfreeze b", True),
    ]
    assert "no such station" in injector.log[0].detail
