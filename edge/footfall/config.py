"""The `[footfall]` section of station.toml: which counter, its wiring, and the interval.

Pydantic only (no OpenCV, no gpiozero), so `edge.config` can embed it cheaply; the camera's
line and inside point are the camera counter's own `CountingConfig`. `extra="forbid"` catches
typos like everywhere else in the config.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge.footfall.geometry import CountingConfig


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BeamConfig(_Model):
    """Two break-beams (or two PIRs) across the doorway; A on the street side, B inside."""

    pin_a: int = Field(default=5, ge=0, le=53, description="BCM GPIO of the street-side beam")
    pin_b: int = Field(default=6, ge=0, le=53, description="BCM GPIO of the inside beam")
    pull_up: bool = Field(
        default=True,
        description="True: the receiver pulls the pin low when the beam is broken "
        "(open-collector IR receivers); False: high when triggered (PIR modules)",
    )
    bounce_s: float = Field(
        default=0.03, ge=0.0, le=1.0, description="edges closer than this are contact bounce"
    )
    timeout_s: float = Field(
        default=10.0,
        gt=0.0,
        le=600.0,
        description="someone in the beams longer than this is forgotten and counts nothing",
    )
    blocked_after_s: float = Field(
        default=120.0,
        gt=0.0,
        le=86_400.0,
        description="a beam broken this long raises counter_degraded (blocked or misaligned)",
    )

    @model_validator(mode="after")
    def _distinct(self) -> BeamConfig:
        if self.pin_a == self.pin_b:
            raise ValueError("pin_a and pin_b must be different pins")
        return self


class CameraCountConfig(_Model):
    """The counting camera, overhead or door-facing; frames never leave the device."""

    source: str = Field(
        default="1",
        min_length=1,
        max_length=500,
        description="device index, video file or rtsp:// URL of the counting camera",
    )
    width: int = Field(default=320, ge=80, le=4096, description="frame width counted, px")
    height: int = Field(default=240, ge=60, le=4096, description="frame height counted, px")
    fps: float = Field(default=15.0, gt=0.0, le=120.0, description="frames counted per second")
    counting: CountingConfig = Field(
        description="counting line, inside point and the counter's tunables "
        "(`[footfall.camera.counting]`, see edge/footfall/geometry.py)"
    )


class FootfallConfig(_Model):
    """People counting. Off by default: a station without a counter sends no footfall."""

    enabled: bool = Field(default=False, description="run the footfall unit")
    count_by: Literal["camera", "beam"] = Field(
        default="camera",
        description="the counter whose crossings are counted; the other one, if configured, "
        "is only compared with it (no double counting)",
    )
    camera: CameraCountConfig | None = Field(default=None, description="counting camera")
    beam: BeamConfig | None = Field(default=None, description="two-beam sensor")
    interval_s: int = Field(
        default=300,
        ge=1,
        le=3600,
        description="counts are journaled per interval, aligned to UTC multiples of it",
    )
    rezero_idle_min: float = Field(
        default=90.0,
        gt=0.0,
        le=24 * 60.0,
        description="occupancy returns to 0 after this many minutes with no crossing and "
        "nobody at the counting line (people rest for an hour: keep it longer than a rest)",
    )

    @model_validator(mode="after")
    def _wiring(self) -> FootfallConfig:
        if 86_400 % self.interval_s:
            raise ValueError("interval_s must divide a day (60, 300, 600, 900, 3600, …)")
        if self.enabled and getattr(self, self.count_by) is None:
            raise ValueError(f"count_by = {self.count_by!r} needs a [footfall.{self.count_by}]")
        return self
