"""The player of a fault plan (`waystation.harness.faults`).

`FaultInjector` plays a plan against anything with the small interfaces below (the chaos
run's or the fleet's stations, a `MosquittoProcess`, an ingest pool) on one thread; slow
actions (a broker or ingest restart waits for the process) run on their own threads so the
timeline stays on time. `heal_all()` ends whatever is still active: the settle period starts
from a clean state. Every action taken is recorded in `log` with its offset.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from waystation.harness.faults import STATION_KINDS, Fault, FaultKind, FaultPlan

log = logging.getLogger(__name__)


# --- what the injector drives ------------------------------------------------------------------


@runtime_checkable
class FaultableStation(Protocol):
    """A simulated station that can suffer faults (firmware_sim.fleet's stations provide it)."""

    sid: str
    clock_offset_s: float

    def kill(self) -> None: ...
    def restart(self) -> None: ...
    def partition(self, on: bool) -> None: ...
    def reset_connection(self) -> None: ...
    def freeze_camera(self, on: bool) -> None: ...


class Broker(Protocol):
    def restart(self, *, kill: bool = False, down_s: float = 0.0) -> object: ...


class IngestControl(Protocol):
    workers: int

    def kill(self, worker: int) -> None: ...
    def start(self, worker: int) -> None: ...


@dataclass(order=True)
class _Action:
    at_s: float
    order: int
    name: str = field(compare=False)
    run: Callable[[], None] = field(compare=False)
    slow: bool = field(default=False, compare=False)


@dataclass
class Applied:
    at_s: float
    name: str
    ok: bool
    detail: str = ""


class FaultInjector:
    """Plays a `FaultPlan`; `start()` returns at once, `heal_all()` ends every active fault."""

    def __init__(
        self,
        plan: FaultPlan,
        stations: Mapping[str, FaultableStation],
        *,
        broker: Broker | None = None,
        ingest: IngestControl | None = None,
    ) -> None:
        self.plan = plan
        self.stations = stations
        self.broker = broker
        self.ingest = ingest
        self.log: list[Applied] = []
        self.skipped: list[Fault] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._slow: list[threading.Thread] = []
        self._t0 = 0.0
        self._partitioned: set[str] = set()
        self._frozen: set[str] = set()
        self._skewed: set[str] = set()
        self._killed: set[str] = set()
        self._ingest_down: set[int] = set()
        self._actions = self._build()

    # --- timeline -----------------------------------------------------------------------------

    def _build(self) -> list[_Action]:
        actions: list[_Action] = []
        n = 0

        def add(at: float, name: str, run: Callable[[], None], slow: bool = False) -> None:
            nonlocal n
            actions.append(_Action(at, n, name, run, slow))
            n += 1

        for f in self.plan.faults:
            sid = f.station
            if f.kind in STATION_KINDS and (sid is None or sid not in self.stations):
                self.skipped.append(f)
                continue
            if f.kind is FaultKind.KILL:
                assert sid is not None
                add(f.at_s, f"kill {sid}", lambda s=sid: self._kill(s))
                add(f.end_s, f"restart {sid}", lambda s=sid: self._restart(s))
            elif f.kind is FaultKind.PARTITION:
                assert sid is not None
                add(f.at_s, f"partition {sid}", lambda s=sid: self._partition(s, True))
                add(f.end_s, f"heal {sid}", lambda s=sid: self._partition(s, False))
            elif f.kind is FaultKind.FLAP:
                assert sid is not None
                t, cycle = f.at_s, 0
                while t + f.period_s <= f.end_s:
                    cut_for = f.period_s * 0.5
                    add(t, f"flap-cut {sid}", lambda s=sid: self._partition(s, True))
                    # every third cycle ends in a reset (NAT rebinding) rather than a heal
                    reset = cycle % 3 == 2
                    add(t + cut_for, f"flap-heal {sid}", lambda s=sid, r=reset: self._heal(s, r))
                    t += f.period_s
                    cycle += 1
            elif f.kind is FaultKind.CLOCK_SKEW:
                assert sid is not None
                add(
                    f.at_s,
                    f"skew {sid} {f.offset_s:+.0f}s",
                    lambda s=sid, o=f.offset_s: self._skew(s, o),
                )
                add(f.end_s, f"unskew {sid}", lambda s=sid: self._skew(s, 0.0))
            elif f.kind is FaultKind.FREEZE_CAMERA:
                assert sid is not None
                add(f.at_s, f"freeze {sid}", lambda s=sid: self._freeze(s, True))
                add(f.end_s, f"unfreeze {sid}", lambda s=sid: self._freeze(s, False))
            elif f.kind is FaultKind.BROKER_RESTART:
                if self.broker is None:
                    self.skipped.append(f)
                    continue
                add(f.at_s, "broker restart", lambda d=f.duration_s: self._broker(d), slow=True)
            elif f.kind is FaultKind.INGEST_RESTART:
                if self.ingest is None or self.ingest.workers == 0:
                    self.skipped.append(f)
                    continue
                w = (f.worker or 0) % self.ingest.workers
                add(f.at_s, f"ingest kill {w}", lambda w=w: self._ingest_kill(w))
                add(f.end_s, f"ingest start {w}", lambda w=w: self._ingest_start(w), slow=True)
        return sorted(actions)

    @property
    def played(self) -> set[FaultKind]:
        """Kinds of the plan that can be played here (not skipped)."""
        skipped = {id(f) for f in self.skipped}
        return {f.kind for f in self.plan.faults if id(f) not in skipped}

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="chaos-faults", daemon=True)
        self._thread.start()

    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every action was played; True if so."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        self.wait(10)
        for t in self._slow:
            t.join(30)

    def _run(self) -> None:
        for action in self._actions:
            delay = action.at_s - self.elapsed()
            if delay > 0 and self._stop.wait(delay):
                return
            if action.slow:
                thread = threading.Thread(
                    target=self._do, args=(action,), name=f"chaos-{action.name}", daemon=True
                )
                self._slow.append(thread)
                thread.start()
            else:
                self._do(action)
        for t in self._slow:
            t.join(60)

    def _do(self, action: _Action) -> None:
        at = self.elapsed()
        try:
            action.run()
        except Exception as exc:  # a fault that cannot be applied is logged, never fatal
            log.exception("chaos: %s failed", action.name)
            self._record(at, action.name, False, f"{type(exc).__name__}: {exc}")
            return
        self._record(at, action.name, True)

    def _record(self, at: float, name: str, ok: bool, detail: str = "") -> None:
        with self._lock:
            self.log.append(Applied(round(at, 2), name, ok, detail))
        log.info("chaos %7.2f s: %s%s", at, name, "" if ok else f" FAILED {detail}")

    # --- actions ------------------------------------------------------------------------------

    def _kill(self, sid: str) -> None:
        self.stations[sid].kill()
        self._killed.add(sid)

    def _restart(self, sid: str) -> None:
        self.stations[sid].restart()
        self._killed.discard(sid)

    def _partition(self, sid: str, on: bool) -> None:
        self.stations[sid].partition(on)
        (self._partitioned.add if on else self._partitioned.discard)(sid)

    def _heal(self, sid: str, reset: bool) -> None:
        station = self.stations[sid]
        if reset:
            station.reset_connection()
        station.partition(False)
        self._partitioned.discard(sid)

    def _skew(self, sid: str, offset: float) -> None:
        self.stations[sid].clock_offset_s = offset
        (self._skewed.add if offset else self._skewed.discard)(sid)

    def _freeze(self, sid: str, on: bool) -> None:
        self.stations[sid].freeze_camera(on)
        (self._frozen.add if on else self._frozen.discard)(sid)

    def _broker(self, down_s: float) -> None:
        assert self.broker is not None
        self.broker.restart(down_s=down_s)

    def _ingest_kill(self, worker: int) -> None:
        assert self.ingest is not None
        self.ingest.kill(worker)
        self._ingest_down.add(worker)

    def _ingest_start(self, worker: int) -> None:
        assert self.ingest is not None
        self.ingest.start(worker)
        self._ingest_down.discard(worker)

    def heal_all(self) -> list[str]:
        """Stop the timeline and end every active fault; returns what was healed."""
        self.stop()
        healed: list[str] = []
        steps: list[tuple[str, Callable[[], None]]] = []
        steps += [
            (f"heal {s}", lambda s=s: self._partition(s, False)) for s in sorted(self._partitioned)
        ]
        steps += [
            (f"unfreeze {s}", lambda s=s: self._freeze(s, False)) for s in sorted(self._frozen)
        ]
        steps += [(f"unskew {s}", lambda s=s: self._skew(s, 0.0)) for s in sorted(self._skewed)]
        steps += [(f"restart {s}", lambda s=s: self._restart(s)) for s in sorted(self._killed)]
        steps += [
            (f"ingest start {w}", lambda w=w: self._ingest_start(w))
            for w in sorted(self._ingest_down)
        ]
        for name, run in steps:
            self._do(_Action(self.elapsed(), 0, name, run))
            healed.append(name)
        return healed
