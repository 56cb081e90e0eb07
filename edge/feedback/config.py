"""The `[feedback]` section of station.toml: LEDs, buzzer and voice prompts at the door.

Pydantic only (no gpiozero), so `edge.config` can embed it cheaply. Every key is optional and
the defaults drive nothing: a station without the section behaves exactly as before.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_AUDIO_DIR = Path("/var/lib/waystation/voice")
DEFAULT_PLAYER = "aplay -q {file}"
PLAYER_FIELDS = ("file", "volume")  # what `player` may name in braces


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeedbackConfig(_Model):
    """Lights, beeps and a spoken prompt for each decision, off the door loop."""

    enabled: bool = Field(
        default=True, description="false: no feedback at all, whatever else is set"
    )
    green_pin: int | None = Field(
        default=None, ge=0, le=53, description="BCM GPIO of the green LED (lit on a grant)"
    )
    red_pin: int | None = Field(
        default=None, ge=0, le=53, description="BCM GPIO of the red LED (lit on a denial)"
    )
    buzzer_pin: int | None = Field(
        default=None, ge=0, le=53, description="BCM GPIO of an active buzzer (on = sounding)"
    )
    buzzer_active_high: bool = Field(
        default=True, description="False for buzzer modules that sound on a low input"
    )
    beep: bool = Field(default=True, description="false: the buzzer stays silent (lights only)")
    show_s: float = Field(
        default=1.5,
        ge=0.05,
        le=10.0,
        description="how long a pattern lasts, seconds (beeps are fractions of it)",
    )
    voice: bool = Field(
        default=False, description="speak a prompt per decision (files in audio_dir)"
    )
    audio_dir: Path = Field(
        default=DEFAULT_AUDIO_DIR,
        description="the prompts' WAV files (`waystation provision voice --out DIR`)",
    )
    player: str = Field(
        default=DEFAULT_PLAYER,
        min_length=1,
        max_length=300,
        description="command that plays one file; {file} is the WAV, {volume} 0..1 "
        "(e.g. 'pw-play --volume {volume} {file}')",
    )
    volume: float = Field(
        default=1.0, ge=0.0, le=1.0, description="passed to the player as {volume}"
    )
    prompt_timeout_s: float = Field(
        default=6.0,
        gt=0.0,
        le=60.0,
        description="a player still running after this long is stopped, seconds",
    )
    queue_size: int = Field(
        default=4, ge=1, le=64, description="decisions waiting for the worker; more are dropped"
    )

    @field_validator("player")
    @classmethod
    def _player(cls, value: str) -> str:
        try:
            words = shlex.split(value)
            for word in words:
                word.format(**{name: "x" for name in PLAYER_FIELDS})
        except (ValueError, KeyError, IndexError) as exc:
            raise ValueError(
                f"player {value!r}: a command line whose only {{…}} are {{file}} and {{volume}}"
            ) from exc
        if not words:
            raise ValueError("player is empty")
        return value

    @model_validator(mode="after")
    def _distinct_pins(self) -> FeedbackConfig:
        pins = self.pins
        if len(pins) != len(set(pins)):
            raise ValueError("green_pin, red_pin and buzzer_pin must be different pins")
        return self

    @property
    def pins(self) -> list[int]:
        """The GPIO pins this section drives (to check against the door's and beams')."""
        return [p for p in (self.green_pin, self.red_pin, self.buzzer_pin) if p is not None]

    @property
    def active(self) -> bool:
        """Whether there is anything to drive: a pin or the voice, and not switched off."""
        return self.enabled and (bool(self.pins) or self.voice)

    def player_command(self, file: Path) -> list[str]:
        """The player's argv for one file (no shell: a path with spaces stays one word)."""
        values = {"file": str(file), "volume": f"{self.volume:g}"}
        words = shlex.split(self.player)
        argv = [word.format(**values) for word in words]
        if not any("{file}" in word for word in words):
            argv.append(str(file))  # 'aplay -q' alone: the file goes last
        return argv
