"""Simulated two-beam doorway on gpiozero mock pins, with the exact in/out counts.

People are bodies of depth 0.2–0.4 m walking along the doorway axis (street at −x, station
at +x) through beam A at −spacing/2 and beam B at +spacing/2. A beam is broken while a body
covers it. Scenes mix single walkers both ways, people in a row (a step apart), people who
pause in the doorway, and people who turn back at a random point (they count nothing), and
every edge may ring for a few milliseconds (contact bounce). `play()` drives the pins in time
order on a `SimClock`, polling the counter as the footfall unit would.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from gpiozero.pins.mock import MockFactory

from edge.footfall.beam import BeamCounter
from edge.footfall.config import BeamConfig
from edge.footfall.crossing import Crossing, Direction
from firmware_sim.clock import SimClock

SPACING_M = 0.08  # beam A to beam B; closer than any body is deep
START_M = 1.0  # people appear this far from the doorway
STEP_S = 0.002  # sampling of body positions: edges are placed to 2 ms
POLL_S = 0.05  # how often `play()` polls the counter


@dataclass(frozen=True, slots=True)
class Walker:
    """One body's path: waypoints (t seconds, x metres of its centre), linear in between."""

    path: tuple[tuple[float, float], ...]
    depth: float
    truth: Direction | None  # None: turned back, counts nothing


@dataclass
class BeamScene:
    """Pin edges in time order plus what really happened."""

    edges: list[tuple[float, str, bool]] = field(default_factory=list)  # t, beam, broken
    entries: int = 0
    exits: int = 0
    walkers: list[Walker] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.edges[-1][0] if self.edges else 0.0


def _walk(t0: float, rng: random.Random, direction: Direction, *, pause: float = 0.0) -> Walker:
    sign = 1.0 if direction is Direction.IN else -1.0
    speed = rng.uniform(0.8, 1.8)
    depth = rng.uniform(0.2, 0.4)
    t_mid = t0 + START_M / speed
    path = [(t0, -sign * START_M), (t_mid, 0.0)]
    if pause:
        path.append((t_mid + pause, 0.0))
    path.append((path[-1][0] + START_M / speed, sign * START_M))
    return Walker(tuple(path), depth, direction)


def _turn_back(t0: float, rng: random.Random, direction: Direction) -> Walker:
    """Walks up, reaches some point short of clearing the far beam, hesitates, goes back."""
    sign = 1.0 if direction is Direction.IN else -1.0
    speed = rng.uniform(0.6, 1.4)
    depth = rng.uniform(0.2, 0.4)
    # the body's centre stops short of the point where its back would clear the far beam
    turn = rng.uniform(-depth / 2, SPACING_M / 2 + depth / 2 - 0.05)
    t_turn = t0 + (START_M + turn) / speed
    t_back = t_turn + rng.uniform(0.0, 1.5)
    path = ((t0, -sign * START_M), (t_turn, sign * turn), (t_back, sign * turn))
    path += ((t_back + (START_M + turn) / speed, -sign * START_M),)
    return Walker(path, depth, None)


def _edges(walkers: list[Walker], rng: random.Random, bounce_p: float) -> list[tuple]:
    """Beam states from every body, sampled every STEP_S, turned into (ringing) edges."""
    end = max(w.path[-1][0] for w in walkers) + 0.5
    grid = np.arange(0.0, end, STEP_S)
    out: list[tuple[float, str, bool]] = []
    for beam, x in (("a", -SPACING_M / 2), ("b", SPACING_M / 2)):
        broken = np.zeros(grid.size, dtype=bool)
        for w in walkers:
            ts, xs = zip(*w.path, strict=True)
            lo, hi = np.searchsorted(grid, [ts[0], ts[-1]])
            centre = np.interp(grid[lo:hi], ts, xs)
            broken[lo:hi] |= np.abs(centre - x) < w.depth / 2
        changes = np.flatnonzero(np.diff(broken.astype(np.int8))) + 1
        for i in changes:
            t, state = float(grid[i]), bool(broken[i])
            if rng.random() < bounce_p:  # the contact rings: state, !state, state, ... state
                for k in range(rng.choice((2, 4))):
                    out.append((t, beam, state if k % 2 == 0 else not state))
                    t += rng.uniform(0.001, 0.004)
            out.append((t, beam, state))
    out.sort(key=lambda e: e[0])
    return out


def make_scene(
    n: int,
    *,
    seed: int = 0,
    rows: float = 0.2,
    turn_backs: float = 0.1,
    pauses: float = 0.1,
    bounce_p: float = 0.3,
) -> BeamScene:
    """`n` arrivals: singles both ways, some in a row, some pausing, some turning back."""
    rng = random.Random(seed)
    walkers: list[Walker] = []
    t = 1.0
    while len(walkers) < n:
        direction = rng.choice((Direction.IN, Direction.OUT))
        roll = rng.random()
        if roll < turn_backs:
            walkers.append(_turn_back(t, rng, direction))
        elif roll < turn_backs + pauses:
            walkers.append(_walk(t, rng, direction, pause=rng.uniform(0.5, 3.0)))
        elif roll < turn_backs + pauses + rows:
            first = _walk(t, rng, direction)
            walkers.append(first)
            # the next person a step behind at the same pace: same path, `lag` seconds later
            speed = START_M / (first.path[1][0] - first.path[0][0])
            depth = rng.uniform(0.2, 0.4)
            lag = (first.depth / 2 + rng.uniform(0.1, 0.5) + depth / 2) / speed
            second = Walker(tuple((ts + lag, x) for ts, x in first.path), depth, direction)
            walkers.append(second)
        else:
            walkers.append(_walk(t, rng, direction))
        t = max(w.path[-1][0] for w in walkers) + rng.uniform(0.3, 3.0)
    scene = BeamScene(walkers=walkers)
    scene.edges = _edges(walkers, rng, bounce_p)
    scene.entries = sum(w.truth is Direction.IN for w in walkers)
    scene.exits = sum(w.truth is Direction.OUT for w in walkers)
    return scene


def play(
    scene: BeamScene,
    counter: BeamCounter,
    factory: MockFactory,
    clock: SimClock,
    *,
    on_poll: Callable[[list[Crossing]], None] | None = None,
) -> list[Crossing]:
    """Drive the scene's edges onto the mock pins in time order; returns every crossing."""
    config = counter.config
    pins = {"a": factory.pin(config.pin_a), "b": factory.pin(config.pin_b)}
    # broken = low with a pull-up (IR receivers), high without (PIRs)
    level = {True: not config.pull_up, False: config.pull_up}
    t0 = clock.monotonic()
    crossings: list[Crossing] = []
    next_poll = t0 + POLL_S

    def poll_until(t: float) -> None:
        nonlocal next_poll
        while next_poll <= t:
            clock.advance(max(0.0, next_poll - clock.monotonic()))
            got = counter.poll()
            crossings.extend(got)
            if on_poll is not None:
                on_poll(got)
            next_poll += POLL_S

    for at, beam, broken in scene.edges:
        poll_until(t0 + at)
        clock.advance(max(0.0, t0 + at - clock.monotonic()))
        pin = pins[beam]
        (pin.drive_high if level[broken] else pin.drive_low)()
    poll_until(clock.monotonic() + 1.0)
    return crossings


def beam_counter(
    config: BeamConfig | None = None, *, clock: SimClock | None = None
) -> tuple[BeamCounter, MockFactory, SimClock]:
    """A counter on fresh mock pins and a simulated clock, opened."""
    clock = clock or SimClock()
    factory = MockFactory()
    counter = BeamCounter(config or BeamConfig(), clock=clock.monotonic, pin_factory=factory)
    counter.open()
    return counter, factory, clock


def walk_through(factory: MockFactory, config: BeamConfig, direction: Direction) -> None:
    """One person through the doorway at once (edges microseconds apart: use `bounce_s=0`)."""
    pins = {"a": factory.pin(config.pin_a), "b": factory.pin(config.pin_b)}
    first, second = ("a", "b") if direction is Direction.IN else ("b", "a")
    broken, clear = (False, True) if config.pull_up else (True, False)  # pin levels
    for beam, level in ((first, broken), (second, broken), (first, clear), (second, clear)):
        (pins[beam].drive_high if level else pins[beam].drive_low)()
