"""Rendered overhead footfall scenes: deterministic, exact truth, faults and lighting as
planned, and a video file OpenCV reads back."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from firmware_sim.overhead import BAND, LINE_Y, SCENES, make_scene, score, write_video


def first(scene, n: int) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    return list(itertools.islice(scene.frames(), n))


def test_same_seed_same_video_other_seed_other_video() -> None:
    a, b, c = (make_scene("mixed", s, events=6) for s in (5, 5, 6))
    assert a.truth == b.truth
    for fa, fb in zip(first(a, 40), first(b, 40), strict=True):
        assert np.array_equal(fa, fb)
    assert not all(
        np.array_equal(fa, fc) for fa, fc in zip(first(a, 40), first(c, 40), strict=True)
    )


@pytest.mark.parametrize("name", SCENES)
def test_truth_counts_people_who_end_on_the_other_side(name: str) -> None:
    scene = make_scene(name, 3, events=12)
    truth = scene.truth
    assert truth.entries > 0
    assert truth.exits > 0
    crossings = scene.crossings()
    assert sum(d > 0 for _, d in crossings) == truth.entries
    assert sum(d < 0 for _, d in crossings) == truth.exits
    assert all(0.0 < t < scene.duration_s for t, _ in crossings)
    for p in scene.people:  # everyone comes from and leaves by a frame edge
        assert not 0 <= p.keys[0][2] <= 240
        assert not 0 <= p.keys[-1][2] <= 240


def test_turn_backs_never_reach_the_far_band_edge_and_groups_walk_abreast() -> None:
    scene = make_scene("turn_backs", 2, events=20)
    back = [p for p in scene.people if p.side(0) == p.side(-1)]
    assert len(back) >= 3
    for p in back:
        deepest = max(-p.side(0) * (y - LINE_Y) for _, _, y in p.keys)
        assert deepest < BAND
    groups = make_scene("groups", 2, events=10)
    starts = [round(p.start, 3) for p in groups.people]
    assert max(starts.count(s) for s in starts) >= 2


def test_faults_play_frozen_and_noise_with_nobody_in_view() -> None:
    scene = make_scene("faults", 1, events=10)
    kinds = [k for k, _, _ in scene.faults]
    assert kinds == ["frozen", "noise"]
    for _, t0, t1 in scene.faults:
        assert not any(p.start < t1 and p.end > t0 for p in scene.people)
    frames = list(scene.frames())
    (_, f0, f1), (_, n0, _) = scene.faults
    i0, i1, n = int(f0 * scene.fps) + 1, int(f1 * scene.fps) - 1, int(n0 * scene.fps) + 1
    assert np.array_equal(frames[i0], frames[i1])  # frozen: the very same frame
    assert not np.array_equal(frames[i1 + 3], frames[i1 + 4])  # alive again
    assert abs(float(frames[n].std()) - 73.9) < 3  # uniform noise
    busy = make_scene("faults", 1, events=10, busy_faults=True)
    assert any(p.start < f1 and p.end > f0 for p in busy.people) or busy.truth != scene.truth


def test_lighting_dusk_ir_and_lamp() -> None:
    scene = make_scene("lights", 1, events=12)
    light = scene.lighting
    assert light.dusk is not None
    assert light.ir_from is not None
    assert light.lights_on is not None
    frames = list(scene.frames())
    day = frames[int(light.dusk[0] * scene.fps) - 2]
    dusk = frames[int(light.ir_from * scene.fps) - 2]
    ir = frames[int(light.ir_from * scene.fps) + 2]
    assert dusk.mean() < 0.6 * day.mean()
    assert np.array_equal(ir[:, :, 0], ir[:, :, 1])
    assert np.array_equal(ir[:, :, 1], ir[:, :, 2])
    assert not np.array_equal(day[:, :, 0], day[:, :, 2])


def test_sizes() -> None:
    scene = make_scene("singles", 1, events=2, size=(640, 480))
    frame = next(scene.frames())
    assert frame.shape == (480, 640, 3)
    assert frame.dtype == np.uint8
    assert scene.line == (0.0, 240.0, 639.0, 240.0)
    assert scene.inside == (320.0, 432.0)
    with pytest.raises(ValueError, match="4:3"):
        make_scene("singles", 1, size=(640, 360))
    with pytest.raises(ValueError, match="unknown scene"):
        make_scene("crowd", 1)


def test_video_file_round_trip(tmp_path: Path) -> None:
    scene = make_scene("singles", 1, events=2)
    path = tmp_path / "scene.avi"
    n = write_video(scene, path)
    assert n == scene.frame_count
    cap = cv2.VideoCapture(str(path))
    read = 0
    while cap.read()[0]:
        read += 1
    cap.release()
    assert read == n


def test_score_matches_in_time_per_direction() -> None:
    truth = [(1.0, 1), (5.0, 1), (6.0, -1)]
    counted = [(1.2, 1, 1), (9.0, 1, 1), (6.1, -1, 2)]
    s = score(truth, counted)
    assert (s[1].truth, s[1].counted, s[1].matched, s[1].missed, s[1].extra) == (2, 2, 1, 1, 1)
    assert s[1].accuracy == 0.0
    assert s[1].errors_per_100 == 100.0
    assert (s[-1].matched, s[-1].extra, s[-1].accuracy) == (1, 1, 0.0)
