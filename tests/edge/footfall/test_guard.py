"""`edge.footfall.guard.InputGuard`: frozen camera, light change and noise told apart on
small grey frames (synthetic ones here, built to sit clearly on one side of each rule)."""

from __future__ import annotations

import numpy as np

from edge.footfall.geometry import CountingConfig
from edge.footfall.guard import NOISE_FRAMES_TO_RESET, InputGuard, Verdict

RNG = np.random.default_rng(3)
# a smooth scene (a gradient, 40..200 grey levels) with a few levels of sensor noise
SCENE = np.tile(np.linspace(40, 200, 80), (60, 1))


def live(scene: np.ndarray = SCENE) -> np.ndarray:
    """The scene as a live sensor gives it: ±2 grey levels of noise, uint8."""
    return np.clip(scene + RNG.normal(0, 2, scene.shape), 0, 255).astype(np.uint8)


def med(frame: np.ndarray) -> float:
    return float(np.median(frame))


def check(guard: InputGuard, frame: np.ndarray, at: float) -> Verdict:
    return guard.check(frame, med(frame), at)


def test_a_live_camera_is_trusted() -> None:
    guard = InputGuard()
    assert [check(guard, live(), t * 0.1) for t in range(20)] == [Verdict.OK] * 20


def test_a_frame_repeated_for_frozen_s_after_live_input_is_frozen() -> None:
    guard = InputGuard(frozen_s=3.0)
    check(guard, live(), 0.0)
    stuck = live()
    assert check(guard, stuck, 0.1) is Verdict.OK  # lively: differs from the first by noise
    assert check(guard, stuck, 1.0) is Verdict.OK  # the same again: the clock starts
    assert check(guard, stuck, 3.9) is Verdict.OK  # 2.9 s the same
    assert check(guard, stuck, 4.0) is Verdict.FROZEN
    assert check(guard, stuck, 60.0) is Verdict.FROZEN
    # it moves again: the scene may have changed meanwhile, so the counter re-learns
    assert check(guard, live(), 60.1) is Verdict.RESET
    assert check(guard, live(), 60.2) is Verdict.OK


def test_a_still_input_that_was_never_lively_is_not_called_frozen() -> None:
    """A synthetic or perfectly clean source (tests, a replayed still) repeats frames."""
    guard = InputGuard(frozen_s=1.0)
    still = live()
    assert [check(guard, still, t) for t in range(10)] == [Verdict.OK] * 10


def test_a_sudden_uniform_brightness_jump_is_a_light_change() -> None:
    guard = InputGuard(light_jump=0.25)
    check(guard, live(), 0.0)
    check(guard, live(), 0.1)
    brighter = live(SCENE * 1.4)  # the lights came on
    assert check(guard, brighter, 0.2) is Verdict.LIGHT_CHANGE
    assert check(guard, live(SCENE * 1.4), 0.3) is Verdict.OK  # the new light is trusted


def test_a_small_brightness_drift_is_not_a_light_change() -> None:
    guard = InputGuard(light_jump=0.25)
    check(guard, live(), 0.0)
    assert check(guard, live(SCENE * 1.1), 0.1) is Verdict.OK


def test_the_counters_default_catches_a_lamp_that_moves_the_median_by_a_tenth() -> None:
    """A lamp coming on over an IR-lit floor moved the median by 10–13 % in the simulated
    scenes; frame-to-frame changes without a switch stayed under 1.5 % on every tuning
    preset (people walking in, light drift, noise, JPEG)."""
    jump = CountingConfig(line=(0, 30, 79, 30), inside=(40, 50)).light_jump
    guard = InputGuard(light_jump=jump)
    check(guard, live(), 0.0)
    check(guard, live(), 0.1)
    assert check(guard, live(SCENE * 1.12), 0.2) is Verdict.LIGHT_CHANGE
    steady = InputGuard(light_jump=jump)
    check(steady, live(), 0.0)
    assert [check(steady, live(SCENE * (1.0 + 0.015 * i)), 0.1 * i) for i in range(1, 5)] == [
        Verdict.OK
    ] * 4


def test_noise_is_refused_and_persistent_noise_becomes_the_new_scene() -> None:
    guard = InputGuard()
    check(guard, live(), 0.0)
    snow = [RNG.integers(0, 256, SCENE.shape).astype(np.uint8) for _ in range(6)]
    verdicts = [check(guard, s, 0.1 * (i + 1)) for i, s in enumerate(snow)]
    assert verdicts[: NOISE_FRAMES_TO_RESET - 1] == [Verdict.NOISE] * (NOISE_FRAMES_TO_RESET - 1)
    assert verdicts[NOISE_FRAMES_TO_RESET - 1] is Verdict.RESET


def test_one_glitch_between_good_frames_does_not_reset() -> None:
    guard = InputGuard()
    check(guard, live(), 0.0)
    glitch = RNG.integers(0, 256, SCENE.shape).astype(np.uint8)
    assert check(guard, glitch, 0.1) is Verdict.NOISE
    assert check(guard, live(), 0.2) is Verdict.OK  # compared with the last trusted frame
    for t in range(NOISE_FRAMES_TO_RESET - 1):  # the noise run started again from zero
        assert check(guard, glitch + np.uint8(t), 0.3 + t) is Verdict.NOISE


def test_a_new_frame_size_is_taken_as_the_reference() -> None:
    guard = InputGuard()
    check(guard, live(), 0.0)
    small = live(SCENE[:30, :40])
    assert check(guard, small, 0.1) is Verdict.OK
    assert check(guard, live(SCENE[:30, :40]), 0.2) is Verdict.OK
