"""Short videos of a member showing a phone to the door camera: approach, hold, a shaky hand.

A clip starts with the empty doorway, then the phone comes in from an edge of the frame,
growing as it comes closer and slowing down (ease-out) over `approach_s`, and is held in
front of the camera for `hold_s` with a hand tremor (a few pixels at 2–7 Hz, a degree of
rotation). Each frame is rendered by `firmware_sim.scenes` with the phone's travel during
the exposure as a motion smear, so a moving phone is blurred as on a real sensor; the light
(day, night or glare) sets the exposure time, brightness, noise and reflections. Every frame
records whether the whole code is in view: the start of the clock for "time to unlock".
Times are seconds, sizes pixels of the frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from firmware_sim.backdrops import BACKDROPS
from firmware_sim.scenes import DEFAULT_SIZE, jpeg_roundtrip, render_empty, render_phone_shot

Light = Literal["day", "night", "glare"]
Edge = Literal["bottom", "left", "right"]

# Exposure time per light, s: a door camera's auto-exposure runs short in daylight and long
# at night, which is what turns a moving phone into a smear.
EXPOSURE_S: dict[str, float] = {"day": 1 / 250, "glare": 1 / 100, "night": 1 / 30}
# Brightness (share of full exposure) per light: night is dim even at the longest exposure.
BRIGHTNESS: dict[str, float] = {"day": 1.0, "glare": 0.8, "night": 0.35}
# Sensor noise per light, grey levels (σ): gain is turned up at night.
NOISE: dict[str, float] = {"day": 2.0, "glare": 3.0, "night": 7.0}
# Share of its final size the code has when it crosses the frame's edge (the arm is still
# coming closer).
START_SCALE = 0.65
# The tremor's frequencies, Hz: physiological hand tremor and arm sway.
TREMOR_HZ = (2.3, 4.1, 6.7)


@dataclass(frozen=True)
class ClipSpec:
    """One member's walk-up. `shake_px` is the tremor's RMS amplitude while held (px), `blur` the
    camera's focus blur (Gaussian σ, px), `code_px` the code's width when held (quiet zone
    included), `lead_s` the empty doorway before the phone appears."""

    text: str
    seed: int
    light: Light = "day"
    approach_s: float = 0.4
    hold_s: float = 1.6
    shake_px: float = 2.0
    blur: float = 0.6
    code_px: int = 260
    angle_deg: float = 0.0
    tilt: float = 0.05
    edge: Edge = "bottom"
    jpeg_quality: int | None = 80
    backdrop: str = "doorway"
    lead_s: float = 0.6
    fps: float = 15.0
    size: tuple[int, int] = DEFAULT_SIZE


@dataclass
class Clip:
    """The frames (BGR uint8) with their times from the clip's start and whether the whole
    code is in each; `in_view_s` is the first such time (None if the code never is)."""

    spec: ClipSpec
    frames: list[np.ndarray] = field(default_factory=list)
    times_s: list[float] = field(default_factory=list)
    in_view: list[bool] = field(default_factory=list)

    @property
    def in_view_s(self) -> float | None:
        return next((t for t, seen in zip(self.times_s, self.in_view, strict=True) if seen), None)


def _ease_out(u: float) -> float:
    """Position along the approach for time share `u` (0–1): fast in, slow to a stop."""
    u = min(1.0, max(0.0, u))
    return 1.0 - (1.0 - u) ** 3


class _Path:
    """Where the phone is at time t after it starts entering: centre, code size, angle."""

    def __init__(self, spec: ClipSpec, rng: np.random.Generator) -> None:
        w, h = spec.size
        self.spec = spec
        margin = spec.code_px * 0.75
        self.end = (
            float(rng.uniform(margin, max(margin, w - margin))),
            float(rng.uniform(margin, max(margin, h - margin))),
        )
        start_half = spec.code_px * START_SCALE * 0.9  # the phone body leads the code in
        x, y = self.end
        self.start = {
            "bottom": (x + rng.uniform(-0.2, 0.2) * w, h + start_half),
            "left": (-start_half, y + rng.uniform(-0.2, 0.2) * h),
            "right": (w + start_half, y + rng.uniform(-0.2, 0.2) * h),
        }[spec.edge]
        self.phases = rng.uniform(0, 2 * math.pi, (len(TREMOR_HZ), 3))
        self.turn_deg = float(rng.uniform(-15, 15))  # the wrist still turning on the way in

    def at(self, t: float) -> tuple[tuple[float, float], float, float]:
        spec = self.spec
        u = _ease_out(t / spec.approach_s) if spec.approach_s > 0 else 1.0
        x = self.start[0] + (self.end[0] - self.start[0]) * u
        y = self.start[1] + (self.end[1] - self.start[1]) * u
        size = spec.code_px * (START_SCALE + (1 - START_SCALE) * u)
        angle = spec.angle_deg + self.turn_deg * (1 - u)
        # The tremor fades in over the approach's second half: RMS `shake_px` once held.
        held = min(1.0, max(0.0, (t - spec.approach_s * 0.5) / max(1e-6, spec.approach_s)))
        amplitude = held * spec.shake_px / math.sqrt(len(TREMOR_HZ) / 2)
        for hz, (px, py, pa) in zip(TREMOR_HZ, self.phases, strict=True):
            wave = 2 * math.pi * hz * t
            x += amplitude * math.sin(wave + px)
            y += amplitude * math.sin(wave + py)
            angle += held * 0.5 * math.sin(wave + pa)
        return (x, y), size, angle


def render_clip(spec: ClipSpec) -> Clip:
    """Render `spec` frame by frame at `spec.fps` (deterministic for its seed)."""
    rng = np.random.default_rng(spec.seed)
    backdrop = BACKDROPS[spec.backdrop](spec.size, rng)  # the scene stays put for the clip
    path = _Path(spec, rng)
    glare = float(rng.uniform(0.35, 0.7)) if spec.light == "glare" else 0.0
    glare_at = (float(rng.uniform(-0.3, 0.3)), float(rng.uniform(-0.3, 0.3)))
    exposure = EXPOSURE_S[spec.light]
    # Noise and JPEG are added here, in float32: the scenes' float64 noise is most of a
    # frame's cost, and a clip has dozens of frames.
    camera = {"brightness": BRIGHTNESS[spec.light], "noise": 0.0, "blur": spec.blur,
              "size": spec.size}  # fmt: skip
    clip = Clip(spec)
    n = round((spec.lead_s + spec.approach_s + spec.hold_s) * spec.fps)
    for i in range(n):
        t = i / spec.fps
        clip.times_s.append(t)
        since = t - spec.lead_s
        if since < 0:
            empty = render_empty(backdrop=backdrop, rng=rng, **camera)
            clip.frames.append(_sensor(empty, spec, rng))
            clip.in_view.append(False)
            continue
        center, code_px, angle = path.at(since)
        later, _, _ = path.at(since + exposure)
        smear = (later[0] - center[0], later[1] - center[1])
        shot = render_phone_shot(
            spec.text, code_px=round(code_px), angle_deg=angle, tilt=spec.tilt, glare=glare,
            glare_at=glare_at, center=center, motion_px=smear, backdrop=backdrop, rng=rng,
            **camera,
        )  # fmt: skip
        clip.frames.append(_sensor(shot.frame, spec, rng))
        clip.in_view.append(shot.code_in_view())
    return clip


def _sensor(frame: np.ndarray, spec: ClipSpec, rng: np.random.Generator) -> np.ndarray:
    """Sensor noise for the clip's light, then the camera stream's JPEG."""
    noisy = frame.astype(np.float32)
    noisy += rng.standard_normal(noisy.shape, dtype=np.float32) * NOISE[spec.light]
    out = np.clip(noisy, 0, 255).astype(np.uint8)
    return jpeg_roundtrip(out, spec.jpeg_quality) if spec.jpeg_quality is not None else out
