"""Drawing the overhead door scenes: floor, people, shadows, light, lens and sensor.

Lighting drifts (day → night), switches (IR mode: grey with another gain and more noise; the
lights going on or off), a lamp casts each person's shadow (long and dark when it hangs low),
a wide lens bends the view (barrel distortion about the centre, which keeps the counting line
at the centre row straight), the sensor adds noise and the camera may JPEG-compress.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from firmware_sim.overhead_people import BASE_W, Person

if TYPE_CHECKING:
    from firmware_sim.overhead import Scene


@dataclass(frozen=True, slots=True)
class Lighting:
    """Gain and mode as functions of time: day drift, dusk, IR mode, lights switched on,
    and lamp switches (each flips the lamp on or off)."""

    dusk: tuple[float, float] | None = None  # gain falls 1 → 0.35 between these times
    ir_from: float | None = None  # IR camera mode from then (grey, other gain, more noise)
    lights_on: float | None = None  # a lamp switches on (IR mode ends, new light pattern)
    toggles: tuple[float, ...] = ()  # the lamp flips at these times

    def gain(self, t: float) -> float:
        g = 1.0 + 0.04 * math.sin(t / 7.0)  # cloud and auto-exposure drift
        if self.dusk is not None:
            t0, t1 = self.dusk
            g *= 1.0 - 0.65 * min(1.0, max(0.0, (t - t0) / (t1 - t0)))
        if self.ir_from is not None and t >= self.ir_from:
            g = 0.8
        if self.lights_on is not None and t >= self.lights_on:
            g = 1.05
        if self.toggles:
            g *= 1.05 if self.lamp(t) else 0.6
        return g

    def ir(self, t: float) -> bool:
        return (
            self.ir_from is not None
            and t >= self.ir_from
            and (self.lights_on is None or t < self.lights_on)
        )

    def lamp(self, t: float) -> bool:
        on = self.lights_on is not None and t >= self.lights_on
        flips = sum(1 for s in self.toggles if t >= s)
        return on != bool(flips % 2)

    def switches(self) -> list[float]:
        return [t for t in (self.ir_from, self.lights_on, *self.toggles) if t is not None]


class Painter:
    def __init__(self, scene: Scene, rng: np.random.Generator) -> None:
        self.scene = scene
        v = scene.variation
        w, h = scene.size
        self.s = scene.scale
        self.floor = _floor(w, h, rng)
        self.floor_grey = float(np.median(self.floor))
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        # daylight from a window on the left; a ceiling lamp near the door
        self.day = (1.08 - 0.16 * xx / w)[..., None]
        d2 = ((xx - 0.55 * w) ** 2 + (yy - 0.4 * h) ** 2) / (0.6 * w) ** 2
        self.lampmap = (0.7 + 0.45 * np.exp(-d2))[..., None].astype(np.float32)
        self.shadow_dx = rng.uniform(3.0, 7.0) * self.s * rng.choice([-1.0, 1.0]) * v.shadow_len
        self.shadow_dy = rng.uniform(2.0, 5.0) * self.s * v.shadow_len
        self.shadow_k = rng.uniform(*v.shadow_k)
        # sensor grain: a bank of unit-noise frames, a different one each frame (cheaper
        # than drawing 230k normals a frame, and never the same twice running)
        self.grain = [rng.standard_normal((h, w, 3), dtype=np.float32) for _ in range(12)]
        self._pick = 0
        self.lens = _barrel_maps(w, h, v.barrel) if v.barrel else None

    def paint(self, t: float, rng: np.random.Generator) -> np.ndarray:
        scene, s = self.scene, self.s
        w, h = scene.size
        img = self.floor.copy()
        shade = np.zeros((h, w), np.float32)
        visible = [(p, pos) for p in scene.people if (pos := p.at(t)) is not None]
        stretch = max(1.0, scene.variation.shadow_len / 2.0)  # a low lamp: long shadows
        for p, (x, y) in visible:
            r = 20.0 if p.umbrella is not None else 13.0
            axes = (round(r * p.scale * s), round(8.0 * p.scale * s * stretch))
            cx, cy = round(x * s + self.shadow_dx), round(y * s + self.shadow_dy)
            cv2.ellipse(shade, (cx, cy), axes, 0, 0, 360, self.shadow_k, -1)
        shade = cv2.GaussianBlur(shade, (0, 0), 2.5 * s)
        img *= (1.0 - shade)[..., None]
        for p, (x, y) in visible:
            self._person(img, p, x, y, t)
        light = scene.lighting
        img *= light.gain(t) * (self.lampmap if light.lamp(t) else self.day)
        noise = scene.noise
        if light.ir(t):
            grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) * 1.1 + 10.0
            img = cv2.merge([grey, grey, grey])
            noise *= 1.6
        img = cv2.GaussianBlur(img, (3, 3), 0)
        if self.lens is not None:
            img = cv2.remap(img, self.lens[0], self.lens[1], cv2.INTER_LINEAR)
        self._pick = (self._pick + 1 + int(rng.integers(len(self.grain) - 1))) % len(self.grain)
        channels = 1 if light.ir(t) else 3  # a monochrome sensor: the same grain in B, G, R
        img += self.grain[self._pick][:, :, :channels] * noise
        out = np.clip(img, 0, 255).astype(np.uint8)
        jpeg = scene.variation.jpeg
        if jpeg is not None:
            quality = int(rng.uniform(*jpeg))
            ok, data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok:
                out = cv2.imdecode(data, cv2.IMREAD_COLOR)
        return out

    def _person(self, img: np.ndarray, p: Person, x: float, y: float, t: float) -> None:
        s = self.s
        centre = (round(x * s), round(y * s))
        angle = p.heading(t)
        colour = p.clothes
        if colour is None:
            level = self.floor_grey + p.low_sign * p.low_level
            colour = (level, level + 4.0, level - 4.0)
        if p.bag is not None:
            side, bag = p.bag
            a = math.radians(angle)
            off = side * 15.0 * p.scale * s
            bx, by = centre[0] + off * math.cos(a), centre[1] + off * math.sin(a)
            axes = (round(5.0 * p.scale * s), round(7.0 * p.scale * s))
            cv2.ellipse(img, (round(bx), round(by)), axes, angle, 0, 360, bag, -1, cv2.LINE_AA)
        axes = (round(14.0 * p.scale * s), round(8.5 * p.scale * s))
        cv2.ellipse(img, centre, axes, angle, 0, 360, colour, -1, cv2.LINE_AA)
        cv2.circle(img, centre, round(6.0 * p.scale * s), p.head, -1, cv2.LINE_AA)
        if p.umbrella is not None:
            radius = round(20.0 * p.scale * s)
            cv2.circle(img, centre, radius, p.umbrella, -1, cv2.LINE_AA)
            cv2.circle(img, centre, max(1, radius // 6), (30, 30, 30), -1, cv2.LINE_AA)


def _barrel_maps(w: int, h: int, k: float) -> tuple[np.ndarray, np.ndarray]:
    """remap() maps for a barrel lens: the output pixel at radius r (normalised to the half
    diagonal) shows the undistorted scene at r (1 + k r²), so the edges shrink inwards."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    norm = math.hypot(cx, cy)
    dx, dy = (xx - cx) / norm, (yy - cy) / norm
    f = 1.0 + k * (dx * dx + dy * dy)
    return (cx + dx * f * norm).astype(np.float32), (cy + dy * f * norm).astype(np.float32)


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
