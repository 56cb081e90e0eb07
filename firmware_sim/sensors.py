"""Simulated station sensors: ambient temperature and humidity, the fridge (冷鲜柜) probe,
and the power meter (能耗监测), with faults that tests and chaos runs can switch on.

They implement `edge.sensors.Sensor`; values follow a day curve plus seeded noise so a fleet
looks alive on the dashboard and a test can predict ranges.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from edge.sensors import Sensor


class SimSensor:
    """A reading from `model(t)` plus noise; `fault="dead"` reads None, `"stuck"` repeats."""

    def __init__(self, name: str, model: Callable[[float], float], *, noise: float,
                 clock: Callable[[], float], rng: random.Random | None = None) -> None:  # fmt: skip
        self.name = name
        self.model = model
        self.noise = noise
        self.clock = clock
        self.rng = rng or random.Random(name)
        self.fault: str | None = None
        self._last: float | None = None

    def read(self) -> float | None:
        if self.fault == "dead":
            return None
        if self.fault == "stuck" and self._last is not None:
            return self._last
        self._last = round(self.model(self.clock()) + self.rng.gauss(0, self.noise), 2)
        return self._last


def _day(t: float) -> float:
    """−1 at 04:00, +1 at 16:00 local (UTC+8) — the shape of an outdoor day."""
    hours = ((t / 3600.0) + 8) % 24
    return math.sin((hours - 10) / 24 * 2 * math.pi)


def station_sensors(clock: Callable[[], float], rng: random.Random) -> list[Sensor]:
    """The usual set: ambient air, a fridge at 4 °C, and an energy meter counting up."""
    base_kw = rng.uniform(0.3, 1.2)  # lights, fridge, air conditioning
    start = clock()

    def energy(t: float) -> float:
        return (t - start) / 3600.0 * base_kw  # kWh since the station booted

    return [
        SimSensor("ambient_c", lambda t: 24 + 6 * _day(t), noise=0.2, clock=clock, rng=rng),
        SimSensor("humidity_pct", lambda t: 65 - 15 * _day(t), noise=1.0, clock=clock, rng=rng),
        SimSensor("fridge_c", lambda t: 4.0, noise=0.3, clock=clock, rng=rng),
        SimSensor("energy_kwh", energy, noise=0.0, clock=clock, rng=rng),
    ]


def warm_fridge(sensor: SimSensor, degrees_c: float) -> None:
    """Fault injection: the fridge door was left open / the compressor died."""
    base = sensor.model
    sensor.model = lambda t: base(t) + degrees_c
