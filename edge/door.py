"""The door: lock relay, door contact and exit button on GPIO (gpiozero).

`Door` implements the `Relay` port. Fail-secure: the relay is off (locked) at start, after
every pulse, on close and whenever the process dies, because an energised relay is the only
thing that releases the lock. A pulse runs on gpiozero's background blink thread, so
`unlock()` returns in microseconds and the door loop goes straight on to journaling.

`DoorSensors` watches the reed switch and the exit button. gpiozero calls back on its own
threads; the callbacks only queue what happened, and the door loop drains the queue through
`DoorMonitor`, which decides `door_opened` / `door_closed` / `held_open` / `forced_open` and
whether an exit press releases the lock. Data flows one way, and only the loop journals.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from typing import Literal

from gpiozero import Button, DigitalOutputDevice
from gpiozero.pins import Factory

from edge.config import DoorConfig

log = logging.getLogger(__name__)


class Door:
    """One lock relay. The pin factory is injected (`MockFactory` off a Pi)."""

    def __init__(self, config: DoorConfig, *, pin_factory: Factory | None = None) -> None:
        self.config = config
        self.pin_factory = pin_factory
        self._device: DigitalOutputDevice | None = None
        self._lock = threading.Lock()

    def open(self) -> None:
        """Claim the pin, relay off (locked)."""
        with self._lock:
            if self._device is None:
                self._device = DigitalOutputDevice(
                    self.config.relay_pin,
                    active_high=self.config.active_high,
                    initial_value=False,
                    pin_factory=self.pin_factory,
                )

    def close(self) -> None:
        """Lock and release the pin."""
        with self._lock:
            device, self._device = self._device, None
        if device is not None:
            try:
                device.off()
            finally:
                device.close()

    def pulse(self, seconds: float) -> None:
        """Energise the relay for `seconds`, then release it; returns at once.

        A pulse during a pulse restarts it, so two members in a row get the full time.
        """
        device = self._device
        if device is None:
            raise RuntimeError("door relay is not open")
        device.blink(on_time=seconds, off_time=0, n=1, background=True)

    def unlock(self, pulse_s: float | None = None) -> None:
        """Release the lock for `pulse_s` seconds (default: the configured pulse)."""
        self.pulse(self.config.pulse_s if pulse_s is None else pulse_s)

    def hold(self, released: bool) -> None:
        """Keep the lock released (free-passage hours) or locked until told otherwise."""
        device = self._device
        if device is None:
            raise RuntimeError("door relay is not open")
        if released:
            device.on()
        else:
            device.off()

    @property
    def is_active(self) -> bool:
        """True while the relay is energised (lock released)."""
        device = self._device
        return bool(device is not None and device.is_active)


SensorKind = Literal["opened", "closed", "exit"]
MonitorAction = Literal["door_opened", "door_closed", "held_open", "forced_open", "exit"]


class DoorSensors:
    """Reed switch and exit button; each is optional (None pin = not fitted).

    Both are wired to ground with the Pi's pull-up: a closed door holds the reed switch closed
    (pin low, "pressed"); a pressed exit button pulls its pin low.
    """

    def __init__(self, config: DoorConfig, *, pin_factory: Factory | None = None) -> None:
        self.config = config
        self.pin_factory = pin_factory
        self.events: queue.SimpleQueue[SensorKind] = queue.SimpleQueue()
        self._contact: Button | None = None
        self._exit: Button | None = None

    def open(self) -> None:
        if self.config.contact_pin is not None and self._contact is None:
            contact = Button(self.config.contact_pin, pull_up=True, pin_factory=self.pin_factory)
            contact.when_released = lambda: self.events.put("opened")
            contact.when_pressed = lambda: self.events.put("closed")
            self._contact = contact
        if self.config.exit_pin is not None and self._exit is None:
            button = Button(self.config.exit_pin, pull_up=True, pin_factory=self.pin_factory)
            button.when_pressed = lambda: self.events.put("exit")
            self._exit = button

    def close(self) -> None:
        for device in (self._contact, self._exit):
            if device is not None:
                device.close()
        self._contact = self._exit = None

    @property
    def door_open(self) -> bool | None:
        """True/False from the reed switch, None if there is none."""
        contact = self._contact
        return None if contact is None else not contact.is_pressed

    def drain(self) -> list[SensorKind]:
        out: list[SensorKind] = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out


@dataclass(frozen=True, slots=True)
class DoorHappening:
    """What the monitor concluded: an action to journal (and `exit`: release the lock)."""

    action: MonitorAction
    cause: str | None = None


class DoorMonitor:
    """Door state machine on monotonic seconds; pure logic, no pins and no I/O."""

    def __init__(self, config: DoorConfig) -> None:
        self.config = config
        self.is_open: bool | None = None  # unknown until the contact is first read
        self._opened_at: float | None = None
        self._held_reported = False
        self._released_until = -float("inf")  # lock released (grant/exit/free) until then
        self._release_cause: str | None = None
        self.free = False  # free-passage hours: opening is always authorised

    def sync(self, is_open: bool, now: float) -> None:
        """Take the contact's state at start-up without reporting it as an event."""
        self.is_open = is_open
        self._opened_at = now if is_open else None
        self._held_reported = False

    def released(self, now: float, seconds: float, cause: str) -> None:
        """The lock was released at `now` for `seconds` (a grant or an exit request)."""
        self._released_until = now + seconds + self.config.open_grace_s
        self._release_cause = cause

    def sensor(self, kind: SensorKind, now: float) -> list[DoorHappening]:
        if kind == "exit":
            return [DoorHappening("exit", "exit")]
        if kind == "opened" and not self.is_open:
            self.is_open = True
            self._opened_at = now
            self._held_reported = False
            if self.free:
                return [DoorHappening("door_opened", "free")]
            if now <= self._released_until:
                return [DoorHappening("door_opened", self._release_cause)]
            return [DoorHappening("forced_open")]
        if kind == "closed" and self.is_open is not False:
            was_open = self.is_open
            self.is_open = False
            self._opened_at = None
            return [DoorHappening("door_closed")] if was_open else []
        return []  # a repeated edge (contact bounce) changes nothing

    def tick(self, now: float) -> list[DoorHappening]:
        """Time passing: the door open past `held_open_s` raises `held_open` once."""
        opened = self._opened_at
        if opened is None or self._held_reported or self.free:
            return []
        if now - opened >= self.config.held_open_s:
            self._held_reported = True
            return [DoorHappening("held_open")]
        return []
