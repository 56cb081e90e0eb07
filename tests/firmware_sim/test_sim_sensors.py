"""Simulated sensors: plausible values, monotonic energy, injectable faults."""

from __future__ import annotations

import random

from edge.sensors import read_all
from firmware_sim.sensors import SimSensor, station_sensors, warm_fridge


class Clock:
    def __init__(self) -> None:
        self.t = 1_795_200_000.0

    def __call__(self) -> float:
        return self.t


def test_station_sensors_read_plausible_values_over_a_day() -> None:
    clock = Clock()
    sensors = station_sensors(clock, random.Random(1))
    energy = []
    for _ in range(24):
        r = read_all(sensors)
        assert 15 < r["ambient_c"] < 33
        assert 40 < r["humidity_pct"] < 90
        assert 2 < r["fridge_c"] < 6
        energy.append(r["energy_kwh"])
        clock.t += 3600
    assert energy == sorted(energy)
    assert energy[-1] > 5  # 23 h at ≥ 0.3 kW


def test_faults_dead_stuck_and_warm_fridge() -> None:
    clock = Clock()
    sensors = {s.name: s for s in station_sensors(clock, random.Random(2))}
    fridge = sensors["fridge_c"]
    assert isinstance(fridge, SimSensor)
    warm_fridge(fridge, 8.0)
    assert fridge.read() > 10  # type: ignore[operator]
    fridge.fault = "stuck"
    stuck = fridge.read()
    clock.t += 600
    assert fridge.read() == stuck
    fridge.fault = "dead"
    assert "fridge_c" not in read_all(sensors.values())
