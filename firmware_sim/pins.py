"""gpiozero mock pins, so the real `edge.hw` relay and door inputs run without a Pi; and
thread-free equivalents of both on the same pins for a fleet (`LightRelay`, `LightDoorInputs`).

The door contact and exit button are wired to ground with pull-ups (`edge.hw.door_inputs`): a
closed door or a pressed button reads low.

Why the light ones: gpiozero starts a hold-watching thread per `Button` (polling every 0.1 s)
and a thread per relay pulse, 10,000 threads for 5,000 stations.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from gpiozero.pins.mock import MockFactory, MockPin

from edge.ports import Relay, SensorKind


class TimedRelay:
    """A relay port around another that notes when it was last told to open (`pulsed_at`,
    on `clock`: `time.perf_counter` for wall time, `time.process_time` for CPU time) — what
    the door benchmarks time scan-to-unlock by."""

    def __init__(self, relay: Relay, clock: Callable[[], float] = time.perf_counter) -> None:
        self.relay = relay
        self.clock = clock
        self.pulsed_at: float | None = None

    def open(self) -> None:
        self.relay.open()

    def close(self) -> None:
        self.relay.close()

    def pulse(self, seconds: float) -> None:
        self.pulsed_at = self.clock()
        self.relay.pulse(seconds)

    @property
    def is_active(self) -> bool:
        return self.relay.is_active


def mock_factory() -> MockFactory:
    """A private pin factory per simulated station (never the global `Device.pin_factory`)."""
    return MockFactory()


def relay_pin(factory: MockFactory, pin: int = 17) -> MockPin:
    """The mock pin behind the relay; `.state` is the electrical level (True = high)."""
    return factory.pin(pin)


def set_door(factory: MockFactory, pin: int, *, is_open: bool) -> None:
    """Move the door: the reed switch opens (pin high) with the door."""
    mock = factory.pin(pin)
    if is_open:
        mock.drive_high()
    else:
        mock.drive_low()


def press_button(factory: MockFactory, pin: int, hold_s: float = 0.02) -> None:
    """Press and release a button wired to ground (pin low while pressed)."""
    mock = factory.pin(pin)
    mock.drive_low()
    time.sleep(hold_s)
    mock.drive_high()


class LightRelay:
    """The lock relay on a mock pin without gpiozero's per-pulse thread: a pulse ends lazily,
    when the relay is next looked at (`is_active`, `step()`)."""

    def __init__(self, pins: MockFactory, pin: int) -> None:
        self.pins = pins
        self.pin_number = pin
        self._pin: MockPin | None = None
        self._until = 0.0
        self._held = False

    def open(self) -> None:
        if self._pin is None:
            self._pin = self.pins.pin(self.pin_number)
            self._pin.function = "output"
            self._pin.state = False

    def close(self) -> None:
        pin, self._pin = self._pin, None
        if pin is not None:
            pin.state = False
            pin.close()

    def pulse(self, seconds: float) -> None:
        if self._pin is None:
            raise RuntimeError("door relay is not open")
        self._until = time.monotonic() + seconds
        self._pin.state = True

    def hold(self, released: bool) -> None:
        if self._pin is None:
            raise RuntimeError("door relay is not open")
        self._held = released
        self.step()

    def step(self) -> None:
        if self._pin is not None:
            self._pin.state = self.is_active

    @property
    def is_active(self) -> bool:
        return self._pin is not None and (self._held or time.monotonic() < self._until)


class LightDoorInputs:
    """Door contact and exit button read straight off mock pin edges (no gpiozero `Button`,
    so no hold thread). Same wiring as `edge.hw.door_inputs.GpioDoorInputs`: pull-ups, low =
    closed/pressed."""

    def __init__(self, pins: MockFactory, contact: int, exit_button: int) -> None:
        self.pins = pins
        self.numbers = (contact, exit_button)
        self._pins: list[MockPin] = []
        self._events: list[SensorKind] = []

    def open(self) -> None:
        if self._pins:
            return
        for number, handler in zip(self.numbers, (self._contact, self._exit), strict=True):
            pin = self.pins.pin(number)
            pin.function = "input"
            pin.pull = "up"
            pin.edges = "both"
            pin.when_changed = handler
            self._pins.append(pin)

    def close(self) -> None:
        for pin in self._pins:
            pin.when_changed = None
        self._pins = []

    def _contact(self, ticks: float, state: bool) -> None:
        self._events.append("opened" if state else "closed")

    def _exit(self, ticks: float, state: bool) -> None:
        if not state:
            self._events.append("exit")

    @property
    def door_open(self) -> bool | None:
        return bool(self._pins[0].state) if self._pins else None

    def drain(self) -> list[SensorKind]:
        out, self._events = self._events, []
        return out
