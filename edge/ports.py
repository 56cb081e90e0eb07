"""Ports: the small interfaces behind which hardware and time sit.

Real adapters live in the edge (gpiozero relay, OpenCV capture, the system clock); fakes live
in `firmware_sim`. The agent only ever talks to these, so the whole chain runs in one process
without hardware.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

import numpy as np

from protocol.messages import TelemetryPayload


@runtime_checkable
class FrameSource(Protocol):
    """A camera. `read()` blocks for at most about one frame period."""

    def open(self) -> None: ...

    def close(self) -> None: ...

    def read(self) -> np.ndarray | None:
        """The next frame (H×W×3 BGR or H×W gray, uint8), or None if there is none yet."""
        ...


@runtime_checkable
class Relay(Protocol):
    """The lock relay. Off (not active) is locked: losing power must lock the door."""

    def open(self) -> None: ...

    def close(self) -> None: ...

    def pulse(self, seconds: float) -> None:
        """Energise for `seconds`, then release; returns at once."""
        ...

    @property
    def is_active(self) -> bool: ...


@runtime_checkable
class LockHold(Protocol):
    """A relay that can also stay released (free-passage hours); optional beside `Relay`."""

    def hold(self, released: bool) -> None: ...


@runtime_checkable
class DoorInputs(Protocol):
    """Door contact and exit button: what happened since the last `drain()`, in order."""

    def open(self) -> None: ...

    def close(self) -> None: ...

    @property
    def door_open(self) -> bool | None:
        """The contact's state now; None if no contact is fitted."""
        ...

    def drain(self) -> list[str]:
        """Items are "opened", "closed" (the door contact) or "exit" (the exit button)."""
        ...


@runtime_checkable
class Clock(Protocol):
    """Wall time for payloads and credential checks; monotonic time for intervals."""

    def now(self) -> datetime:
        """Timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never jumps."""
        ...


@runtime_checkable
class QrDecoder(Protocol):
    """Finds QR codes in a frame; never raises on bad frames (returns [])."""

    def decode(self, frame: object) -> list[str]: ...


@runtime_checkable
class Publisher(Protocol):
    """The uplink as the agent sees it: wake the journal drain, send live telemetry."""

    def kick(self) -> None: ...

    def publish_telemetry(self, payload: TelemetryPayload) -> None: ...
