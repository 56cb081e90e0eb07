"""The camera counter on rendered overhead scenes with ground truth: accuracy targets, no
burst of false counts on a frozen camera, noise or a light switch (and `degraded` says so),
bad frames never raise, no image on disk unless the installer asks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.footfall.camera import CameraCounter
from edge.footfall.crossing import Direction
from edge.footfall.geometry import CountingConfig
from firmware_sim.overhead import Scene, Score, make_scene, score


def run(scene: Scene, frames: Iterator[np.ndarray] | None = None, **tunables: object):
    counter = CameraCounter(CountingConfig(line=scene.line, inside=scene.inside, **tunables))
    counted: list[tuple[float, int, int]] = []
    reasons: dict[str, float] = {}
    for t, frame in zip(scene.times(), frames or scene.frames(), strict=True):
        for c in counter.process(frame, t):
            counted.append((c.at, 1 if c.direction is Direction.IN else -1, c.count))
        if counter.degraded is not None:
            reasons.setdefault(counter.degraded, t)
    return score(scene.crossings(), counted), counted, reasons, counter


def pooled(name: str, seeds: range, events: int) -> dict[int, Score]:
    """Scores of several seeds added up, per direction."""
    total = {1: Score(0, 0, 0), -1: Score(0, 0, 0)}
    for seed in seeds:
        scores, *_ = run(make_scene(name, seed, events=events))
        for d, s in scores.items():
            t = total[d]
            total[d] = Score(t.truth + s.truth, t.counted + s.counted, t.matched + s.matched)
    return total


@pytest.mark.parametrize(
    ("name", "target"),
    [("singles", 0.97), ("groups", 0.90), ("turn_backs", 0.90), ("mixed", 0.90)],
)
def test_accuracy_targets_in_both_directions(name: str, target: float) -> None:
    scores = pooled(name, range(3), events=16)
    for direction, s in scores.items():
        assert s.truth >= 10, (name, direction, s)
        assert s.accuracy >= target, (name, direction, s)


def test_light_drift_ir_mode_and_lights_on_keep_counting() -> None:
    scene = make_scene("lights", 4, events=16)
    scores, _, reasons, _ = run(scene)
    assert "light_change" in reasons  # the IR switch and the lamp were noticed
    assert scene.lighting.ir_from is not None
    assert reasons["light_change"] >= scene.lighting.ir_from - 0.2
    for s in scores.values():
        assert s.accuracy >= 0.9, scores


def test_the_lamp_switched_on_after_ir_is_a_light_change_though_the_median_moves_little() -> None:
    """Leaving IR for the lamp moves the frame's median by only a tenth here (the IR gain and
    the lamp's brightness nearly match), but the floor is lit in a new pattern that the gain
    normalisation cannot undo; with the old threshold (a quarter) it went unnoticed and the
    background model counted the lit patches: 3 false counts in this scene."""
    scene = make_scene("lights", 1, events=24)
    scores, counted, reasons, counter = run(scene)
    on = scene.lighting.lights_on
    assert on is not None
    for s in scores.values():
        assert s.extra == 0, scores
        assert s.missed == 0, scores
    assert not [t for t, _, _ in counted if on <= t < on + counter.config.settle_s]
    assert reasons["light_change"] <= (scene.lighting.ir_from or 0.0) + 0.2  # the IR switch


def test_frozen_camera_and_noise_burst_with_people_walking_no_burst_of_counts() -> None:
    scene = make_scene("faults", 2, events=20, busy_faults=True)
    scores, counted, reasons, _ = run(scene)
    (_, f0, f1), (_, n0, n1) = scene.faults
    assert f0 + 2.0 <= reasons["frozen"] <= f0 + 3.5  # frozen_s = 3 s of identical frames
    assert n0 <= reasons["noise"] <= n0 + 0.2
    for s in scores.values():
        assert s.extra <= 1, scores  # misses during the faults are fine, inventions are not
        assert s.counted <= s.truth
    # nothing counted while frozen, in the noise, or while settling right after them
    for t, _, _ in counted:
        assert not f0 <= t < f1 + 0.5, (t, scene.faults)
        assert not n0 <= t < n1 + 0.5, (t, scene.faults)


def test_sudden_full_frame_light_changes_with_people_in_view() -> None:
    scene = make_scene("singles", 6, events=16)
    switches = (8.0, 16.0, 24.0)

    def flicked() -> Iterator[np.ndarray]:
        for t, frame in zip(scene.times(), scene.frames(), strict=True):
            dark = sum(t >= s for s in switches) % 2 == 1
            yield (frame * 0.35).astype(np.uint8) if dark else frame

    scores, counted, reasons, counter = run(scene, flicked())
    assert "light_change" in reasons
    assert 8.0 <= reasons["light_change"] < 8.2
    for s in scores.values():
        assert s.extra <= 1, scores
    per_second = np.bincount([int(t) for t, _, _ in counted])
    assert per_second.max() <= 3  # no burst
    assert counter.degraded is None  # settled again by the end


def held_then_switch() -> tuple[CameraCounter, list[np.ndarray]]:
    """Someone steps just past the far band edge (y 130 of a line at 120) and stands there,
    so the crossing is held; then the lamp switches (the last three frames)."""
    rng = np.random.default_rng(3)
    floor = rng.normal(128.0, 6.0, (240, 320, 3)).clip(0, 255).astype(np.uint8)
    counter = CameraCounter(CountingConfig(line=(0.0, 120.0, 319.0, 120.0), inside=(160.0, 216.0)))

    def frame(y: float | None, gain: float = 1.0) -> np.ndarray:
        img = floor.copy()
        if y is not None:
            cv2.ellipse(img, (160, round(y)), (14, 8), 0, 0, 360, (40, 40, 45), -1)
        return (img * gain).clip(0, 255).astype(np.uint8)

    frames = [frame(None)] * 40 + [frame(y) for y in range(40, 134, 9)] + [frame(133.0)] * 3
    return counter, frames + [frame(133.0, 1.8)] * 3


def test_a_crossing_held_when_the_light_changes_is_reported_not_lost() -> None:
    # the tracks are cleared at the switch, but that crossing was seen on trusted frames
    counter, frames = held_then_switch()
    reported = []
    for i, f in enumerate(frames):
        reported += [(i, c) for c in counter.process(f, i * 0.1)]
    assert counter.degraded == "light_change"
    assert [c.direction for _, c in reported] == [Direction.IN]
    assert reported[0][0] >= len(frames) - 3  # released by the switch, not before
    assert reported[0][1].at < 6.0  # with the time it was made


def test_a_crossing_released_on_a_frame_that_then_failed_is_flushed_at_the_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the switch releases the held crossing, then that frame fails further on (a counter
    # bug: the door loop is told nothing) and the video ends: flush() still reports it
    counter, frames = held_then_switch()
    switch = len(frames) - 3
    reported = [c for i, f in enumerate(frames[:switch]) for c in counter.process(f, i * 0.1)]
    assert reported == []

    def broken(*args: object, **kwargs: object) -> np.ndarray:
        raise RuntimeError("a bug after the switch")

    monkeypatch.setattr(counter._foreground, "normalise", broken)
    assert counter.process(frames[switch], switch * 0.1) == []
    assert counter.degraded == "bad_frame"
    assert [c.direction for c in counter.flush()] == [Direction.IN]
    assert counter.flush() == []  # reported once


def test_one_frame_of_noise_is_ignored_and_reported() -> None:
    scene = make_scene("singles", 7, events=10)
    rng = np.random.default_rng(0)
    noisy_at = {40, 41, 120}

    def glitched() -> Iterator[np.ndarray]:
        for i, frame in enumerate(scene.frames()):
            yield rng.integers(0, 256, frame.shape, dtype=np.uint8) if i in noisy_at else frame

    scores, _, reasons, _ = run(scene, glitched())
    assert reasons.get("noise") == pytest.approx(4.0)
    for s in scores.values():
        assert s.extra == 0, scores
        assert s.accuracy >= 0.9, scores


def test_busy_while_someone_is_in_view() -> None:
    scene = make_scene("singles", 11, events=1)
    counter = CameraCounter(CountingConfig(line=scene.line, inside=scene.inside, memory_s=2.0))
    person = scene.people[0]
    seen = []
    for t, frame in zip(scene.times(), scene.frames(), strict=True):
        counter.process(frame, t)
        seen.append((t, counter.busy))
    assert any(busy for t, busy in seen if person.start + 0.5 < t < person.end - 0.5)
    assert not any(busy for t, busy in seen if t < person.start)
    assert not seen[-1][1]  # gone again by the end


def test_bad_frames_never_raise_and_say_bad_frame() -> None:
    counter = CameraCounter(CountingConfig(line=(0, 120, 319, 120), inside=(160, 220)))
    good = np.full((240, 320, 3), 128, np.uint8)
    assert counter.process(good, 0.0) == []
    for i, bad in enumerate(
        [None, np.zeros((0, 0, 3), np.uint8), np.zeros((240, 320), np.float32), "frame"]
    ):
        assert counter.process(bad, 0.1 * (i + 1)) == []  # type: ignore[arg-type]
        assert counter.degraded == "bad_frame"
    # grey, BGRA and a new size are all fine (the background is re-learned for a new size)
    assert counter.process(np.full((240, 320), 128, np.uint8), 1.0) == []
    assert counter.process(np.full((480, 640, 4), 128, np.uint8), 1.1) == []
    assert counter.process(np.full((480, 640, 4), 128, np.uint8), 9.0) == []
    assert counter.degraded is None


def test_larger_frames_are_downscaled_and_the_line_follows() -> None:
    scene = make_scene("singles", 8, events=10, size=(640, 480))
    scores, _, reasons, _ = run(scene)
    assert reasons == {}  # a clean scene never looks degraded (not even at start-up)
    for s in scores.values():
        assert s.accuracy >= 0.9, scores


def test_no_image_is_written_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    scene = make_scene("singles", 9, events=4)
    with caplog.at_level(logging.DEBUG):
        run(scene)
    assert list(tmp_path.rglob("*")) == []
    assert "snapshot" not in caplog.text


def test_debug_snapshots_are_rate_limited_local_and_announced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scene = make_scene("singles", 9, events=4)
    out = tmp_path / "snaps"
    with caplog.at_level(logging.WARNING):
        run(scene, debug_snapshot_dir=out, debug_snapshot_every_s=1.0, debug_snapshot_keep=3)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("local disk only, never sent" in r.getMessage() for r in warnings)
    files = sorted(out.glob("*.jpg"))
    written = int(scene.duration_s // 1.0)
    assert written > 3  # more were written than kept …
    assert len(files) == 3  # … and the oldest deleted


def test_debug_snapshot_to_an_unwritable_place_does_not_stop_counting(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    scene = make_scene("singles", 10, events=6)
    scores, *_ = run(scene, debug_snapshot_dir=blocker / "sub", debug_snapshot_every_s=1.0)
    assert scores[1].matched + scores[-1].matched >= 5
