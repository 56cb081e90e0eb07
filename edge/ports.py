"""Ports: the small interfaces behind which hardware, time and the uplink sit.

Real adapters live in the edge (`edge.hw` on gpiozero, OpenCV capture, the system clock, the
MQTT link); fakes live in `firmware_sim`. The agent only ever talks to these, so the whole
chain runs in one process without hardware. The uplink is a seam of its own: the agent hands
its `LinkHooks` to an `Uplink` factory and gets a `Publisher` back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import numpy as np

from protocol.credential import Reason
from protocol.messages import CmdResultPayload, MetaPayload, Status, TelemetryPayload

if TYPE_CHECKING:
    from edge.config import EdgeConfig
    from edge.journal import Journal

# What door inputs report: the contact opened or closed, or the exit button was pressed.
SensorKind = Literal["opened", "closed", "exit"]
# What the member at the door is shown: a grant, a denial, or a valid code refused because
# the station is closed by schedule (`edge.feedback.cues`).
FeedbackKind = Literal["granted", "denied", "closed"]


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

    def drain(self) -> list[SensorKind]:
        """Items are "opened", "closed" (the door contact) or "exit" (the exit button)."""
        ...


@runtime_checkable
class Indicators(Protocol):
    """The door's lights and buzzer; each output may be missing (setting it does nothing)."""

    def open(self) -> None: ...

    def close(self) -> None: ...

    def show(self, *, green: bool, red: bool, buzz: bool) -> None:
        """Switch every output at once; returns at once."""
        ...


@runtime_checkable
class Feedback(Protocol):
    """What the member at the door sees and hears (`edge.feedback.worker.DoorFeedback`)."""

    def start(self, sid: str, stats: Counter[str]) -> None:
        """Claim the outputs and start; failures are counted in `stats`, never raised."""
        ...

    def stop(self) -> None: ...

    def show(self, kind: FeedbackKind, reason: Reason) -> None:
        """Queue one decision's pattern and prompt; returns at once (the door loop calls it)."""
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


CommandHandler = Callable[[str, bytes], CmdResultPayload | None]
ConfigHandler = Callable[[bytes], CmdResultPayload | None]


def _online() -> tuple[Status, str | None]:
    return "online", None


@dataclass(frozen=True, slots=True)
class LinkHooks:
    """The station's side of the uplink: what the link asks the station for, and hands it.

    All are called on the link's thread (paho's, or the shared loop's) and must be quick.
    """

    meta: Callable[[], MetaPayload]  # the retained birth `meta`, built at every connect
    status: Callable[[], tuple[Status, str | None]] = _online  # the birth state and why
    on_ack: Callable[[int], None] | None = None  # the cloud committed every row up to seq
    on_trust: Callable[[bytes], None] | None = None  # a retained trust list arrived
    on_revocations: Callable[[bytes], None] | None = None  # a retained revocation list
    on_command: CommandHandler | None = None  # `cmd/<name>`; the result goes to cmd_result
    on_config: ConfigHandler | None = None  # the desired config; the result too


@runtime_checkable
class Publisher(Protocol):
    """The uplink as the agent sees it (`edge.link.mqtt.Link`); the agent has None offline."""

    @property
    def connected(self) -> bool: ...

    def start(self) -> None:
        """Connect in the background; no I/O before this."""
        ...

    def stop(self) -> None:
        """A clean stop: the retained `offline` state, then DISCONNECT."""
        ...

    def abort(self) -> None:
        """Drop the connection like a power cut: the broker sends the will."""
        ...

    def kick(self) -> None:
        """A row was journaled: wake the drain."""
        ...

    def publish_telemetry(self, payload: TelemetryPayload) -> None:
        """The live heartbeat (QoS 0, never journaled)."""
        ...

    def rebirth(self) -> None:
        """Publish meta and state again (after a config change, the `rebirth` command)."""
        ...

    def sync(self) -> None:
        """Resend the unacked window and ask for the retained trust lists again."""
        ...


class Uplink(Protocol):
    """Builds the station's publisher on the agent's own journal and clock, around the hooks
    the agent hands it: the seam between the agent and its link. `edge.link.mqtt.Link`
    itself is one, `functools.partial(Link, loop=...)` another (a simulated fleet)."""

    def __call__(
        self, config: EdgeConfig, journal: Journal, *, clock: Clock, hooks: LinkHooks
    ) -> Publisher: ...
