"""The beam simulation: scenes with ground truth, played on mock pins through the real counter."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from edge.footfall.config import BeamConfig
from edge.footfall.crossing import Direction
from firmware_sim.beams import beam_counter, make_scene, play
from firmware_sim.cities import make_records
from firmware_sim.station import SimStation
from firmware_sim.union import SimUnion


def counts(crossings: list) -> tuple[int, int]:
    ins = sum(c.count for c in crossings if c.direction is Direction.IN)
    return ins, sum(c.count for c in crossings if c.direction is Direction.OUT)


def test_scene_truth_leaves_out_turn_backs() -> None:
    scene = make_scene(60, seed=3, turn_backs=0.5, rows=0.0, pauses=0.0)
    turned = sum(w.truth is None for w in scene.walkers)
    assert turned > 10
    assert scene.entries + scene.exits == len(scene.walkers) - turned
    times = [e[0] for e in scene.edges]
    assert times == sorted(times)


@pytest.mark.parametrize(
    ("seed", "mix"),
    [
        (1, {}),  # the default mix: singles, rows, pauses, turn-backs, bouncing contacts
        (2, {"rows": 0.4, "turn_backs": 0.3, "pauses": 0.2, "bounce_p": 0.9}),
        (3, {"rows": 0.0, "turn_backs": 0.0, "pauses": 0.0, "bounce_p": 0.0}),
    ],
)
def test_counts_match_the_truth_in_both_directions(seed: int, mix: dict) -> None:
    scene = make_scene(300, seed=seed, **mix)
    counter, factory, clock = beam_counter()
    try:
        got_in, got_out = counts(play(scene, counter, factory, clock))
    finally:
        counter.close()
    assert scene.entries > 80
    assert scene.exits > 80
    # accuracy ≥ 99% per direction (in practice exact on these scenes)
    assert abs(got_in - scene.entries) <= scene.entries // 100
    assert abs(got_out - scene.exits) <= scene.exits // 100
    assert counter.logic.abandoned == 0
    if mix.get("bounce_p", 0.3):
        assert counter.logic.bounces > 100  # the filter had work to do


def test_without_the_bounce_filter_ringing_contacts_miscount() -> None:
    """The control: the same scene, filter off, gives wrong counts (so the filter matters)."""
    scene = make_scene(200, seed=5, bounce_p=0.9)
    counter, factory, clock = beam_counter(BeamConfig(bounce_s=0.0))
    try:
        got = counts(play(scene, counter, factory, clock))
    finally:
        counter.close()
    assert got != (scene.entries, scene.exits)


def test_pir_wiring_active_high() -> None:
    scene = make_scene(100, seed=7)
    counter, factory, clock = beam_counter(BeamConfig(pull_up=False, pin_a=23, pin_b=24))
    try:
        got = counts(play(scene, counter, factory, clock))
    finally:
        counter.close()
    assert got == (scene.entries, scene.exits)


def test_sim_station_members_walk_through_the_beams(tmp_path: Path, union: SimUnion) -> None:
    """Rendered frames → decisions → a walker per grant → footfall in the journal."""
    record = make_records(1, seed=12)[0]
    station = SimStation(
        record, union, broker_url=None, workdir=tmp_path, rng=random.Random(3), footfall=True
    )
    station.start()
    try:
        granted = sum(d.granted for _ in range(6) for d in station.visit())
        assert granted > 0
        unit = station.footfall
        assert unit is not None
        assert unit.aggregator is not None
        interval = unit.aggregator.open
        assert interval is not None
        assert interval.entries == granted
        assert unit.occupancy == granted - interval.exits
    finally:
        station.stop()
