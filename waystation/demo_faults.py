"""The demo's fault plan: a few realistic faults on a schedule, so a first look at the
dashboard shows what the alarm inbox, the map colours and the station pages are for.

A healthy simulated fleet raises no alarm at all, so in a 10-minute demo the ops dashboard
had nothing to show. The plan plays, on a cycle, at four different stations (never the
station the demo's door page stands for):

- a station goes offline (power cut: the broker sends its will), and comes back;
- a fridge (冷鲜柜) warms to ~11 °C, then cools down again;
- a door is held open after someone left, then shut;
- a camera dies (no usable frames: codes cannot be read), then recovers.

The cloud rules wait 10 minutes before `station_offline` and 15 before `fridge_warm`; the
demo's monitor runs `demo_thresholds()`, the same rules with the waits shortened to
`DemoTimings.alarm_after_s`, and says so when it starts. Every action runs on the fleet's
scheduler thread (`Fleet.submit`), between visits, as the chaos runs do. Times are seconds.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from cloud.alarms.rules import THRESHOLDS, Threshold
from firmware_sim.sensors import SimSensor, warm_fridge

if TYPE_CHECKING:
    from firmware_sim.fleet import Fleet
    from firmware_sim.station import SimStation

log = logging.getLogger(__name__)

Kind = Literal["offline", "fridge_warm", "door_held_open", "camera_down"]
# The alarm each fault raises (cloud.alarms.rules).
RULE: dict[Kind, str] = {
    "offline": "station_offline",
    "fridge_warm": "fridge_warm",
    "door_held_open": "door_held_open",
    "camera_down": "camera_down",
}
WARM_BY_C = 7.0  # the fridge model sits at 4 °C: 11 °C is well past the 8 °C limit
DOOR_TICK_S = 2.0  # how often a held door's timer is looked at (the demo runs no door loop)


@dataclass(frozen=True, slots=True)
class DemoTimings:
    """The plan's clock, seconds. `first_s` after start the first fault begins, the next ones
    `gap_s` apart; each lasts `lasts_s`; the whole plan repeats every `cycle_s`."""

    first_s: float = 45.0
    gap_s: float = 30.0
    lasts_s: float = 240.0
    cycle_s: float = 600.0
    alarm_after_s: float = 60.0  # offline and warm-fridge alarms: after this, not 10/15 min


@dataclass(frozen=True, slots=True)
class Fault:
    kind: Kind
    sid: str
    start_s: float
    end_s: float

    @property
    def rule(self) -> str:
        return RULE[self.kind]


def plan(sids: list[str], timings: DemoTimings = DemoTimings()) -> list[Fault]:
    """One cycle's faults, each at its own station (the first sid, the door page's, is
    spared while there are enough others; with one station it takes them all in turn)."""
    kinds: tuple[Kind, ...] = ("offline", "fridge_warm", "door_held_open", "camera_down")
    pool = sids[1:] or sids
    out = []
    for i, kind in enumerate(kinds):
        start = timings.first_s + i * timings.gap_s
        out.append(Fault(kind, pool[i % len(pool)], start, start + timings.lasts_s))
    return out


def demo_thresholds(alarm_after_s: float) -> tuple[Threshold, ...]:
    """The cloud rules with the offline and warm-fridge waits cut to `alarm_after_s`."""
    out = []
    for rule in THRESHOLDS:
        if rule.name == "station_offline":
            rule = dataclasses.replace(rule, raise_above=alarm_after_s)
        elif rule.name == "fridge_warm":
            rule = dataclasses.replace(
                rule, raise_after_s=alarm_after_s, clear_after_s=alarm_after_s / 2
            )
        out.append(rule)
    return tuple(out)


def _fridge(station: SimStation) -> SimSensor:
    for sensor in station.environment:
        if isinstance(sensor, SimSensor) and sensor.name == "fridge_c":
            return sensor
    raise LookupError(f"{station.sid} has no fridge probe")


class FaultPlayer:
    """Plays `plan` on `fleet` from `start()` until `stop`: begins and ends each fault on
    time, cycle after cycle. `played` lists (cycle, kind, "begin"/"end") as they happened."""

    def __init__(self, fleet: Fleet, timings: DemoTimings, stop: threading.Event) -> None:
        self.fleet = fleet
        self.timings = timings
        self.stop = stop
        self.faults = plan([s.sid for s in fleet.stations], timings)
        self.played: list[tuple[int, Kind, str]] = []
        self._held: set[str] = set()  # stations whose door is held open now
        self._active: set[tuple[Kind, str]] = set()
        self._fridge_models: dict[str, Callable[[float], float]] = {}
        self._thread = threading.Thread(target=self._run, name="demo-faults", daemon=True)

    def start(self) -> FaultPlayer:
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _station(self, sid: str) -> SimStation:
        return next(s for s in self.fleet.stations if s.sid == sid)

    def _cycle(self) -> list[tuple[float, Fault, bool]]:
        """One cycle's moves, (seconds into the cycle, fault, begins?) in time order."""
        moves = [(f.start_s, f, True) for f in self.faults]
        moves += [(f.end_s, f, False) for f in self.faults]
        return sorted(moves, key=lambda move: move[0])

    def _run(self) -> None:
        t0 = time.monotonic()
        cycle = 0
        pending = self._cycle()
        next_tick = 0.0
        while not self.stop.is_set():
            now = time.monotonic() - t0 - cycle * self.timings.cycle_s
            while pending and pending[0][0] <= now:
                _, fault, begin = pending.pop(0)
                self._submit(cycle, fault, begin)
            if self._held and now >= next_tick:
                next_tick = now + DOOR_TICK_S
                for sid in list(self._held):
                    self.fleet.submit(self._station(sid).agent.poll_door)
            if not pending and now >= self.timings.cycle_s:
                cycle += 1
                pending = self._cycle()
            self.stop.wait(0.2)
        for fault in self.faults:  # leave nothing broken behind (the demo may run on)
            if (fault.kind, fault.sid) in self._active:
                self._submit(cycle, fault, False)

    def _submit(self, cycle: int, fault: Fault, begin: bool) -> None:
        station = self._station(fault.sid)
        action = self._begin if begin else self._end
        self.played.append((cycle, fault.kind, "begin" if begin else "end"))
        if begin:
            self._active.add((fault.kind, fault.sid))
        else:
            self._active.discard((fault.kind, fault.sid))
        log.info("demo fault %s %s at %s", fault.kind, "begins" if begin else "ends", fault.sid)
        self.fleet.submit(lambda: action(fault.kind, station))

    def _begin(self, kind: Kind, station: SimStation) -> None:
        if kind == "offline":
            station.kill()
        elif kind == "fridge_warm":
            fridge = _fridge(station)
            self._fridge_models.setdefault(station.sid, fridge.model)
            warm_fridge(fridge, WARM_BY_C)
        elif kind == "door_held_open":
            station.press_exit()  # someone leaves: the exit button releases the lock
            station.agent.poll_door()
            station.swing_door(is_open=True)  # … and the door is left open
            self._held.add(station.sid)
        else:
            station.freeze_camera(True)

    def _end(self, kind: Kind, station: SimStation) -> None:
        if kind == "offline":
            if station.killed:
                station.restart()
        elif kind == "fridge_warm":
            model = self._fridge_models.pop(station.sid, None)
            if model is not None:
                _fridge(station).model = model
        elif kind == "door_held_open":
            self._held.discard(station.sid)
            station.swing_door(is_open=False)
        else:
            station.freeze_camera(False)
