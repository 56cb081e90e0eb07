"""The lock relay on a GPIO pin (gpiozero), implementing the `Relay` port.

Fail-secure: the relay is off (locked) at start, after every pulse, on close and whenever the
process dies, because an energised relay is the only thing that releases the lock. A pulse
runs on gpiozero's background blink thread, so `unlock()` returns in microseconds and the
door loop goes straight on to journaling.
"""

from __future__ import annotations

import logging
import threading

from gpiozero import DigitalOutputDevice
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

    @property
    def is_active(self) -> bool:
        """True while the relay is energised (lock released)."""
        device = self._device
        return bool(device is not None and device.is_active)
