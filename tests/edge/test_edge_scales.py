"""The door cascade reads a frame at halved sizes too: stills and codes too near the lens."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from edge.camera import deblur, scales
from edge.camera.cascade import (
    BASELINE_STEPS,
    COARSE_CHECK_AFTER,
    DEFAULT_STEPS,
    CascadeDecoder,
    Step,
    read_zxing,
)
from edge.camera.qr import to_gray
from firmware_sim.scenes import modules_of, render_phone_qr


def test_levels_halve_down_to_the_smallest_side() -> None:
    still = np.zeros((3024, 4032), np.uint8)
    assert [(f, im.shape) for f, im in scales.levels(still)] == [
        (1, (3024, 4032)),
        (2, (1512, 2016)),
        (4, (756, 1008)),
        (8, (378, 504)),
    ]
    door = np.zeros((480, 640), np.uint8)
    assert [f for f, _ in scales.levels(door)] == [1, 2]
    assert [f for f, _ in scales.levels(np.zeros((240, 320), np.uint8))] == [1]


def test_only_door_sized_levels_get_every_step_and_a_still_gets_a_larger_budget() -> None:
    assert scales.full_steps(np.zeros((1080, 1920), np.uint8))
    assert not scales.full_steps(np.zeros((1512, 2016), np.uint8))
    assert scales.budget_scale(np.zeros((720, 1280), np.uint8)) == 1.0
    assert scales.budget_scale(np.zeros((3024, 4032), np.uint8)) == pytest.approx(5.88, 0.01)


def _defocused(
    text: str,
    seed: int,
    *,
    ppm: float,
    blur_modules: float,
    size: tuple[int, int],
    angle_deg: float,
    jpeg_quality: int,
) -> np.ndarray:
    """A phone's code of `ppm` px a module, blurred by `blur_modules` of a module."""
    gray = to_gray(
        render_phone_qr(
            text,
            rng=np.random.default_rng(seed),
            size=size,
            code_px=round(ppm * modules_of(text)),
            blur=blur_modules * ppm,
            noise=4.0,
            tilt=0.1,
            angle_deg=angle_deg,
            jpeg_quality=jpeg_quality,
        )
    )
    assert gray is not None
    return gray


def _defocused_still(text: str, seed: int) -> np.ndarray:
    """A 5 MP photo of a phone whose code has 14 px modules, blurred by 0.6 of a module."""
    return _defocused(
        text, seed, ppm=14.0, blur_modules=0.6, size=(2592, 1944), angle_deg=15.0, jpeg_quality=85
    )


def test_a_defocused_still_is_read_on_a_halved_copy() -> None:
    """zxing-cpp (its own downscaling included) and every step at full size read none of
    these; halved until a module is a few px, the blur is what the deblur steps undo.
    Fails on the cascade before the halved levels."""
    texts = [f"WS1:STILL{i:02d}-" + "ABCDEFGHJK" * 4 for i in range(4)]
    stills = [_defocused_still(text, seed) for seed, text in enumerate(texts)]
    cascade = CascadeDecoder(budget_ms=1e9)
    read = 0
    for text, gray in zip(texts, stills, strict=True):
        assert read_zxing(gray) == []
        if cascade.decode(gray) == [text]:
            read += 1
            assert "/" in str(cascade.last_step)
    assert read >= 3


def test_a_still_larger_than_a_door_frame_gets_zxing_alone_at_full_size() -> None:
    seen: list[tuple[str, tuple[int, ...]]] = []

    def step(name: str) -> Step:
        def fix(gray: np.ndarray) -> np.ndarray:
            seen.append((name, gray.shape))
            return gray

        return Step(name, fix, lambda gray: [])

    cascade = CascadeDecoder([step("first"), step("second")], budget_ms=1e9)
    assert cascade.read(np.full((3024, 4032), 128, np.uint8)) == []
    assert seen == [
        ("first", (3024, 4032)),
        ("first", (1512, 2016)),
        ("first", (756, 1008)),
        ("second", (756, 1008)),
        ("first", (378, 504)),
        ("second", (378, 504)),
    ]


def test_the_budget_still_ends_a_door_frame_before_its_halved_copy() -> None:
    """A door frame's halved copy runs within the door's budget, not after it."""
    clock = [0.0]
    calls: list[tuple[int, ...]] = []

    def slow(gray: np.ndarray) -> np.ndarray:
        calls.append(gray.shape)
        clock[0] += 0.05  # 50 ms a step
        return gray

    cascade = CascadeDecoder([Step("slow", slow, lambda gray: [])], clock=lambda: clock[0])
    cascade.read(np.full((480, 640), 128, np.uint8))
    assert calls == [(480, 640)]
    assert cascade.hits["over_budget"] == 1
    start = time.perf_counter()
    CascadeDecoder().read(np.full((480, 640), 128, np.uint8))
    assert time.perf_counter() - start < 5.0  # the real steps on an empty frame end


def test_steps_marked_full_size_only_skip_the_halved_copies() -> None:
    """pyzbar and the whole-frame upscale read the frame at its own size only; a cascade of
    such steps alone (the benchmarks' baseline) never makes a copy."""
    seen: list[tuple[str, tuple[int, ...]]] = []

    def step(name: str, halves: bool) -> Step:
        def fix(gray: np.ndarray) -> np.ndarray:
            seen.append((name, gray.shape))
            return gray

        return Step(name, fix, lambda gray: [], halves=halves)

    frame = np.full((480, 640), 128, np.uint8)
    CascadeDecoder([step("a", True), step("b", False)], budget_ms=1e9).read(frame)
    assert seen == [("a", (480, 640)), ("b", (480, 640)), ("a", (240, 320))]
    seen.clear()
    CascadeDecoder([step("b", False)], budget_ms=1e9).read(frame)
    assert seen == [("b", (480, 640))]
    door = {s.name: s.halves for s in DEFAULT_STEPS}
    assert not door["pyzbar"]
    assert not door["zxing_up2"]
    assert door["zxing_deblur"]
    assert not any(s.halves for s in BASELINE_STEPS)


def _near_phone(seed: int) -> tuple[str, np.ndarray]:
    """A 640×480 door frame of a phone held too near the lens: 7 px a module, blurred by
    0.55 of a module (3.9 px)."""
    text = f"WS1:NEAR{seed}-ABCDEFGH"
    frame = _defocused(
        text, seed, ppm=7.0, blur_modules=0.55, size=(640, 480), angle_deg=10.0, jpeg_quality=80
    )
    return text, frame


def test_a_coarse_blur_is_read_on_the_halved_copy_before_the_full_size_deblur_steps() -> None:
    """On a Pi the budget ends the cascade after a few steps: a phone too near the lens must
    reach the halved copy among them. The budget here counts steps (the clock advances 1 ms
    a look): seven steps. Fails on the order that tried every full-size step first."""
    for seed in (0, 2, 5):
        text, gray = _near_phone(seed)
        region = deblur.code_region(gray)
        assert region is not None
        assert scales.edge_blur_px(region) >= scales.COARSE_SIGMA_PX
        ticks = itertools.count()
        cascade = CascadeDecoder(budget_ms=7.5, clock=lambda ticks=ticks: next(ticks) / 1000)
        assert cascade.decode(gray) == [text]
        assert str(cascade.last_step).endswith("/2")


def test_the_edge_blur_estimate_tells_a_door_blur_from_a_near_phone() -> None:
    """A code at door distance blurred by σ 1.0–1.6 px stays at full size (the deblur steps'
    model); the near phone's blur is over the line."""
    rng = np.random.default_rng(5)
    text = "WS1:EDGE-" + "ABCDEFGHJK" * 3
    for sigma in (1.0, 1.3, 1.6):
        frame = render_phone_qr(
            text, rng=rng, code_px=round(3.5 * modules_of(text)), blur=sigma, noise=4.0
        )
        gray = to_gray(frame)
        assert gray is not None
        region = deblur.code_region(gray)
        assert region is not None
        assert abs(scales.edge_blur_px(region) - sigma) < 0.8
        assert not scales.coarse(gray)


def test_a_coarse_frame_tries_the_next_level_out_of_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, int]] = []

    def step(name: str) -> Step:
        def fix(gray: np.ndarray) -> np.ndarray:
            seen.append((name, gray.shape[1]))
            return gray

        return Step(name, fix, lambda gray: [])

    steps = [step("zxing"), step(COARSE_CHECK_AFTER), step("deblur")]
    frame = np.full((960, 1280), 128, np.uint8)
    monkeypatch.setattr(scales, "coarse", lambda image: image.shape[1] == 1280)
    CascadeDecoder(steps, budget_ms=1e9).read(frame)
    assert seen == [
        ("zxing", 1280),
        (COARSE_CHECK_AFTER, 1280),
        ("zxing", 640),  # out of turn: the coarse blur is a pixel or two here
        (COARSE_CHECK_AFTER, 640),
        ("deblur", 640),
        ("deblur", 1280),  # then the rest of the frame's own steps
        ("zxing", 320),
        (COARSE_CHECK_AFTER, 320),
        ("deblur", 320),
    ]
    seen.clear()
    monkeypatch.setattr(scales, "coarse", lambda image: False)
    CascadeDecoder(steps, budget_ms=1e9).read(frame)
    assert [w for _, w in seen] == [1280] * 3 + [640] * 3 + [320] * 3
