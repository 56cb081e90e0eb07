"""The lock relay on a GPIO pin (gpiozero): the `Relay` and `LockHold` ports.

Fail-secure: the relay is off (locked) at start, after every pulse, on close and whenever the
process dies, because an energised relay is the only thing that releases the lock. A pulse
runs on gpiozero's background blink thread, so `pulse()` returns in microseconds and the door
loop goes straight on to journaling.
"""

from __future__ import annotations

import threading

from gpiozero import DigitalOutputDevice
from gpiozero.pins import Factory

from edge.config import DoorConfig


class GpioRelay:
    """One lock relay. The pin factory is injected (`MockFactory` off a Pi)."""

    def __init__(self, config: DoorConfig, *, pin_factory: Factory | None = None) -> None:
        self.pin = config.relay_pin  # BCM number
        self.active_high = config.active_high
        self.pin_factory = pin_factory
        self._device: DigitalOutputDevice | None = None
        self._lock = threading.Lock()

    def open(self) -> None:
        """Claim the pin, relay off (locked)."""
        with self._lock:
            if self._device is None:
                self._device = DigitalOutputDevice(
                    self.pin,
                    active_high=self.active_high,
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
