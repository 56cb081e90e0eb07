"""People of the overhead door scenes: who they are, how they walk, where they may walk.

Seen from above, a person is a shoulder ellipse (clothes: dark, bright, rider yellow or
blue, or close to the floor's grey) and a head (hair or a helmet), sometimes with a bag at
the side or under an umbrella. People walk alone or two or three side by side, walk up to the
line and turn back, stand about, cross after standing. `Variation` holds the generator's
settings (sizes, speeds, angles, contrast, spacing…); its defaults are the original scenes,
and a setting left at its default draws nothing from the generator, so those scenes stay the
same frame for frame. Geometry is in base pixels of a 320×240 view.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

BASE_W, BASE_H = 320, 240
LINE_Y = 120.0  # the counting line (base px), horizontal; the inside is below it
BAND = 10.0  # the counter's default hysteresis half-width, used to place turn-backs

# BGR clothes; "low" contrast is derived from the floor at render time.
CLOTHES = {
    "dark": [(40, 40, 45), (60, 50, 40), (30, 30, 70)],
    "bright": [(225, 225, 230), (200, 215, 235)],
    "rider": [(0, 200, 255), (230, 140, 20), (0, 120, 255)],  # yellow, blue, orange vests
}
HEADS = [(25, 25, 30), (40, 35, 30), (0, 210, 240), (235, 235, 235), (200, 120, 30)]
Range = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Variation:
    """Generator settings of a scene (defaults: the original scenes). Sizes are factors of
    an adult's 28 × 17 px shoulders at the base camera height; speeds in base px/s."""

    size: Range = (0.88, 1.12)  # body size factor: ~0.6 a child, ~1.35 a large adult
    zoom: float = 1.0  # camera height: apparent size and speed (1.3 = a lower camera)
    low_share: float = 0.2  # share of people dressed close to the floor's grey
    low_contrast: Range = (28.0, 28.0)  # their grey-level difference from the floor
    speed: Range = (60.0, 140.0)  # walkers; ~25 a shuffle, ~250 jogging
    angle_deg: float = 0.0  # walks up to this far off perpendicular to the line
    side_share: float = 0.0  # share of walkers who come in from the side of the view
    group_gap: Range = (0.0, 5.0)  # px between neighbours' shoulders (< 0: touching, pressed)
    three_share: float = 0.35  # share of groups of three (the rest are pairs)
    bag_share: float = 0.0  # share of people with a bag or backpack beside them
    umbrella_share: float = 0.0  # share of people under an umbrella (a big round disc)
    shadow_len: float = 1.0  # cast shadow offset factor (3 = a low lamp)
    shadow_k: Range = (0.15, 0.28)  # how much the shadow darkens the floor
    noise: float = 2.5  # sensor noise σ, grey levels
    jpeg: Range | None = None  # JPEG quality range per frame, None: uncompressed
    barrel: float = 0.0  # radial lens distortion k1 (0.2 = a wide lens's barrel)
    ir: bool = False  # the whole scene in IR mode (grey, low contrast)
    switches: int = 0  # extra lamp on/off switches during the scene


@dataclass(slots=True)
class Person:
    keys: list[tuple[float, float, float]]  # (t s, x, y) base px, piecewise linear
    scale: float  # body size factor (camera zoom included)
    clothes: tuple[float, float, float] | None  # None = low contrast (near the floor)
    low_sign: int  # low contrast: lighter (+1) or darker (-1) than the floor
    head: tuple[int, int, int]
    sway: float  # lateral sway amplitude, px
    phase: float
    low_level: float = 28.0  # low contrast: grey levels from the floor
    bag: tuple[float, tuple[int, int, int]] | None = None  # side (-1 left / +1 right), colour
    umbrella: tuple[int, int, int] | None = None  # colour of the umbrella over them

    @property
    def start(self) -> float:
        return self.keys[0][0]

    @property
    def end(self) -> float:
        return self.keys[-1][0]

    def at(self, t: float) -> tuple[float, float] | None:
        keys = self.keys
        if t < keys[0][0] or t > keys[-1][0]:
            return None
        for (t0, x0, y0), (t1, x1, y1) in itertools.pairwise(keys):
            if t0 <= t <= t1:
                u = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
                x = x0 + u * (x1 - x0)
                moving = abs(y1 - y0) > 1.0
                if moving:
                    x += self.sway * math.sin(2.0 * math.pi * 0.9 * t + self.phase)
                return x, y0 + u * (y1 - y0)
        return keys[-1][1], keys[-1][2]

    def heading(self, t: float) -> float:
        """Angle of the shoulders, degrees (0: along the line, walking straight across)."""
        for (t0, x0, y0), (t1, x1, y1) in itertools.pairwise(self.keys):
            if t0 <= t <= t1 and (x1 != x0 or y1 != y0):
                return math.degrees(math.atan2(-(x1 - x0), abs(y1 - y0) or 1e-6))
        return 0.0

    def side(self, index: int) -> int:
        return 1 if self.keys[index][2] > LINE_Y else -1

    @property
    def half_width(self) -> float:
        return 14.0 * self.scale


class Planner:
    """Places people on free lanes so nobody shares a lane with someone in view (with walks
    at an angle: nobody comes closer to anyone in view than their shoulders allow)."""

    def __init__(
        self,
        rng: np.random.Generator,
        blocked: list[tuple[float, float]],
        variation: Variation = Variation(),
    ) -> None:
        self.rng = rng
        self.people: list[Person] = []
        self.blocked = blocked  # time windows when nobody may be in view
        self.paths = variation.angle_deg > 0 or variation.side_share > 0

    def _free(self, candidates: list[Person]) -> bool:
        for c in candidates:
            for t0, t1 in self.blocked:
                if c.start < t1 and c.end > t0:
                    return False
            for p in self.people:
                overlap = c.start < p.end + 0.5 and p.start < c.end + 0.5
                if not overlap:
                    continue
                if self.paths:
                    if _closest(c, p) < c.half_width + p.half_width + 14.0:
                        return False
                    continue
                apart = abs(c.keys[0][1] - p.keys[0][1]) - c.half_width - p.half_width
                if apart < 14.0:
                    return False
        return True

    def place(self, make: Callable[[float, float], list[Person]], t: float) -> float:
        """Try lanes at `t`, then later; returns the start time used."""
        for delay in np.arange(0.0, 60.0, 0.5):
            for _ in range(8):
                lane = self.rng.uniform(60.0, BASE_W - 60.0)
                group = make(t + delay, lane)
                if self._free(group):
                    self.people += group
                    return t + delay
        raise RuntimeError("could not place a person")  # pragma: no cover


def _closest(a: Person, b: Person) -> float:
    """Nearest the two come while both are in view (sampled every 0.1 s), base px."""
    t0, t1 = max(a.start, b.start) - 0.5, min(a.end, b.end) + 0.5
    best = math.inf
    for t in np.arange(t0, t1 + 0.1, 0.1):
        pa = a.at(min(max(t, a.start), a.end))
        pb = b.at(min(max(t, b.start), b.end))
        if pa is not None and pb is not None:
            best = min(best, math.hypot(pa[0] - pb[0], pa[1] - pb[1]))
    return best


def _person(
    rng: np.random.Generator, keys: list[tuple[float, float, float]], v: Variation
) -> Person:
    low = v.low_share
    rest = (1.0 - low) / 0.8
    p = [0.3, 0.2, 0.3, 0.2] if low == 0.2 else [0.3 * rest, 0.2 * rest, 0.3 * rest, low]
    kind = rng.choice(["dark", "bright", "rider", "low"], p=p)
    clothes = None if kind == "low" else CLOTHES[kind][rng.integers(len(CLOTHES[kind]))]
    person = Person(
        keys=keys,
        scale=float(rng.uniform(*v.size)) * v.zoom,
        clothes=None if clothes is None else tuple(float(c) for c in clothes),
        low_sign=int(rng.choice([-1, 1])),
        head=HEADS[rng.integers(len(HEADS))],
        sway=float(rng.uniform(0.5, 2.5)),
        phase=float(rng.uniform(0, 2 * math.pi)),
    )
    if v.low_contrast[0] != v.low_contrast[1]:
        person.low_level = float(rng.uniform(*v.low_contrast))
    else:
        person.low_level = v.low_contrast[0]
    if v.bag_share > 0 and rng.random() < v.bag_share:
        colour = tuple(int(c) for c in rng.integers(20, 200, 3))
        person.bag = (float(rng.choice([-1.0, 1.0])), colour)  # type: ignore[assignment]
    if v.umbrella_share > 0 and rng.random() < v.umbrella_share:
        person.umbrella = tuple(int(c) for c in rng.integers(10, 240, 3))  # type: ignore[assignment]
    return person


def _edge_y(direction: int) -> tuple[float, float]:
    """(start y, end y) just outside the frame for walking in (+1, down) or out (-1)."""
    top, bottom = -25.0, BASE_H + 25.0
    return (top, bottom) if direction > 0 else (bottom, top)


def _walk(t: float, x: float, y0: float, y1: float, speed: float) -> list[tuple[float, ...]]:
    return [(t, x, y0), (t + abs(y1 - y0) / speed, x, y1)]


def _pace(v: Variation, usual: Range) -> Range:
    """Speed range of groups and hesitant walkers: `usual` in the original scenes, else the
    variation's walkers' range capped at a brisk walk (160 px/s)."""
    if v.speed == Variation().speed:
        return usual
    return (v.speed[0], min(v.speed[1], 160.0))


def _slant(rng: np.random.Generator, v: Variation) -> float:
    """dx per px of dy for a walk at an angle (0 when the variation has none)."""
    if v.angle_deg <= 0:
        return 0.0
    return math.tan(math.radians(rng.uniform(-v.angle_deg, v.angle_deg)))


def _path(t: float, x0: float, y0: float, x1: float, y1: float, speed: float) -> list:
    return [(t, x0, y0), (t + math.hypot(x1 - x0, y1 - y0) / speed, x1, y1)]


def walker(
    rng: np.random.Generator,
    t: float,
    lane: float,
    direction: int,
    v: Variation = Variation(),
) -> list[Person]:
    y0, y1 = _edge_y(direction)
    speed = rng.uniform(*v.speed) * v.zoom
    if v.side_share > 0 and rng.random() < v.side_share:
        # in from the left or right edge on their side of the line, turning towards the door
        # a little before it (a camera sees where they came from)
        x0 = -25.0 if rng.random() < 0.5 else BASE_W + 25.0
        ys = LINE_Y - direction * rng.uniform(45.0, 95.0)
        turn = LINE_Y - direction * rng.uniform(25.0, 35.0)
        keys = _path(t, x0, ys, lane, turn, speed)
        keys += _path(keys[-1][0], lane, turn, lane, y1, speed)[1:]
        return [_person(rng, keys, v)]
    slant = _slant(rng, v)
    if slant:
        half = 0.5 * slant * (y1 - y0)
        return [_person(rng, _path(t, lane - half, y0, lane + half, y1, speed), v)]
    return [_person(rng, _walk(t, lane, y0, y1, speed), v)]  # type: ignore[arg-type]


def group(
    rng: np.random.Generator,
    t: float,
    lane: float,
    direction: int,
    v: Variation = Variation(),
) -> list[Person]:
    """Two or three side by side, same pace, shoulders nearly touching."""
    n = int(rng.choice([2, 3], p=[1.0 - v.three_share, v.three_share]))
    y0, y1 = _edge_y(direction)
    speed = rng.uniform(*_pace(v, (60.0, 110.0))) * v.zoom
    slant = _slant(rng, v)
    people: list[Person] = []
    x = lane - (n - 1) * 15.0 * v.zoom
    for _ in range(n):
        lag = rng.uniform(-4.0, 4.0) * direction
        if slant:
            half = 0.5 * slant * (y1 - y0)
            keys = _path(t, x - half, y0 - lag, x + half, y1 - lag, speed)
            p = _person(rng, keys, v)
        else:
            p = _person(rng, _walk(t, x, y0 - lag, y1 - lag, speed), v)  # type: ignore[arg-type]
        people.append(p)
        x += 2 * p.half_width + rng.uniform(*v.group_gap)
    return people


def turn_back(
    rng: np.random.Generator,
    t: float,
    lane: float,
    direction: int,
    v: Variation = Variation(),
) -> list[Person]:
    """Walks up to the line (at most a little over it, never to the band's far edge), stops,
    goes back the way they came."""
    y0, _ = _edge_y(direction)
    stop = LINE_Y + direction * rng.uniform(-8.0, BAND - 5.0)
    speed = rng.uniform(*_pace(v, (50.0, 110.0))) * v.zoom
    there = t + abs(stop - y0) / speed
    wait = rng.uniform(0.3, 2.0)
    back = there + wait + abs(stop - y0) / speed
    keys = [(t, lane, y0), (there, lane, stop), (there + wait, lane, stop), (back, lane, y0)]
    return [_person(rng, keys, v)]


def linger(
    rng: np.random.Generator,
    t: float,
    lane: float,
    direction: int,
    v: Variation = Variation(),
) -> list[Person]:
    """Walks in, stands a while on their side (or on the line), then crosses or goes back."""
    y0, y1 = _edge_y(direction)
    stand = LINE_Y - direction * rng.uniform(-4.0, 60.0)
    speed = rng.uniform(*_pace(v, (50.0, 110.0))) * v.zoom
    there = t + abs(stand - y0) / speed
    wait = rng.uniform(2.0, 6.0)
    end_y = y1 if rng.random() < 0.6 else y0
    leave = there + wait + abs(end_y - stand) / speed
    keys = [(t, lane, y0), (there, lane, stand), (there + wait, lane, stand), (leave, lane, end_y)]
    return [_person(rng, keys, v)]


Kind = Callable[[np.random.Generator, float, float, int, Variation], list[Person]]

MIXES: dict[str, list[tuple[Kind, float]]] = {
    "singles": [(walker, 1.0)],
    "groups": [(group, 0.6), (walker, 0.4)],
    "turn_backs": [(turn_back, 0.35), (linger, 0.25), (walker, 0.4)],
    "lights": [(walker, 1.0)],
    "faults": [(walker, 1.0)],
    "mixed": [(walker, 0.45), (group, 0.25), (turn_back, 0.15), (linger, 0.15)],
}
SCENES = tuple(MIXES)
