"""Rendered overhead video of people walking through a station door, with exact ground truth.

A `Scene` is seeded (numpy Generator) and deterministic: `frames()` yields the same frames
for the same seed, and `truth` counts entries and exits from each person's first and last
position (an entry ends on the inside point's side). Geometry is planned on a 320×240 base
and drawn at any `size` (same 4:3 shape scaled). People never occupy the same lane at the
same time, and nobody is in view while a fault or a light switch plays (so the truth is what
a camera could see); `busy_faults=True` lifts that for the "no burst of false counts" tests.

The people and how they walk are `firmware_sim.overhead_people` (with `Variation`, the
generator's settings), the drawing `firmware_sim.overhead_render`, named held-out and tuning
settings `firmware_sim.overhead_presets`; this module plans a scene from one seeded generator
in one order and counts the ground truth from that same plan.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from firmware_sim.overhead_people import (
    BAND,
    BASE_H,
    BASE_W,
    CLOTHES,
    HEADS,
    LINE_Y,
    MIXES,
    SCENES,
    Kind,
    Person,
    Planner,
    Variation,
    group,
    linger,
    turn_back,
    walker,
)
from firmware_sim.overhead_render import Lighting, Painter

__all__ = [
    "BAND",
    "BASE_H",
    "BASE_W",
    "CLOTHES",
    "FPS",
    "HEADS",
    "LINE_Y",
    "MIXES",
    "SCENES",
    "Kind",
    "Lighting",
    "Person",
    "Scene",
    "Score",
    "Truth",
    "Variation",
    "group",
    "linger",
    "make_scene",
    "score",
    "turn_back",
    "walker",
    "write_video",
]

FPS = 10.0


@dataclass(frozen=True, slots=True)
class Truth:
    entries: int
    exits: int


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
    variation: Variation = field(default_factory=Variation)

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
        painter = Painter(self, np.random.default_rng([self.seed, 2]))
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


def make_scene(
    name: str,
    seed: int = 1,
    *,
    events: int = 24,
    size: tuple[int, int] = (BASE_W, BASE_H),
    fps: float = FPS,
    mean_gap_s: float = 1.6,
    busy_faults: bool = False,
    variation: Variation = Variation(),  # noqa: B008 - frozen
) -> Scene:
    """A named scene with `events` arrivals (a group is one event) in both directions,
    drawn with the generator settings `variation` (the default: the original scenes)."""
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
    if variation.ir:
        lighting = Lighting(ir_from=0.0)
    if variation.switches:
        step = length / (variation.switches + 1)
        toggles = tuple(step * (i + 1) for i in range(variation.switches))
        lighting = Lighting(ir_from=lighting.ir_from, toggles=toggles)
        blocked += [(t - 1.0, t + 4.0) for t in toggles]
    planner = Planner(rng, blocked, variation)
    kinds, weights = zip(*MIXES[name], strict=True)
    t = 0.5
    for i in range(events):
        kind = kinds[rng.choice(len(kinds), p=np.array(weights) / sum(weights))]
        direction = 1 if i % 2 == 0 else -1
        t = planner.place(lambda t0, lane: kind(rng, t0, lane, direction, variation), t)  # noqa: B023
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
        noise=variation.noise,
        variation=variation,
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
