"""Which GPIO pins the station agent drives: the Pi's real ones, or simulated ones on request.

On a Raspberry Pi gpiozero drives the pins through lgpio (the `edge` extra brings it on
aarch64; Raspberry Pi OS also packages it as `python3-lgpio`). Without a backend gpiozero
finds no pins, and mock pins would run a relay that never switches: the door never opens and
nothing but a log line says so. So `edge run` and `edge selftest` refuse to start on
simulated pins unless asked to (`--simulate-hardware`); the simulator, the demo and the tests
build their own mock factories (`firmware_sim.pins`) and never come here.
"""

from __future__ import annotations

import logging
import warnings

from gpiozero import Device
from gpiozero.exc import BadPinFactory
from gpiozero.pins import Factory
from gpiozero.pins.mock import MockFactory
from gpiozero.pins.native import NativeFactory

log = logging.getLogger(__name__)

NO_GPIO = (
    "no GPIO backend on this machine, so the lock relay would never switch: on a Raspberry Pi "
    "(Raspberry Pi OS 64-bit) install lgpio (`pip install lgpio` in the agent's venv, or "
    "`apt install python3-lgpio`), or pass --simulate-hardware to run on simulated pins"
)


class NoGpioError(RuntimeError):
    """No real GPIO here and simulation was not asked for; the message says how to fix it."""


def pin_factory(*, simulate: bool) -> Factory | None:
    """The pins to drive: None means gpiozero's own default (real pins found); a private
    `MockFactory` when `simulate` is set. Raises `NoGpioError` when only mock pins are there
    (no backend, or GPIOZERO_PIN_FACTORY=mock) and `simulate` is not set."""
    if simulate:
        log.warning("--simulate-hardware: the lock relay and door inputs are SIMULATED pins")
        return MockFactory()
    try:
        with warnings.catch_warnings():  # gpiozero warns once per backend it could not load
            warnings.simplefilter("ignore")
            Device.ensure_pin_factory()
    except BadPinFactory as exc:
        raise NoGpioError(NO_GPIO) from exc
    if isinstance(Device.pin_factory, MockFactory):
        raise NoGpioError(NO_GPIO)
    if isinstance(Device.pin_factory, NativeFactory):  # works on a Pi 4, not on a Pi 5
        log.warning("GPIO through gpiozero's native fallback: install lgpio (python3-lgpio)")
    return None
