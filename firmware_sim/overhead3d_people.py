"""People of the 3-D overhead scenes (`firmware_sim.overhead3d`): bodies, gaits and paths.

Written apart from `firmware_sim.overhead_people`, on purpose with other choices: a person is
a body in space (legs swinging with the gait, a torso, arms, a head, sometimes a backpack or
an umbrella) that the scene's pinhole camera projects, so near the edge of the view a tall
person leans outwards and a child looks small; clothes are any colour, and what they reflect
in near-infrared is drawn apart from their colour (a black jacket can be bright at night).

Units: metres on the floor (x across the doorway, y along the walk, the counting line at
y = 0, the station's inside at y > 0), heights above the floor, seconds, BGR in 0–1.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

Colour = tuple[float, float, float]
# A part: its points in space (N×3, m), its colour (BGR 0–1) and near-infrared reflectance.
Part = tuple[np.ndarray, Colour, float]


@dataclass(frozen=True, slots=True)
class Look:
    top: Colour
    legs: Colour
    hair: Colour
    ir: tuple[float, float, float]  # near-infrared reflectance of top, legs, hair (0–1)
    backpack: Colour | None = None
    umbrella: Colour | None = None


@dataclass(slots=True)
class Body:
    """One person: a piecewise-linear path of their feet and what they look like."""

    keys: list[tuple[float, float, float]]  # (t s, x m, y m)
    height: float  # m, 1.1 (a child) – 1.9
    shoulders: float  # shoulder width, m
    look: Look
    stride: float  # m per step
    phase: float  # gait phase at the start, rad
    _walked: list[float] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self._walked = [0.0]
        for (_, x0, y0), (_, x1, y1) in itertools.pairwise(self.keys):
            self._walked.append(self._walked[-1] + math.hypot(x1 - x0, y1 - y0))

    @property
    def start(self) -> float:
        return self.keys[0][0]

    @property
    def end(self) -> float:
        return self.keys[-1][0]

    def at(self, t: float) -> tuple[float, float, float, float, float] | None:
        """(x, y, heading x, heading y, gait phase rad) at `t`; None when not in the scene."""
        keys = self.keys
        if t < keys[0][0] or t > keys[-1][0]:
            return None
        for i, ((t0, x0, y0), (t1, x1, y1)) in enumerate(itertools.pairwise(keys)):
            if t <= t1:
                u = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
                hx, hy = self._heading(i)
                walked = self._walked[i] + u * math.hypot(x1 - x0, y1 - y0)
                phase = self.phase + math.pi * walked / self.stride
                return x0 + u * (x1 - x0), y0 + u * (y1 - y0), hx, hy, phase
        return None

    def _heading(self, i: int) -> tuple[float, float]:
        """The direction of segment `i`, or of the nearest moving one when standing."""
        order = [i, *range(i - 1, -1, -1), *range(i + 1, len(self.keys) - 1)]
        for j in order:
            (_, x0, y0), (_, x1, y1) = self.keys[j], self.keys[j + 1]
            d = math.hypot(x1 - x0, y1 - y0)
            if d > 1e-6:
                return (x1 - x0) / d, (y1 - y0) / d
        return 0.0, 1.0

    def side(self, index: int) -> int:
        return 1 if self.keys[index][2] > 0 else -1

    def crossing(self) -> tuple[float, int] | None:
        """(time, +1 in / -1 out) of the last time the feet cross the line, for someone who
        ends on the other side from where they began; None for everyone else."""
        if self.side(0) == self.side(-1):
            return None
        last = self.start
        for (t0, _, y0), (t1, _, y1) in itertools.pairwise(self.keys):
            if (y0 <= 0.0 < y1) or (y1 <= 0.0 < y0):
                last = t0 + (0.0 - y0) / (y1 - y0) * (t1 - t0)
        return last, self.side(-1)

    def parts(self, t: float) -> list[Part]:
        """The body's parts at `t`, bottom to top (the order to draw them seen from above)."""
        pose = self.at(t)
        if pose is None:
            return []
        x, y, fx, fy, phase = pose
        sx, sy = -fy, fx  # to the right of the walk
        h, k = self.height, self.shoulders / 0.45
        moving = self._moving(t)
        swing = math.sin(phase) * (0.22 * self.stride if moving else 0.0)
        look = self.look

        def at(side: float, ahead: float) -> tuple[float, float]:
            return x + side * sx + ahead * fx, y + side * sy + ahead * fy

        out: list[Part] = []
        for leg in (-1.0, 1.0):
            foot = at(leg * 0.09 * k, leg * swing)
            hip = at(leg * 0.09 * k, 0.0)
            pts = np.vstack(
                [
                    _ring(*foot, 0.03, 0.06, 0.07, fx, fy),
                    _ring(*hip, 0.48 * h, 0.08 * k, 0.08 * k, fx, fy),
                ]
            )
            out.append((pts, look.legs, look.ir[1]))
        if look.backpack is not None:
            bx, by = at(0.0, -0.17 * k)
            pts = np.vstack(
                [_ring(bx, by, z, 0.15 * k, 0.09 * k, fx, fy) for z in (0.5 * h, 0.78 * h)]
            )
            out.append((pts, look.backpack, 0.5))
        torso = [
            _ring(x, y, 0.5 * h, 0.17 * k, 0.11 * k, fx, fy),
            _ring(x, y, 0.82 * h, self.shoulders / 2.0, 0.12 * k, fx, fy),
        ]
        out.append((np.vstack(torso), look.top, look.ir[0]))
        for arm in (-1.0, 1.0):
            shoulder = at(arm * (self.shoulders / 2.0 - 0.03), 0.0)
            hand = at(arm * (self.shoulders / 2.0 + 0.02), -arm * swing)
            pts = np.vstack(
                [
                    _ring(*shoulder, 0.8 * h, 0.05, 0.05, fx, fy),
                    _ring(*hand, 0.45 * h, 0.045, 0.045, fx, fy),
                ]
            )
            out.append((pts, look.top, look.ir[0]))
        r = 0.105 * k if h > 1.3 else 0.095
        hx, hy = at(0.0, 0.02)
        head = [
            _ring(
                hx,
                hy,
                h - r + dz * r,
                r * math.sqrt(1 - dz * dz),
                r * math.sqrt(1 - dz * dz),
                fx,
                fy,
            )
            for dz in (-0.6, 0.0, 0.6, 0.95)
        ]
        out.append((np.vstack(head), look.hair, look.ir[2]))
        if look.umbrella is not None:
            ux, uy = at(0.0, 0.08)
            pts = np.vstack(
                [
                    _ring(ux, uy, h + 0.25, 0.5, 0.5, fx, fy, 16),
                    _ring(ux, uy, h + 0.1, 0.45, 0.45, fx, fy, 16),
                ]
            )
            out.append((pts, look.umbrella, 0.6))
        return out

    def _moving(self, t: float) -> bool:
        for (t0, x0, y0), (t1, x1, y1) in itertools.pairwise(self.keys):
            if t0 <= t <= t1:
                return (x1, y1) != (x0, y0)
        return False


def _ring(
    x: float, y: float, z: float, a: float, b: float, fx: float, fy: float, n: int = 10
) -> np.ndarray:
    """`n` points of an ellipse at height z: half-axis `a` across the walk, `b` along it."""
    angles = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    across, along = a * np.cos(angles), b * np.sin(angles)
    px = x + across * -fy + along * fx
    py = y + across * fx + along * fy
    return np.column_stack([px, py, np.full(n, z)])


@dataclass(frozen=True, slots=True)
class Crowd:
    """Who walks through, as ranges a scene draws from."""

    speed: tuple[float, float] = (0.7, 1.7)  # m/s
    angle_deg: float = 20.0  # walks up to this far off perpendicular to the line
    child_share: float = 0.1
    low_share: float = 0.2  # clothes within a few grey levels of the floor
    backpack_share: float = 0.15
    umbrella_share: float = 0.0
    gap: tuple[float, float] = (-0.03, 0.25)  # m between shoulders side by side (<0: pressed)
    reach: float = 4.0  # m from the line where people appear and vanish


def dress(rng: np.random.Generator, crowd: Crowd, floor: Colour) -> Look:
    """Clothes of any hue; a share of them close to the floor's colour."""
    if rng.random() < crowd.low_share:
        step = rng.uniform(0.05, 0.12) * rng.choice([-1.0, 1.0])
        top = tuple(float(np.clip(c + step + rng.normal(0, 0.015), 0, 1)) for c in floor)
    else:
        top = _hsv(rng, rng.uniform(0, 180), rng.uniform(0, 0.9), rng.uniform(0.08, 0.95))
    legs = _hsv(rng, rng.uniform(90, 130), rng.uniform(0, 0.6), rng.uniform(0.08, 0.5))
    helmet = rng.random() < 0.25
    if helmet:
        hair = _hsv(rng, rng.choice([25.0, 0.0, 110.0, 0.0]), rng.uniform(0.0, 0.9), 0.9)
    else:
        hair = _hsv(rng, 15.0, rng.uniform(0.1, 0.5), rng.uniform(0.05, 0.6))
    ir = (rng.uniform(0.15, 0.85), rng.uniform(0.15, 0.7), rng.uniform(0.3, 0.9))
    backpack = (
        _hsv(rng, rng.uniform(0, 180), 0.5, rng.uniform(0.1, 0.6))
        if rng.random() < crowd.backpack_share
        else None
    )
    umbrella = (
        _hsv(rng, rng.uniform(0, 180), rng.uniform(0, 0.9), rng.uniform(0.1, 0.9))
        if rng.random() < crowd.umbrella_share
        else None
    )
    return Look(top, legs, hair, ir, backpack, umbrella)  # type: ignore[arg-type]


def _hsv(rng: np.random.Generator, hue: float, sat: float, val: float) -> Colour:
    pixel = np.array([[[hue, sat * 255.0, val * 255.0]]], np.float32).astype(np.uint8)
    b, g, r = cv2.cvtColor(pixel, cv2.COLOR_HSV2BGR)[0, 0] / 255.0
    return float(b), float(g), float(r)


# An event: given the time its first person reaches the line, the people it brings.
Event = Callable[[float], list[Body]]


def person(
    rng: np.random.Generator, crowd: Crowd, floor: Colour, keys: list[tuple[float, float, float]]
) -> Body:
    child = rng.random() < crowd.child_share
    height = rng.uniform(1.1, 1.4) if child else rng.uniform(1.55, 1.9)
    shoulders = rng.uniform(0.3, 0.36) if child else rng.uniform(0.4, 0.5)
    stride = 0.45 * height * rng.uniform(0.85, 1.1)
    return Body(
        keys, height, shoulders, dress(rng, crowd, floor), stride, rng.uniform(0, 2 * math.pi)
    )


def _path(
    x: float,
    tc: float,
    direction: int,
    speed: float,
    angle: float,
    reach: float,
    stop: tuple[float, float] | None = None,
) -> list[tuple[float, float, float]]:
    """Keys of a walk from `reach` m before the line to `reach` past it, at the line (x) at
    time `tc`; `stop` = (y, s): stand s seconds at y on the way (y in the walk's frame)."""
    tan = math.tan(angle)
    dist = reach / math.cos(angle)

    def point(y: float) -> tuple[float, float]:
        return x + y * tan * direction, y * direction

    keys = [(tc - dist / speed, *point(-reach))]
    if stop is not None:
        y_stop, hold = stop
        t_stop = tc - (0.0 - y_stop) / math.cos(angle) / speed
        keys += [(t_stop, *point(y_stop)), (t_stop + hold, *point(y_stop))]
        tc += hold
    keys.append((tc + dist / speed, *point(reach)))
    return keys


def walker(rng: np.random.Generator, crowd: Crowd, floor: Colour, direction: int) -> Event:
    speed, angle = (
        rng.uniform(*crowd.speed),
        math.radians(rng.uniform(-crowd.angle_deg, crowd.angle_deg)),
    )
    x = rng.uniform(-0.5, 0.5)
    body = person(rng, crowd, floor, [])
    return lambda tc: [replace(body, keys=_path(x, tc, direction, speed, angle, crowd.reach))]


def abreast(rng: np.random.Generator, crowd: Crowd, floor: Colour, direction: int) -> Event:
    """Two or three side by side, shoulders `crowd.gap` apart, a step out of line at most."""
    n = 2 if rng.random() < 0.65 else 3
    bodies = [person(rng, crowd, floor, []) for _ in range(n)]
    speed, angle = (
        rng.uniform(crowd.speed[0], min(crowd.speed[1], 1.4)),
        math.radians(rng.uniform(-10, 10)),
    )
    xs = [0.0]
    for a, b in itertools.pairwise(bodies):
        xs.append(xs[-1] + (a.shoulders + b.shoulders) / 2.0 + rng.uniform(*crowd.gap))
    centre = rng.uniform(-0.3, 0.3) - xs[-1] / 2.0
    lags = [rng.uniform(-0.25, 0.25) / speed for _ in bodies]
    return lambda tc: [
        replace(b, keys=_path(centre + x, tc + lag, direction, speed, angle, crowd.reach))
        for b, x, lag in zip(bodies, xs, lags, strict=True)
    ]


def in_file(rng: np.random.Generator, crowd: Crowd, floor: Colour, direction: int) -> Event:
    """Two in a row, the second 0.7–1.3 m behind (the door's tailgater)."""
    bodies = [person(rng, crowd, floor, []) for _ in range(2)]
    speed = rng.uniform(crowd.speed[0], min(crowd.speed[1], 1.4))
    gap = rng.uniform(0.7, 1.3) / speed
    x, dx = rng.uniform(-0.4, 0.4), rng.uniform(-0.2, 0.2)
    return lambda tc: [
        replace(bodies[0], keys=_path(x, tc, direction, speed, 0.0, crowd.reach)),
        replace(bodies[1], keys=_path(x + dx, tc + gap, direction, speed, 0.0, crowd.reach)),
    ]


def passing(rng: np.random.Generator, crowd: Crowd, floor: Colour, direction: int) -> Event:
    """Two walking opposite ways past each other, 0.6–0.9 m apart across the walk."""
    bodies = [person(rng, crowd, floor, []) for _ in range(2)]
    speeds = [rng.uniform(*crowd.speed) for _ in bodies]
    apart = rng.uniform(0.6, 0.9) + (bodies[0].shoulders + bodies[1].shoulders) / 2.0
    x = rng.uniform(-0.3, 0.3) - apart / 2.0
    lag = rng.uniform(-0.4, 0.4)
    return lambda tc: [
        replace(bodies[0], keys=_path(x, tc, direction, speeds[0], 0.0, crowd.reach)),
        replace(
            bodies[1], keys=_path(x + apart, tc + lag, -direction, speeds[1], 0.0, crowd.reach)
        ),
    ]


def turn_back(rng: np.random.Generator, crowd: Crowd, floor: Colour, direction: int) -> Event:
    """Walks up to 0.05–0.45 m short of the line, waits up to 2 s and walks back."""
    body = person(rng, crowd, floor, [])
    speed, x = rng.uniform(crowd.speed[0], 1.3), rng.uniform(-0.5, 0.5)
    short, hold, back_x = rng.uniform(0.05, 0.45), rng.uniform(0.0, 2.0), x + rng.uniform(-0.4, 0.4)

    def place(tc: float) -> list[Body]:
        t_near = tc - short / speed
        keys = [
            (t_near - (crowd.reach - short) / speed, x, -direction * crowd.reach),
            (t_near, x, -direction * short),
            (t_near + hold, x, -direction * short),
            (
                t_near + hold + math.hypot(crowd.reach - short, back_x - x) / speed,
                back_x,
                -direction * crowd.reach,
            ),
        ]
        return [replace(body, keys=keys)]

    return place


def linger(rng: np.random.Generator, crowd: Crowd, floor: Colour, direction: int) -> Event:
    """Stops 2–6 s somewhere from 0.4 m before the line to 0.3 m past it, then walks in."""
    body = person(rng, crowd, floor, [])
    speed, x = rng.uniform(crowd.speed[0], 1.3), rng.uniform(-0.5, 0.5)
    stop = (rng.uniform(-0.4, 0.3), rng.uniform(2.0, 6.0))
    return lambda tc: [replace(body, keys=_path(x, tc, direction, speed, 0.0, crowd.reach, stop))]


EVENTS: dict[str, Callable[[np.random.Generator, Crowd, Colour, int], Event]] = {
    "walker": walker,
    "abreast": abreast,
    "in_file": in_file,
    "passing": passing,
    "turn_back": turn_back,
    "linger": linger,
}
