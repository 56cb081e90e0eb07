"""Fault plans for chaos runs: what goes wrong when, drawn from a seeded RNG.

`make_plan(seed, sids, duration_s)` is pure: the same seed, stations and duration give the
same faults at the same offsets, so a failing chaos run can be replayed exactly (timing
inside the system still varies; the faults do not). Every kind in `kinds` appears at least
once; more are drawn at `per_minute`. Faults on one station never overlap, so "kill during a
partition" is not an accident of the draw; broker and ingest faults never overlap each
other either, so each one's effect can be read in the log.

The player is `waystation.harness.injector.FaultInjector`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class FaultKind(StrEnum):
    KILL = "kill"  # power cut: no clean stop, restarted later with its journal
    PARTITION = "partition"  # radio blackhole for minutes; the door keeps admitting members
    BROKER_RESTART = "broker_restart"  # Mosquitto restarted, persistence kept
    INGEST_RESTART = "ingest_restart"  # one `cloud ingest` SIGKILLed, started again
    CLOCK_SKEW = "clock_skew"  # the station's wall clock is off by offset_s
    FREEZE_CAMERA = "freeze_camera"  # no usable frame: camera_down, no admissions
    FLAP = "flap"  # connectivity drops every few seconds (cut, heal, sometimes reset)


STATION_KINDS = frozenset(
    {FaultKind.KILL, FaultKind.PARTITION, FaultKind.CLOCK_SKEW, FaultKind.FREEZE_CAMERA}
    | {FaultKind.FLAP}
)
ALL_KINDS: tuple[FaultKind, ...] = tuple(FaultKind)


class Fault(BaseModel):
    """One fault: starts `at_s` into the run and lasts `duration_s`."""

    model_config = ConfigDict(frozen=True)

    kind: FaultKind
    at_s: float = Field(ge=0)
    duration_s: float = Field(ge=0)
    station: str | None = None  # for station faults
    worker: int | None = None  # for ingest restarts: which worker
    offset_s: float = 0.0  # clock skew
    period_s: float = 0.0  # flap: seconds per cut + heal cycle

    @property
    def end_s(self) -> float:
        return self.at_s + self.duration_s


class FaultPlan(BaseModel):
    seed: int
    duration_s: float
    faults: list[Fault]

    def kinds(self) -> set[FaultKind]:
        return {f.kind for f in self.faults}


# Duration ranges in seconds, as shares of the run where a fixed range would not fit a short
# test run and a 10-minute benchmark alike. (low, high, cap as a share of the run)
_DURATIONS: dict[FaultKind, tuple[float, float, float]] = {
    FaultKind.KILL: (2.0, 12.0, 0.15),
    FaultKind.PARTITION: (15.0, 180.0, 0.3),
    FaultKind.BROKER_RESTART: (0.0, 3.0, 0.05),
    FaultKind.INGEST_RESTART: (2.0, 10.0, 0.1),
    FaultKind.CLOCK_SKEW: (10.0, 120.0, 0.25),
    FaultKind.FREEZE_CAMERA: (7.0, 40.0, 0.2),
    FaultKind.FLAP: (8.0, 45.0, 0.2),
}
# Faults start no later than this share of the run, so the last ones end before the run does.
_LATEST_START = 0.75


def _duration(kind: FaultKind, run_s: float, rng: random.Random) -> float:
    low, high, cap = _DURATIONS[kind]
    high = max(low, min(high, cap * run_s))
    return round(rng.uniform(low, high), 2)


def make_plan(
    seed: int,
    sids: Sequence[str],
    duration_s: float,
    *,
    kinds: Sequence[FaultKind] = ALL_KINDS,
    per_minute: float = 2.0,
    ingest_workers: int = 1,
) -> FaultPlan:
    """A reproducible plan of faults over `duration_s` seconds; every kind at least once."""
    if not sids and any(k in STATION_KINDS for k in kinds):
        raise ValueError("station faults need at least one station")
    if duration_s < 10:
        raise ValueError("a chaos run needs at least 10 s")
    rng = random.Random(f"waystation-chaos-{seed}")
    latest = _LATEST_START * duration_s
    # one of each kind first, spread over the run; then Poisson extras
    wanted: list[tuple[float, FaultKind]] = []
    for i, kind in enumerate(rng.sample(list(kinds), len(kinds))):
        slot = latest / len(kinds)
        wanted.append((round(i * slot + rng.uniform(0.05, 0.9) * slot, 2), kind))
    t = rng.expovariate(per_minute / 60.0) if per_minute > 0 else latest + 1
    while t < latest:
        wanted.append((round(t, 2), rng.choice(list(kinds))))
        t += rng.expovariate(per_minute / 60.0)
    wanted.sort()
    busy: dict[str, float] = {}  # station → when its last fault ends
    global_busy = 0.0  # broker and ingest faults: one at a time
    faults: list[Fault] = []
    for at, kind in wanted:
        duration = min(_duration(kind, duration_s, rng), duration_s - at - 1.0)
        if duration < 0:
            continue
        if kind in STATION_KINDS:
            free = [s for s in sids if busy.get(s, -1.0) < at]
            if not free:
                continue
            sid = rng.choice(free)
            busy[sid] = at + duration + 2.0  # a little quiet before the next fault there
            extra: dict[str, float] = {}
            if kind is FaultKind.CLOCK_SKEW:
                # minutes either way; never past the cloud's 10-minute "clock ahead" limit
                extra["offset_s"] = round(rng.choice((-1, 1)) * rng.uniform(20, 300), 1)
            elif kind is FaultKind.FLAP:
                extra["period_s"] = round(rng.uniform(2.0, 6.0), 2)
            faults.append(Fault(kind=kind, at_s=at, duration_s=duration, station=sid, **extra))
        else:
            if global_busy >= at:
                at = round(global_busy + 1.0, 2)
                duration = min(duration, duration_s - at - 1.0)
                if duration < 0 or at > latest:
                    continue
            global_busy = at + duration + 3.0
            worker = rng.randrange(ingest_workers) if kind is FaultKind.INGEST_RESTART else None
            faults.append(Fault(kind=kind, at_s=at, duration_s=duration, worker=worker))
    faults.sort(key=lambda f: f.at_s)
    return FaultPlan(seed=seed, duration_s=duration_s, faults=faults)
