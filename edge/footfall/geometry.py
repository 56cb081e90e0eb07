"""The counting line, its hysteresis band, and the camera counter's settings.

Pure Python (no OpenCV) so `EdgeConfig` can embed `CountingConfig` without importing cv2.
Coordinates in the config are pixels of the camera's frame (origin top-left); the counter
works on a frame downscaled to `process_width`, and `LineBand.scaled` maps them there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

Point = tuple[float, float]
# Relative frame-to-frame jump of the median brightness that means the lights changed. 0.1:
# a lamp coming on over an IR-lit floor moved the median by only 10-13 % yet lit it in a new
# pattern the gain normalisation cannot undo (0.25 missed it); frames without a switch moved
# it < 1.5 % on every tuning preset.
LIGHT_JUMP = 0.1
Segment = tuple[float, float, float, float]


class CountingConfig(BaseModel):
    """Where the counting line is and how the camera counter decides (tunables have defaults
    that fit an overhead camera at 2.5-4 m seen at 320 px wide)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    line: Segment = Field(description="x1, y1, x2, y2 of the counting line, camera pixels")
    inside: Point = Field(description="any point on the station's side of the line, camera px")
    process_width: int = Field(
        default=320, ge=80, le=1920, description="frames are downscaled to this width first"
    )
    band_px: float = Field(
        default=10.0,
        ge=0.0,
        le=200.0,
        description="half-width of the hysteresis band around the line, processing px: a "
        "track counts once it goes from one band edge to the other",
    )
    min_area_px: float = Field(
        default=60.0, ge=1.0, description="smaller foreground blobs are ignored, processing px²"
    )
    person_area_px: float | None = Field(
        default=None,
        gt=0.0,
        description="area of one person's blob, processing px²: blobs are divided by it; "
        "None (overhead camera) judges people side by side by the blob's width/depth",
    )
    max_people_per_blob: int = Field(default=5, ge=1, le=20)
    max_match_px: float = Field(
        default=45.0, gt=0.0, description="farthest a track may move between two frames, px"
    )
    max_missed_frames: int = Field(
        default=6, ge=0, le=300, description="frames a track may go unseen before it is lost"
    )
    memory_s: float = Field(
        default=30.0,
        ge=0.0,
        le=3600.0,
        description="a lost track's side is remembered this long, so a person who stood "
        "still (and faded into the background) is not counted again when they move on",
    )
    history_frames: int = Field(
        default=900, ge=10, le=100_000, description="background model memory (MOG2 history)"
    )
    var_threshold: float = Field(default=16.0, gt=0.0, description="MOG2 varThreshold")
    shadow_threshold: float = Field(
        default=0.5,
        gt=0.0,
        lt=1.0,
        description="MOG2 shadow tau: a pixel darkened to between tau and 1x the background "
        "is a shadow and dropped",
    )
    noise_fraction: float = Field(
        default=0.6,
        gt=0.0,
        le=1.0,
        description="a frame with more foreground than this is not trusted (noise, glitch)",
    )
    light_jump: float = Field(
        default=LIGHT_JUMP,
        gt=0.0,
        le=10.0,
        description="relative jump of the frame's median brightness, frame to frame, that "
        "means the lights changed (switch, IR mode)",
    )
    settle_s: float = Field(
        default=2.0,
        ge=0.0,
        le=120.0,
        description="after a light change, glitch or freeze: no counting for this long while "
        "the background re-learns",
    )
    frozen_s: float = Field(
        default=3.0,
        gt=0.0,
        le=3600.0,
        description="identical frames for this long (after a lively input) = frozen camera",
    )
    debug_snapshot_dir: Path | None = Field(
        default=None,
        description="installers only: write an annotated frame here (local disk, never "
        "sent); None (the default) writes nothing",
    )
    debug_snapshot_every_s: float = Field(default=10.0, ge=1.0, le=86_400.0)
    debug_snapshot_keep: int = Field(
        default=50, ge=1, le=10_000, description="older snapshots are deleted beyond this"
    )

    @model_validator(mode="after")
    def _line_usable(self) -> CountingConfig:
        LineBand.from_config(self)  # raises ValueError with the reason
        return self


@dataclass(frozen=True, slots=True)
class LineBand:
    """A line with a band either side; `side` is +1 on the inside point's side beyond the band,
    -1 on the other side beyond it, 0 within it."""

    x1: float
    y1: float
    nx: float  # unit normal pointing to the inside
    ny: float
    band: float

    @classmethod
    def make(cls, line: Segment, inside: Point, band: float) -> LineBand:
        x1, y1, x2, y2 = line
        length = math.hypot(x2 - x1, y2 - y1)
        if length < 1.0:
            raise ValueError("the counting line has zero length")
        nx, ny = -(y2 - y1) / length, (x2 - x1) / length
        d = (inside[0] - x1) * nx + (inside[1] - y1) * ny
        if abs(d) < 1.0:
            raise ValueError("the inside point lies on the counting line")
        if d < 0:
            nx, ny = -nx, -ny
        return cls(x1, y1, nx, ny, band)

    @classmethod
    def from_config(cls, config: CountingConfig, scale: float = 1.0) -> LineBand:
        """The config's line at `scale` (processing px per camera px); the band is already in
        processing px."""
        x1, y1, x2, y2 = (v * scale for v in config.line)
        inside = (config.inside[0] * scale, config.inside[1] * scale)
        return cls.make((x1, y1, x2, y2), inside, config.band_px)

    def distance(self, x: float, y: float) -> float:
        """Signed distance from the line, positive towards the inside."""
        return (x - self.x1) * self.nx + (y - self.y1) * self.ny

    def side(self, x: float, y: float) -> int:
        d = self.distance(x, y)
        if d >= self.band:
            return 1
        if d <= -self.band:
            return -1
        return 0


def parse_numbers(text: str, n: int, what: str) -> tuple[float, ...]:
    """'10,20,30,40' → (10.0, 20.0, 30.0, 40.0); ValueError naming `what` otherwise."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise ValueError(f"{what} must be {n} numbers separated by commas, got {text!r}") from None
    if len(values) != n or not all(math.isfinite(v) for v in values):
        raise ValueError(f"{what} must be {n} numbers separated by commas, got {text!r}")
    return values
