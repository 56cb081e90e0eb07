"""Generator settings (`Variation`) and the benchmark's tuning / held-out presets: each
setting changes what it says, the defaults change nothing, and the two sets never share a
seed or a setting."""

from __future__ import annotations

import itertools

import numpy as np

from firmware_sim.overhead import LINE_Y, make_scene
from firmware_sim.overhead_people import Variation
from firmware_sim.overhead_presets import CLASSES, HELD_OUT, PRESETS, TUNING
from firmware_sim.overhead_render import Lighting


def test_the_default_variation_is_the_original_scene() -> None:
    a = make_scene("mixed", 4, events=6)
    b = make_scene("mixed", 4, events=6, variation=Variation())
    assert [p.keys for p in a.people] == [p.keys for p in b.people]
    for fa, fb in zip(itertools.islice(a.frames(), 30), b.frames(), strict=False):
        assert np.array_equal(fa, fb)


def test_sizes_speeds_angles_and_side_entries_follow_the_settings() -> None:
    v = Variation(size=(0.55, 0.6), zoom=1.5, speed=(200.0, 210.0), angle_deg=30.0)
    scene = make_scene("singles", 2, events=12, variation=v)
    for p in scene.people:
        assert 0.55 * 1.5 <= p.scale <= 0.6 * 1.5
        (t0, x0, y0), (t1, x1, y1) = p.keys
        assert 200.0 * 1.5 * 0.99 <= np.hypot(x1 - x0, y1 - y0) / (t1 - t0) <= 210.0 * 1.5 * 1.01
    assert any(abs(p.keys[0][1] - p.keys[-1][1]) > 20 for p in scene.people)  # at an angle
    side = make_scene("singles", 2, events=12, variation=Variation(side_share=1.0))
    for p in side.people:  # in from the left or right edge, on their own side of the line
        assert p.keys[0][1] < 0 or p.keys[0][1] > 320
        assert p.side(0) != p.side(-1)
    assert side.truth.entries + side.truth.exits == 12


def test_touching_groups_and_their_truth() -> None:
    v = Variation(group_gap=(-4.0, -3.0), three_share=1.0)
    scene = make_scene("groups", 3, events=10, variation=v)
    starts = [round(p.start, 3) for p in scene.people]
    trios = [s for s in set(starts) if starts.count(s) == 3]
    assert trios
    members = sorted(
        (p for p in scene.people if round(p.start, 3) == trios[0]), key=lambda p: p.keys[0][1]
    )
    for a, b in itertools.pairwise(members):
        gap = b.keys[0][1] - a.keys[0][1] - 2 * a.half_width  # a's width, then the gap
        assert -4.0 <= gap <= -3.0  # shoulders pressed together
    crossings = scene.crossings()
    assert len(crossings) == scene.truth.entries + scene.truth.exits


def test_ir_jpeg_noise_and_lens() -> None:
    plain = make_scene("singles", 5, events=3)
    ir = make_scene("singles", 5, events=3, variation=Variation(ir=True, jpeg=(40.0, 41.0)))
    frame = next(ir.frames())
    assert ir.lighting.ir(0.0)
    assert np.abs(frame[:, :, 0].astype(int) - frame[:, :, 2]).mean() < 1.5  # grey (JPEG)
    lens = make_scene("singles", 5, events=3, variation=Variation(barrel=0.25))
    bent, straight = next(lens.frames()), next(plain.frames())
    assert bent[2, 2].max() < 10  # the corners are bent in: black outside the image circle
    row = round(LINE_Y)  # the counting line's row is where it was
    assert np.abs(bent[row, 100:220].astype(int) - straight[row, 100:220]).mean() < 12


def test_lamp_switches_flip_the_light_with_nobody_in_view() -> None:
    scene = make_scene("singles", 6, events=12, variation=Variation(switches=2))
    toggles = scene.lighting.toggles
    assert len(toggles) == 2
    assert scene.lighting.lamp(toggles[0] + 0.1) != scene.lighting.lamp(toggles[0] - 0.1)
    for t in toggles:
        assert not any(p.start < t + 4.0 and p.end > t - 1.0 for p in scene.people)
    assert Lighting(toggles=(1.0,)).gain(2.0) > Lighting(toggles=(1.0,)).gain(0.5)


def test_tuning_and_held_out_sets_are_apart() -> None:
    assert {p.kind for p in TUNING} == set(CLASSES) == {p.kind for p in HELD_OUT}
    tune_seeds = {s for p in TUNING for s in p.seeds}
    held_seeds = {s for p in HELD_OUT for s in p.seeds}
    assert not tune_seeds & held_seeds
    assert not {p.variation for p in TUNING} & {p.variation for p in HELD_OUT}
    assert len(PRESETS) == len(TUNING) + len(HELD_OUT)
    scene = PRESETS["held-hard-night"].scene(901, events=4)
    assert scene.variation.ir
    assert scene.lighting.ir(1.0)
