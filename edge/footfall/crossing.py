"""What every people counter emits, and what the aggregator consumes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Direction(StrEnum):
    IN = "in"  # towards the station's inside
    OUT = "out"


@dataclass(frozen=True, slots=True)
class Crossing:
    """`count` people crossed the line together in `direction` at monotonic time `at`."""

    direction: Direction
    at: float
    count: int = 1
    source: str = "camera"  # camera or beam
