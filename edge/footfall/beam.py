"""Two-beam direction counter: beam A on the street side, beam B on the station side.

Whoever walks through breaks both beams at once for a moment (mount them closer together than
a person is deep, 5–10 cm), so the order tells the direction: A then B is an entry, B then A
an exit. Each beam holds at most one body; a body is a *token* that remembers which side it
came from. A token that leaves the beams on the far side is a crossing; one that leaves on
its own side (backed out, turned round in the doorway) counts nothing. A second person
stepping into A while the first is still on B gets a token of their own, so two people in a
row count two.

The logic (`BeamLogic`) is pure and works on timestamped edges; `BeamCounter` wires it to
gpiozero inputs, whose callbacks only queue edges, and the footfall unit polls it. Contact
bounce is filtered in software too (gpiozero's mock pins do not debounce): an edge followed by
another on the same beam within `bounce_s` is dropped, which delays every edge by `bounce_s`.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from gpiozero import DigitalInputDevice
from gpiozero.pins import Factory

from edge.footfall.config import BeamConfig
from edge.footfall.crossing import Crossing, Direction

Beam = Literal["a", "b"]
_OTHER: dict[Beam, Beam] = {"a": "b", "b": "a"}
_SIDE: dict[Beam, Direction] = {"a": Direction.IN, "b": Direction.OUT}  # a token from A goes in
_LEAVES: dict[Beam, Direction] = {"b": Direction.IN, "a": Direction.OUT}  # leaving by B: went in


@dataclass(eq=False, slots=True)
class _Token:
    """One body in the beams; `direction` is where it is heading if it goes through."""

    direction: Direction
    since: float
    pending: Crossing | None = None  # a crossing this body's next move decides (see _commit)


@dataclass(frozen=True, slots=True)
class Edge:
    beam: Beam
    broken: bool
    at: float  # monotonic seconds


class BeamLogic:
    """Edges in, crossings out; no pins, no threads, no clock of its own."""

    def __init__(self, config: BeamConfig) -> None:
        self.config = config
        self._raw: list[Edge] = []  # not yet past the bounce filter, in time order
        self._state: dict[Beam, bool] = {"a": False, "b": False}
        self._since: dict[Beam, float] = {"a": 0.0, "b": 0.0}  # last committed change
        self._occ: dict[Beam, _Token | None] = {"a": None, "b": None}
        self.abandoned = 0  # tokens dropped by the timeout (someone lingered, a bag)
        self.bounces = 0

    # --- input -------------------------------------------------------------------------------

    def edge(self, beam: Beam, broken: bool, at: float) -> None:
        """Queue a raw edge; `poll()` turns settled edges into crossings."""
        self._raw.append(Edge(beam, broken, at))

    def poll(self, now: float) -> list[Crossing]:
        """Commit every edge that has settled by `now`, then apply the timeout."""
        out: list[Crossing] = []
        bounce = self.config.bounce_s
        while self._raw:
            first = self._raw[0]
            later = next((e for e in self._raw[1:] if e.beam == first.beam), None)
            if later is None and now - first.at < bounce:
                break  # may still be a bounce
            self._raw.pop(0)
            if later is not None and later.at - first.at < bounce:
                self.bounces += 1
                continue
            if first.broken != self._state[first.beam]:
                out += self._commit(first)
        self._expire(now)
        return out

    # --- state -------------------------------------------------------------------------------

    def is_broken(self, beam: Beam) -> bool:
        return self._state[beam]

    def broken_for(self, beam: Beam, now: float) -> float:
        """How long `beam` has been continuously broken (0 if it is clear)."""
        return now - self._since[beam] if self._state[beam] else 0.0

    @property
    def busy(self) -> bool:
        """Someone is in the beams right now (the aggregator never re-zeroes then)."""
        return self._state["a"] or self._state["b"]

    def _commit(self, e: Edge) -> list[Crossing]:
        beam, other = e.beam, _OTHER[e.beam]
        self._state[beam] = e.broken
        self._since[beam] = e.at
        if e.broken:
            held = self._occ[other]
            if held is not None and self._state[other] and held.direction is _SIDE[other]:
                # the body on the other beam came from beyond it and now reaches this one;
                # if it carried a deferred crossing, that one was a different person: count it
                self._occ[beam] = held
                done, held.pending = held.pending, None
                return [] if done is None else [done]
            self._occ[beam] = _Token(_SIDE[beam], e.at)
            return []
        token, self._occ[beam] = self._occ[beam], None
        if token is None or self._occ[other] is token:
            return []  # stepped off this beam but is still on the other one
        if token.direction is not _LEAVES[beam]:
            token.pending = None  # backed out the way it came: whatever it carried was it
            return []
        crossing = Crossing(token.direction, e.at, 1, "beam")
        behind = self._occ[other]
        if behind is not None and behind.direction is token.direction:
            # Someone stepped onto the entry beam after this body had left it. Either a second
            # person (then this one went through) or this same person stepping back. Undecidable
            # now: the second body decides it by reaching this beam (count) or backing out.
            behind.pending = crossing
            return []
        return [crossing]

    def _expire(self, now: float) -> None:
        timeout = self.config.timeout_s
        for beam in ("a", "b"):
            token = self._occ[beam]  # type: ignore[index]
            if token is not None and now - token.since > timeout:
                self.abandoned += 1
                for b in ("a", "b"):
                    if self._occ[b] is token:  # type: ignore[index]
                        self._occ[b] = None  # type: ignore[index]


class BeamCounter:
    """Two gpiozero inputs → `BeamLogic`. `poll()` from one thread; callbacks only queue."""

    def __init__(
        self,
        config: BeamConfig,
        *,
        clock: Callable[[], float],
        pin_factory: Factory | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.pin_factory = pin_factory
        self.logic = BeamLogic(config)
        self._edges: queue.SimpleQueue[Edge] = queue.SimpleQueue()
        self._devices: list[DigitalInputDevice] = []
        self._lock = threading.Lock()

    def open(self) -> None:
        with self._lock:
            if self._devices:
                return
            for beam, pin in (("a", self.config.pin_a), ("b", self.config.pin_b)):
                device = DigitalInputDevice(
                    pin,
                    pull_up=self.config.pull_up,
                    bounce_time=self.config.bounce_s or None,
                    pin_factory=self.pin_factory,
                )
                device.when_activated = self._callback(beam, broken=True)  # type: ignore[arg-type]
                device.when_deactivated = self._callback(beam, broken=False)  # type: ignore[arg-type]
                self._devices.append(device)
                if device.is_active:  # broken at start: take it as the starting state
                    self.logic.edge(beam, True, self.clock())  # type: ignore[arg-type]

    def close(self) -> None:
        with self._lock:
            devices, self._devices = self._devices, []
        for device in devices:
            device.close()

    def _callback(self, beam: Beam, *, broken: bool) -> Callable[[], None]:
        def on_edge() -> None:
            self._edges.put(Edge(beam, broken, self.clock()))

        return on_edge

    def poll(self, now: float | None = None) -> list[Crossing]:
        """Crossings completed since the last poll (each beam edge is `bounce_s` late)."""
        while True:
            try:
                e = self._edges.get_nowait()
            except queue.Empty:
                break
            self.logic.edge(e.beam, e.broken, e.at)
        return self.logic.poll(self.clock() if now is None else now)

    @property
    def busy(self) -> bool:
        return self.logic.busy

    def degraded(self, now: float | None = None) -> str | None:
        """Why the counts cannot be trusted (a beam blocked for minutes), or None."""
        at = self.clock() if now is None else now
        for beam in ("a", "b"):
            held = self.logic.broken_for(beam, at)  # type: ignore[arg-type]
            if held >= self.config.blocked_after_s:
                return f"beam {beam} blocked for {held:.0f} s"
        return None
