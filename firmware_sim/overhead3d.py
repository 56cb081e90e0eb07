"""A second overhead door-scene generator, written apart from `firmware_sim.overhead`.

The station's counter was tuned over many rounds on one generator (flat ellipses for people,
a shadow drawn as a displaced copy, the frame as seen from exactly overhead); a figure that
holds only there is not a result. Here the scene is built in space and filmed: a pinhole
camera 2.5–3.5 m up within 0.3 m of being over the line, looking down within 12° of
straight (as docs/installer.md asks), 60–95° of view; people are
bodies (`firmware_sim.overhead3d_people`) whose heads come nearer the lens than their feet;
a lamp casts each person's shadow from where it hangs, so the shadow starts at the feet and
leans away from the lamp; at night an infrared lamp beside the lens lights what is near it
(heads) brighter than the floor; the camera's auto-exposure follows the frame; the sensor
adds noise and the camera may JPEG-compress. Every setting is drawn from the seed.

Units: metres, seconds; frames are BGR uint8. The counting line is the floor's y = 0, which
a camera tilted only about the x axis sees as a level row (`Scene.line`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from firmware_sim.overhead3d_people import EVENTS, Body, Colour, Crowd

SIZE = (320, 240)
FPS = 10.0
TARGET_MEAN = 115.0  # grey level the auto-exposure steers the frame's mean to


@dataclass(frozen=True, slots=True)
class Camera:
    size: tuple[int, int]
    height: float  # m above the floor
    fov_deg: float  # horizontal field of view
    tilt_deg: float  # optical axis turned this far from straight down, towards +y (< 0: -y)
    y: float  # where the camera hangs along the walk, m (0: over the line)

    @property
    def f(self) -> float:
        return (self.size[0] / 2.0) / math.tan(math.radians(self.fov_deg) / 2.0)

    def project(self, pts: np.ndarray) -> np.ndarray:
        """N×3 points (m) → N×2 pixels; NaN for points at or behind the lens."""
        a = math.radians(self.tilt_deg)
        dx, dy, dz = pts[:, 0], pts[:, 1] - self.y, pts[:, 2] - self.height
        yc = dy * math.cos(a) + dz * math.sin(a)
        zc = -dz * math.cos(a) + dy * math.sin(a)
        zc = np.where(zc > 0.05, zc, np.nan)
        w, h = self.size
        return np.column_stack([w / 2.0 + self.f * dx / zc, h / 2.0 + self.f * yc / zc])

    def floor(self, scale: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of the floor seen at each pixel of a frame `scale` times this size."""
        w, h = self.size
        vv, uu = np.mgrid[0 : h * scale, 0 : w * scale].astype(np.float32)
        xc = ((uu + 0.5) / scale - w / 2.0) / self.f
        yc = ((vv + 0.5) / scale - h / 2.0) / self.f
        a = math.radians(self.tilt_deg)
        dy = yc * math.cos(a) + math.sin(a)
        dz = np.minimum(yc * math.sin(a) - math.cos(a), -0.05)
        s = self.height / -dz
        return xc * s, self.y + dy * s

    def row(self, y: float) -> float:
        return float(self.project(np.array([[0.0, y, 0.0]]))[0, 1])


@dataclass(frozen=True, slots=True)
class Light:
    """What lights the scene at a time: daylight through the door, a ceiling lamp, or the
    camera's infrared lamp (a grey frame)."""

    mode: str  # "day", "lamp" or "ir"
    lamp: tuple[float, float, float] = (0.6, -0.4, 2.8)  # ceiling lamp position, m
    sun: tuple[float, float] = (0.25, -0.35)  # daylight shadow: floor offset per metre up
    shadow: float = 0.25  # how much a shadow darkens the floor (0–1)
    ir_shadow: float = 0.0  # at night a second lamp's shadows (0: none)


@dataclass(slots=True)
class Scene:
    name: str
    seed: int
    camera: Camera
    people: list[Body]
    lights: list[tuple[float, Light]]  # (from t, light), in order
    floor_colour: Colour
    noise: float  # sensor noise σ, grey levels (×1.8 in IR)
    jpeg: tuple[float, float] | None
    duration_s: float
    fps: float = FPS

    @property
    def size(self) -> tuple[int, int]:
        return self.camera.size

    @property
    def line(self) -> tuple[float, float, float, float]:
        row = self.camera.row(0.0)
        return (0.0, row, self.size[0] - 1.0, row)

    @property
    def inside(self) -> tuple[float, float]:
        row = min(self.camera.row(0.8), self.size[1] - 1.0)
        return (self.size[0] / 2.0, row)

    def crossings(self) -> list[tuple[float, int]]:
        return sorted(c for p in self.people if (c := p.crossing()) is not None)

    def light(self, t: float) -> Light:
        return [light for start, light in self.lights if start <= t][-1]

    def times(self) -> Iterator[float]:
        for i in range(int(self.duration_s * self.fps)):
            yield i / self.fps

    def frames(self) -> Iterator[np.ndarray]:
        painter = _Painter(self, np.random.default_rng([self.seed, 2]))
        for t in self.times():
            yield painter.paint(t)


class _Painter:
    """Draws at twice the size (edges then area-averaged), keeps the exposure's state."""

    K = 2

    def __init__(self, scene: Scene, rng: np.random.Generator) -> None:
        self.scene, self.rng = scene, rng
        cam = scene.camera
        fx, fy = cam.floor(self.K)
        self.fx, self.fy = fx, fy
        tiles = rng.uniform(0.3, 0.6)
        ix, iy = np.floor(fx / tiles).astype(np.int64), np.floor(fy / tiles).astype(np.int64)
        table = rng.normal(0.0, 0.04, 4096).astype(np.float32)
        albedo = 1.0 + table[(ix * 73 + iy * 151) % 4096]
        grout = (np.abs(fx / tiles - np.round(fx / tiles)) < 0.02 / tiles) | (
            np.abs(fy / tiles - np.round(fy / tiles)) < 0.02 / tiles
        )
        albedo = np.where(grout, albedo * rng.uniform(0.7, 0.9), albedo)
        mat = (np.abs(fx) < 0.6) & (fy > -1.2) & (fy < -0.4)
        ribs = 0.9 + 0.1 * np.sin(fy * 60.0)
        albedo = np.where(mat, albedo * rng.uniform(0.35, 0.6) * ribs, albedo)
        self.albedo = albedo[..., None] * np.array(scene.floor_colour, np.float32)
        self.ir_albedo = albedo * float(np.mean(scene.floor_colour)) * rng.uniform(0.8, 1.3)
        self.gain: float | None = None
        self.lit: dict[Light, np.ndarray] = {}

    def _light_at(
        self, light: Light, x: np.ndarray, y: np.ndarray, z: np.ndarray | float
    ) -> np.ndarray:
        """Illuminance on an upward face at (x, y, z), 1 = the floor under the lamp."""
        if light.mode == "day":
            return np.asarray(1.0 + 0.25 * np.tanh(-np.asarray(y)), np.float32) + 0.0 * x
        if light.mode == "lamp":
            lx, ly, lh = light.lamp
            src, ambient = (lx, ly, lh), 0.2
        else:
            cam = self.scene.camera
            src, ambient = (0.0, cam.y, cam.height), 0.02
        up = np.maximum(src[2] - np.asarray(z), 0.2)
        d2 = (x - src[0]) ** 2 + (y - src[1]) ** 2 + up**2
        e = src[2] ** 2 * up / d2**1.5
        return np.minimum(ambient + e, 2.2).astype(np.float32)

    def _shadow_point(self, light: Light, pts: np.ndarray) -> np.ndarray:
        """Where points in space (N×3, m) throw their shadow on the floor: along the sun's
        slant by day, away from the lamp (a point source) otherwise; a part higher than the
        lamp is taken as 0.3 m under it."""
        if light.mode == "day":
            out = pts.copy()
            out[:, 0] += light.sun[0] * pts[:, 2]
            out[:, 1] += light.sun[1] * pts[:, 2]
        else:
            lx, ly, lh = light.lamp
            z = np.minimum(pts[:, 2], lh - 0.3)
            k = lh / (lh - z)
            out = np.column_stack(
                [lx + (pts[:, 0] - lx) * k, ly + (pts[:, 1] - ly) * k, np.zeros(len(pts))]
            )
        out[:, 2] = 0.0
        return out

    def paint(self, t: float) -> np.ndarray:
        scene, cam, k = self.scene, self.scene.camera, self.K
        light = scene.light(t)
        ir = light.mode == "ir"
        bodies = [b for b in scene.people if b.start <= t <= b.end]
        shade = np.zeros(self.fx.shape, np.uint8)
        strength = light.ir_shadow if ir else light.shadow
        if strength > 0.0:
            for body in bodies:
                for pts, _, _ in body.parts(t):
                    self._fill(shade, self._shadow_point(light, pts), 255, k)
        if light not in self.lit:  # the floor's light, once per light (a 2× frame each)
            self.lit[light] = self._light_at(light, self.fx, self.fy, 0.0)
        floor_light = self.lit[light]
        dark = 1.0 - strength * cv2.GaussianBlur(shade, (0, 0), 2.0).astype(np.float32) / 255.0
        if ir:
            img = (self.ir_albedo * floor_light * dark)[..., None]
        else:
            img = self.albedo * (floor_light * dark)[..., None]
        img = np.ascontiguousarray(img, np.float32)

        def distance(b: Body) -> float:
            x, y, *_ = b.at(t) or (0.0, 0.0)
            return -math.hypot(x, y - cam.y)

        for body in sorted(bodies, key=distance):
            for pts, colour, reflect in body.parts(t):
                centre = pts.mean(axis=0)
                e = float(self._light_at(light, centre[0], centre[1], centre[2]))
                paint = (reflect * e,) if ir else tuple(c * e for c in colour)
                self._fill(img, cam.project(pts), paint, k, projected=True)
        img = cv2.resize(img, cam.size, interpolation=cv2.INTER_AREA) * 255.0
        img = cv2.GaussianBlur(img, (0, 0), 0.6)
        mean = float(img.mean())
        if self.gain is None:  # a camera starts exposed for the empty doorway
            self.gain = TARGET_MEAN / max(mean, 1.0)
        img *= self.gain
        self.gain *= (TARGET_MEAN / max(mean * self.gain, 1.0)) ** 0.15  # auto-exposure
        self.gain = min(max(self.gain, 0.2), 8.0)
        sigma = scene.noise * (1.8 if ir else 1.0)
        if ir:
            img = img if img.ndim == 2 else img[..., 0]
            img = img + self.rng.standard_normal(img.shape, dtype=np.float32) * sigma
            img = cv2.merge([img, img, img])
        else:
            img += self.rng.standard_normal(img.shape, dtype=np.float32) * sigma
        out = np.clip(img, 0, 255).astype(np.uint8)
        if scene.jpeg is not None:
            quality = int(self.rng.uniform(*scene.jpeg))
            ok, data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok:
                out = cv2.imdecode(data, cv2.IMREAD_COLOR)
        return out

    def _fill(
        self,
        img: np.ndarray,
        pts: np.ndarray | None,
        colour: object,
        k: int,
        projected: bool = False,
    ) -> None:
        if pts is None:
            return
        px = pts if projected else self.scene.camera.project(pts)
        if np.isnan(px).any():
            return
        fixed = np.round(px * k * 4.0).astype(np.int32)  # 2 fractional bits
        hull = cv2.convexHull(fixed)
        cv2.fillConvexPoly(
            img, hull, colour if isinstance(colour, tuple) else (colour,), cv2.LINE_8, 2
        )


@dataclass(frozen=True, slots=True)
class Style:
    """A preset: the ranges a scene's camera, light and people are drawn from."""

    mix: dict[str, float]  # event name → weight
    lights: tuple[str, ...] = ("day", "lamp")  # one is drawn per scene; "switch": lamp → IR → lamp
    crowd: Crowd = field(default_factory=Crowd)
    noise: tuple[float, float] = (2.0, 5.0)
    jpeg: tuple[float, float] | None = None
    shadow: tuple[float, float] = (0.15, 0.45)
    ir_shadow: tuple[float, float] = (0.0, 0.0)
    tilt_deg: tuple[float, float] = (0.0, 12.0)  # either way: nearly straight down
    mean_gap_s: float = 1.5


def make_scene(name: str, style: Style, seed: int, *, events: int = 24, fps: float = FPS) -> Scene:
    rng = np.random.default_rng([seed, 3])
    tilt = rng.uniform(*style.tilt_deg) * rng.choice([-1.0, 1.0])
    fov = rng.uniform(60.0, 95.0)
    cam = Camera(SIZE, rng.uniform(2.5, 3.5), fov, tilt, rng.uniform(-0.3, 0.3))
    floor = tuple(float(c) for c in rng.uniform(0.35, 0.7) * (1.0 + rng.uniform(-0.12, 0.12, 3)))
    kind = str(rng.choice(style.lights))
    lamp = (rng.uniform(-1.2, 1.2), rng.uniform(-1.5, 1.5), rng.uniform(2.3, 3.0))
    sun = (rng.uniform(-0.5, 0.5), rng.uniform(-0.8, -0.2))
    base = dict(
        lamp=lamp,
        sun=sun,
        shadow=rng.uniform(*style.shadow),
        ir_shadow=rng.uniform(*style.ir_shadow),
    )
    length = events * (style.mean_gap_s + 1.2) + 8.0
    blocked: list[tuple[float, float]] = []
    if kind == "switch":
        t1, t2 = 0.35 * length, 0.75 * length
        lights = [
            (0.0, Light("lamp", **base)),
            (t1, Light("ir", **base)),
            (t2, Light("lamp", **base)),
        ]
        blocked = [(t - 1.0, t + 4.0) for t in (t1, t2)]
    else:
        lights = [(0.0, Light(kind, **base))]
    crowd = style.crowd
    reach = _reach(cam)
    crowd = replace(crowd, reach=reach)
    names, weights = zip(*style.mix.items(), strict=True)
    people: list[Body] = []
    t = 1.0 + reach / crowd.speed[0]  # the first walker starts out of view, after frame 0
    for i in range(events):
        event = EVENTS[str(rng.choice(names, p=np.array(weights) / sum(weights)))]
        place = event(rng, crowd, floor, 1 if i % 2 == 0 else -1)  # type: ignore[arg-type]
        for _ in range(200):
            group = place(t)
            if _free(group, people, blocked, reach):
                break
            t += 0.25
        people += group
        t += 0.6 + rng.exponential(style.mean_gap_s)
    duration = max(b.end for b in people) + 1.0
    noise = rng.uniform(*style.noise)
    return Scene(name, seed, cam, people, lights, floor, noise, style.jpeg, duration, fps)  # type: ignore[arg-type]


def _reach(cam: Camera) -> float:
    """How far along the walk (m from the line) the camera sees the floor, plus a body."""
    return float(np.abs(cam.floor()[1]).max()) + 1.2


def _free(
    group: list[Body], people: list[Body], blocked: list[tuple[float, float]], reach: float
) -> bool:
    """Nobody in `group` walks into anyone already placed, nor is in view around a switch."""
    for b in group:
        for t0, t1 in blocked:
            for t in np.arange(max(t0, b.start), min(t1, b.end), 0.2):
                pose = b.at(float(t))
                if pose is not None and abs(pose[1]) < reach - 0.5:
                    return False
        for p in people:
            lo, hi = max(b.start, p.start), min(b.end, p.end)
            for t in np.arange(lo, hi, 0.1):
                u, v = b.at(float(t)), p.at(float(t))
                if (
                    u
                    and v
                    and math.hypot(u[0] - v[0], u[1] - v[1])
                    < (b.shoulders + p.shoulders) / 2 + 0.35
                ):
                    return False
    return True


GROUPS_MIX = {"abreast": 0.5, "in_file": 0.3, "passing": 0.2}
HARD_MIX = {"walker": 0.2, "turn_back": 0.25, "linger": 0.2, "abreast": 0.2, "in_file": 0.15}
STYLES: dict[str, tuple[str, Style]] = {
    "3d-singles": ("singles", Style({"walker": 1.0})),
    "3d-singles-ir": ("singles", Style({"walker": 1.0}, lights=("ir",), noise=(2.0, 4.0))),
    "3d-groups": ("groups", Style(GROUPS_MIX)),
    "3d-groups-ir": ("groups", Style(GROUPS_MIX, lights=("ir",), noise=(2.0, 4.0))),
    "3d-hard": (
        "hard",
        Style(
            HARD_MIX,
            lights=("day", "lamp", "switch"),
            crowd=Crowd(low_share=0.3, backpack_share=0.3, umbrella_share=0.15),
            jpeg=(45.0, 85.0),
            shadow=(0.3, 0.6),
        ),
    ),
    "3d-hard-ir": (
        "hard",
        Style(HARD_MIX, lights=("ir",), noise=(3.0, 6.0), jpeg=(45.0, 85.0), ir_shadow=(0.2, 0.5)),
    ),
}
