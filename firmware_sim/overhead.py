"""Rendered overhead video of people walking through a station door, with exact ground truth.

Seen from above, a person is a shoulder ellipse (clothes: dark, bright, rider yellow or
blue, or close to the floor's grey) and a head (hair or a helmet), with a soft shadow
offset by the light. People walk alone or two or three side by side, walk up to the line and
turn back, stand about, cross after standing. Lighting drifts (day → night), switches (IR
mode: grey with another gain and more noise; the lights going on), the sensor adds noise,
and fault segments play a frozen camera or a burst of noise.

A `Scene` is seeded (numpy Generator) and deterministic: `frames()` yields the same frames
for the same seed, and `truth` counts entries and exits from each person's first and last
position (an entry ends on the inside point's side). Geometry is planned on a 320×240 base
and drawn at any `size` (same 4:3 shape scaled). People never occupy the same lane at the
same time, and nobody is in view while a fault plays (so the truth is what a camera could
see); `busy_faults=True` lifts that for the "no burst of false counts" tests.

One module on purpose (~500 lines): people, lighting and faults are planned from one
seeded generator in one order, and the ground truth is counted from that same plan.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

BASE_W, BASE_H = 320, 240
FPS = 10.0
LINE_Y = 120.0  # the counting line (base px), horizontal; the inside is below it
BAND = 10.0  # the counter's default hysteresis half-width, used to place turn-backs

# BGR clothes; "low" contrast is derived from the floor at render time.
CLOTHES = {
    "dark": [(40, 40, 45), (60, 50, 40), (30, 30, 70)],
    "bright": [(225, 225, 230), (200, 215, 235)],
    "rider": [(0, 200, 255), (230, 140, 20), (0, 120, 255)],  # yellow, blue, orange vests
}
HEADS = [(25, 25, 30), (40, 35, 30), (0, 210, 240), (235, 235, 235), (200, 120, 30)]


@dataclass(frozen=True, slots=True)
class Truth:
    entries: int
    exits: int


@dataclass(slots=True)
class Person:
    keys: list[tuple[float, float, float]]  # (t s, x, y) base px, piecewise linear
    scale: float  # body size factor
    clothes: tuple[float, float, float] | None  # None = low contrast (near the floor)
    low_sign: int  # low contrast: lighter (+1) or darker (-1) than the floor
    head: tuple[int, int, int]
    sway: float  # lateral sway amplitude, px
    phase: float

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

    def side(self, index: int) -> int:
        return 1 if self.keys[index][2] > LINE_Y else -1

    @property
    def half_width(self) -> float:
        return 14.0 * self.scale


@dataclass(frozen=True, slots=True)
class Lighting:
    """Gain and mode as functions of time: day drift, dusk, IR mode, lights switched on."""

    dusk: tuple[float, float] | None = None  # gain falls 1 → 0.35 between these times
    ir_from: float | None = None  # IR camera mode from then (grey, other gain, more noise)
    lights_on: float | None = None  # a lamp switches on (IR mode ends, new light pattern)

    def gain(self, t: float) -> float:
        g = 1.0 + 0.04 * math.sin(t / 7.0)  # cloud and auto-exposure drift
        if self.dusk is not None:
            t0, t1 = self.dusk
            g *= 1.0 - 0.65 * min(1.0, max(0.0, (t - t0) / (t1 - t0)))
        if self.ir_from is not None and t >= self.ir_from:
            g = 0.8
        if self.lights_on is not None and t >= self.lights_on:
            g = 1.05
        return g

    def ir(self, t: float) -> bool:
        return (
            self.ir_from is not None
            and t >= self.ir_from
            and (self.lights_on is None or t < self.lights_on)
        )

    def lamp(self, t: float) -> bool:
        return self.lights_on is not None and t >= self.lights_on

    def switches(self) -> list[float]:
        return [t for t in (self.ir_from, self.lights_on) if t is not None]


@dataclass(slots=True)
class Scene:
    name: str
    seed: int
    size: tuple[int, int]
    fps: float
    duration_s: float
    people: list[Person]
    lighting: Lighting = field(default_factory=Lighting)
    faults: list[tuple[str, float, float]] = field(default_factory=list)  # kind, t0, t1
    noise: float = 2.5

    @property
    def scale(self) -> float:
        return self.size[0] / BASE_W

    @property
    def line(self) -> tuple[float, float, float, float]:
        """The counting line in this video's pixels."""
        s = self.scale
        return (0.0, LINE_Y * s, self.size[0] - 1.0, LINE_Y * s)

    @property
    def inside(self) -> tuple[float, float]:
        return (self.size[0] / 2.0, self.size[1] * 0.9)

    @property
    def truth(self) -> Truth:
        entries = sum(1 for p in self.people if p.side(0) < 0 < p.side(-1))
        exits = sum(1 for p in self.people if p.side(0) > 0 > p.side(-1))
        return Truth(entries, exits)

    def crossings(self) -> list[tuple[float, int]]:
        """(time, +1 entry / -1 exit) of every crossing, for people who end on the other side:
        when they last leave the strip of ±`BAND` around the line (someone who stood on the
        line has crossed when they walk off it)."""
        out: list[tuple[float, int]] = []
        for p in self.people:
            if p.side(0) == p.side(-1):
                continue
            last = 0.0
            lo, hi = LINE_Y - BAND, LINE_Y + BAND
            for (t0, _, y0), (t1, _, y1) in itertools.pairwise(p.keys):
                if y0 == y1:
                    last = t1 if lo <= y0 <= hi else last
                    continue
                # when this segment is within the strip: y(t) is linear; clip to [t0, t1]
                ta, tb = sorted(t0 + (edge - y0) / (y1 - y0) * (t1 - t0) for edge in (lo, hi))
                if tb >= t0 and ta <= t1:
                    last = min(tb, t1)
            out.append((last, p.side(-1)))
        return sorted(out)

    @property
    def frame_count(self) -> int:
        return int(self.duration_s * self.fps)

    def times(self) -> Iterator[float]:
        for i in range(self.frame_count):
            yield i / self.fps

    def frames(self) -> Iterator[np.ndarray]:
        """BGR uint8 frames, deterministic for the seed."""
        rng = np.random.default_rng([self.seed, 1])
        painter = _Painter(self, np.random.default_rng([self.seed, 2]))
        last: np.ndarray | None = None
        for t in self.times():
            fault = next((k for k, t0, t1 in self.faults if t0 <= t < t1), None)
            if fault == "frozen" and last is not None:
                yield last.copy()
                continue
            if fault == "noise":
                yield rng.integers(0, 256, (self.size[1], self.size[0], 3), dtype=np.uint8)
                continue
            last = painter.paint(t, rng)
            yield last


class _Painter:
    def __init__(self, scene: Scene, rng: np.random.Generator) -> None:
        self.scene = scene
        w, h = scene.size
        self.s = scene.scale
        self.floor = _floor(w, h, rng)
        self.floor_grey = float(np.median(self.floor))
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        # daylight from a window on the left; a ceiling lamp near the door
        self.day = (1.08 - 0.16 * xx / w)[..., None]
        d2 = ((xx - 0.55 * w) ** 2 + (yy - 0.4 * h) ** 2) / (0.6 * w) ** 2
        self.lampmap = (0.7 + 0.45 * np.exp(-d2))[..., None].astype(np.float32)
        self.shadow_dx = rng.uniform(3.0, 7.0) * self.s * rng.choice([-1.0, 1.0])
        self.shadow_dy = rng.uniform(2.0, 5.0) * self.s
        self.shadow_k = rng.uniform(0.15, 0.28)
        # sensor grain: a bank of unit-noise frames, a different one each frame (cheaper
        # than drawing 230k normals a frame, and never the same twice running)
        self.grain = [rng.standard_normal((h, w, 3), dtype=np.float32) for _ in range(12)]
        self._pick = 0

    def paint(self, t: float, rng: np.random.Generator) -> np.ndarray:
        scene, s = self.scene, self.s
        w, h = scene.size
        img = self.floor.copy()
        shade = np.zeros((h, w), np.float32)
        visible = [(p, pos) for p in scene.people if (pos := p.at(t)) is not None]
        for p, (x, y) in visible:
            axes = (round(13.0 * p.scale * s), round(8.0 * p.scale * s))
            cx, cy = round(x * s + self.shadow_dx), round(y * s + self.shadow_dy)
            cv2.ellipse(shade, (cx, cy), axes, 0, 0, 360, self.shadow_k, -1)
        shade = cv2.GaussianBlur(shade, (0, 0), 2.5 * s)
        img *= (1.0 - shade)[..., None]
        for p, (x, y) in visible:
            centre = (round(x * s), round(y * s))
            axes = (round(14.0 * p.scale * s), round(8.5 * p.scale * s))
            colour = p.clothes
            if colour is None:
                level = self.floor_grey + p.low_sign * 28.0
                colour = (level, level + 4.0, level - 4.0)
            cv2.ellipse(img, centre, axes, 0, 0, 360, colour, -1, cv2.LINE_AA)
            cv2.circle(img, centre, round(6.0 * p.scale * s), p.head, -1, cv2.LINE_AA)
        light = scene.lighting
        img *= light.gain(t) * (self.lampmap if light.lamp(t) else self.day)
        noise = scene.noise
        if light.ir(t):
            grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) * 1.1 + 10.0
            img = cv2.merge([grey, grey, grey])
            noise *= 1.6
        img = cv2.GaussianBlur(img, (3, 3), 0)
        self._pick = (self._pick + 1 + int(rng.integers(len(self.grain) - 1))) % len(self.grain)
        channels = 1 if light.ir(t) else 3  # a monochrome sensor: the same grain in B, G, R
        img += self.grain[self._pick][:, :, :channels] * noise
        return np.clip(img, 0, 255).astype(np.uint8)


def _floor(w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """Tiled floor with blotches, grout lines and a door mat (float32 BGR)."""
    base = rng.uniform(120, 160)
    blotch = cv2.resize(rng.normal(0, 8, (6, 8)).astype(np.float32), (w, h))
    grey = base + blotch + rng.normal(0, 3, (h, w)).astype(np.float32)
    tile = max(8, round(rng.uniform(30, 45) * w / BASE_W))
    grey[::tile, :] -= 18
    grey[:, ::tile] -= 18
    mx, my = round(w * rng.uniform(0.25, 0.4)), round(h * rng.uniform(0.62, 0.7))
    grey[my : my + h // 6, mx : mx + w // 3] *= 0.7  # door mat
    tint = rng.uniform(-6, 6, 3).astype(np.float32)
    return np.clip(grey[..., None] + tint, 0, 255).astype(np.float32)


# --- planning people ------------------------------------------------------------------------


class _Planner:
    """Places people on free lanes so nobody shares a lane with someone in view."""

    def __init__(self, rng: np.random.Generator, blocked: list[tuple[float, float]]) -> None:
        self.rng = rng
        self.people: list[Person] = []
        self.blocked = blocked  # time windows when nobody may be in view

    def _free(self, candidates: list[Person]) -> bool:
        for c in candidates:
            for t0, t1 in self.blocked:
                if c.start < t1 and c.end > t0:
                    return False
            for p in self.people:
                overlap = c.start < p.end + 0.5 and p.start < c.end + 0.5
                apart = abs(c.keys[0][1] - p.keys[0][1]) - c.half_width - p.half_width
                if overlap and apart < 14.0:
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


def _person(rng: np.random.Generator, keys: list[tuple[float, float, float]]) -> Person:
    kind = rng.choice(["dark", "bright", "rider", "low"], p=[0.3, 0.2, 0.3, 0.2])
    clothes = None if kind == "low" else CLOTHES[kind][rng.integers(len(CLOTHES[kind]))]
    return Person(
        keys=keys,
        scale=float(rng.uniform(0.88, 1.12)),
        clothes=None if clothes is None else tuple(float(c) for c in clothes),
        low_sign=int(rng.choice([-1, 1])),
        head=HEADS[rng.integers(len(HEADS))],
        sway=float(rng.uniform(0.5, 2.5)),
        phase=float(rng.uniform(0, 2 * math.pi)),
    )


def _edge_y(direction: int) -> tuple[float, float]:
    """(start y, end y) just outside the frame for walking in (+1, down) or out (-1)."""
    top, bottom = -25.0, BASE_H + 25.0
    return (top, bottom) if direction > 0 else (bottom, top)


def _walk(t: float, x: float, y0: float, y1: float, speed: float) -> list[tuple[float, ...]]:
    return [(t, x, y0), (t + abs(y1 - y0) / speed, x, y1)]


def walker(rng: np.random.Generator, t: float, lane: float, direction: int) -> list[Person]:
    y0, y1 = _edge_y(direction)
    speed = rng.uniform(60.0, 140.0)
    return [_person(rng, _walk(t, lane, y0, y1, speed))]  # type: ignore[arg-type]


def group(rng: np.random.Generator, t: float, lane: float, direction: int) -> list[Person]:
    """Two or three side by side, same pace, shoulders nearly touching."""
    n = int(rng.choice([2, 3], p=[0.65, 0.35]))
    y0, y1 = _edge_y(direction)
    speed = rng.uniform(60.0, 110.0)
    people: list[Person] = []
    x = lane - (n - 1) * 15.0
    for _ in range(n):
        lag = rng.uniform(-4.0, 4.0) * direction
        p = _person(rng, _walk(t, x, y0 - lag, y1 - lag, speed))  # type: ignore[arg-type]
        people.append(p)
        x += 2 * p.half_width + rng.uniform(0.0, 5.0)
    return people


def turn_back(rng: np.random.Generator, t: float, lane: float, direction: int) -> list[Person]:
    """Walks up to the line (at most a little over it, never to the band's far edge), stops,
    goes back the way they came."""
    y0, _ = _edge_y(direction)
    stop = LINE_Y + direction * rng.uniform(-8.0, BAND - 5.0)
    speed = rng.uniform(50.0, 110.0)
    there = t + abs(stop - y0) / speed
    wait = rng.uniform(0.3, 2.0)
    back = there + wait + abs(stop - y0) / speed
    keys = [(t, lane, y0), (there, lane, stop), (there + wait, lane, stop), (back, lane, y0)]
    return [_person(rng, keys)]


def linger(rng: np.random.Generator, t: float, lane: float, direction: int) -> list[Person]:
    """Walks in, stands a while on their side (or on the line), then crosses or goes back."""
    y0, y1 = _edge_y(direction)
    stand = LINE_Y - direction * rng.uniform(-4.0, 60.0)
    speed = rng.uniform(50.0, 110.0)
    there = t + abs(stand - y0) / speed
    wait = rng.uniform(2.0, 6.0)
    end_y = y1 if rng.random() < 0.6 else y0
    leave = there + wait + abs(end_y - stand) / speed
    keys = [(t, lane, y0), (there, lane, stand), (there + wait, lane, stand), (leave, lane, end_y)]
    return [_person(rng, keys)]


Kind = Callable[[np.random.Generator, float, float, int], list[Person]]

MIXES: dict[str, list[tuple[Kind, float]]] = {
    "singles": [(walker, 1.0)],
    "groups": [(group, 0.6), (walker, 0.4)],
    "turn_backs": [(turn_back, 0.35), (linger, 0.25), (walker, 0.4)],
    "lights": [(walker, 1.0)],
    "faults": [(walker, 1.0)],
    "mixed": [(walker, 0.45), (group, 0.25), (turn_back, 0.15), (linger, 0.15)],
}
SCENES = tuple(MIXES)


def make_scene(
    name: str,
    seed: int = 1,
    *,
    events: int = 24,
    size: tuple[int, int] = (BASE_W, BASE_H),
    fps: float = FPS,
    mean_gap_s: float = 1.6,
    busy_faults: bool = False,
) -> Scene:
    """A named scene with `events` arrivals (a group is one event) in both directions."""
    if name not in MIXES:
        raise ValueError(f"unknown scene {name!r}; one of {', '.join(SCENES)}")
    if size[0] * BASE_H != size[1] * BASE_W:
        raise ValueError("size must be 4:3 (320×240, 640×480, …)")
    rng = np.random.default_rng([seed, 0])
    length = events * (mean_gap_s + 1.0) + 6.0
    lighting, faults, blocked = Lighting(), [], []
    if name == "lights":
        dusk = (0.1 * length, 0.45 * length)
        ir, lamp = 0.55 * length, 0.8 * length
        lighting = Lighting(dusk=dusk, ir_from=ir, lights_on=lamp)
        blocked = [(t - 1.0, t + 4.0) for t in lighting.switches()]
    if name == "faults":
        freeze, burst = 0.3 * length, 0.7 * length
        faults = [("frozen", freeze, freeze + 5.0), ("noise", burst, burst + 0.8)]
        if not busy_faults:
            blocked = [(t0 - 1.0, t1 + 4.0) for _, t0, t1 in faults]
    planner = _Planner(rng, blocked)
    kinds, weights = zip(*MIXES[name], strict=True)
    t = 0.5
    for i in range(events):
        kind = kinds[rng.choice(len(kinds), p=np.array(weights) / sum(weights))]
        direction = 1 if i % 2 == 0 else -1
        t = planner.place(lambda t0, lane: kind(rng, t0, lane, direction), t)  # noqa: B023
        t += rng.exponential(mean_gap_s)
    duration = max(p.end for p in planner.people) + 1.5
    return Scene(
        name=name,
        seed=seed,
        size=size,
        fps=fps,
        duration_s=max(duration, *(t1 + 3.0 for _, _, t1 in faults), 1.0),
        people=planner.people,
        lighting=lighting,
        faults=faults,
    )


def write_video(scene: Scene, path: Path) -> int:
    """The scene as an MJPG .avi (or mp4v .mp4) file; returns the number of frames."""
    fourcc = "mp4v" if path.suffix.lower() == ".mp4" else "MJPG"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), scene.fps, scene.size)
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write {path} ({fourcc})")
    n = 0
    try:
        for frame in scene.frames():
            writer.write(frame)
            n += 1
    finally:
        writer.release()
    return n


@dataclass(frozen=True, slots=True)
class Score:
    """One direction: `truth` crossings, `counted` people, `matched` within the tolerance."""

    truth: int
    counted: int
    matched: int

    @property
    def missed(self) -> int:
        return self.truth - self.matched

    @property
    def extra(self) -> int:
        return self.counted - self.matched

    @property
    def errors_per_100(self) -> float:
        return 100.0 * (self.missed + self.extra) / max(1, self.truth)

    @property
    def accuracy(self) -> float:
        """1 - (missed + extra) / truth: a miss and a false count both cost."""
        return 1.0 - (self.missed + self.extra) / max(1, self.truth)


def score(
    truth: list[tuple[float, int]],
    counted: list[tuple[float, int, int]],
    *,
    tolerance_s: float = 1.5,
) -> dict[int, Score]:
    """Match counted (time, direction, people) to true (time, direction) crossings, per
    direction, nearest in time first; {+1: entries' score, -1: exits'}."""
    out: dict[int, Score] = {}
    for direction in (1, -1):
        want = [t for t, d in truth if d == direction]
        got = [t for t, d, n in counted if d == direction for _ in range(n)]
        pairs = sorted(
            (abs(a - b), i, j)
            for i, a in enumerate(want)
            for j, b in enumerate(got)
            if abs(a - b) <= tolerance_s
        )
        used_i: set[int] = set()
        used_j: set[int] = set()
        for _, i, j in pairs:
            if i not in used_i and j not in used_j:
                used_i.add(i)
                used_j.add(j)
        out[direction] = Score(len(want), len(got), len(used_i))
    return out
