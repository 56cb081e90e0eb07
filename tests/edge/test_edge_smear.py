"""Estimating a phone's motion smear in the code and undoing it (edge/camera/smear.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge.camera import deblur, smear
from edge.camera.cascade import DEFAULT_STEPS, CascadeDecoder
from edge.camera.qr import to_gray
from firmware_sim.scenes import render_empty, render_phone_qr

ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
# 124 characters: a version 6 code, 49 modules with the quiet zone; 190 px is 3.9 px a module.
TEXT = "WS1:" + "".join(ALPHANUMERIC[int(i)] for i in np.random.default_rng(7).integers(0, 45, 120))
STEPS_BEFORE = tuple(step for step in DEFAULT_STEPS if step.name != "zxing_unsmear")


def smeared(travel_px: float, heading_rad: float | None, seed: int) -> np.ndarray:
    """A door frame of `TEXT` with the phone moving `travel_px` along `heading_rad` (a random
    one if None) during the exposure, a little focus blur, sensor noise and JPEG."""
    rng = np.random.default_rng(seed)
    if heading_rad is None:
        heading_rad = float(rng.uniform(0, math.pi))
    motion = (travel_px * math.cos(heading_rad), travel_px * math.sin(heading_rad))
    frame = render_phone_qr(
        TEXT, code_px=190, blur=0.6, tilt=0.1, angle_deg=float(rng.uniform(-30, 30)), noise=4,
        brightness=0.8, jpeg_quality=75, motion_px=motion, rng=rng,
    )  # fmt: skip
    gray = to_gray(frame)
    assert gray is not None
    return gray


@pytest.mark.parametrize("heading_deg", [0, 35, 90, 130, 200])
def test_the_smear_is_found_along_its_direction_and_length(heading_deg: int) -> None:
    gray = smeared(6.0, math.radians(heading_deg), seed=heading_deg)
    region = deblur.code_region(gray)
    assert region is not None
    found = smear.estimate(region)
    assert found is not None
    off = (math.degrees(found.angle_rad) - heading_deg + 90) % 180 - 90  # a smear has no sign
    assert abs(off) <= 25  # the tensor's error on the tuning frames: median 8°, 90 % ≤ 22°
    assert abs(found.length_px - 6.0) <= 1.5


def test_smeared_codes_the_cascade_missed_now_read() -> None:
    """Story: a phone still moving at a 1/30 s night exposure smears the code by ~6 px; the
    cascade's focus-blur steps read few such frames (held-motion: 82 %)."""
    missed_before = 0
    for seed in range(12):
        gray = smeared(6.0, None, seed)
        before = CascadeDecoder(STEPS_BEFORE, budget_ms=1e9)
        now = CascadeDecoder(budget_ms=1e9)
        assert now.decode(gray) == [TEXT], seed
        if before.decode(gray) != [TEXT]:
            missed_before += 1
            assert now.last_step == "zxing_unsmear"
    assert missed_before >= 5


def test_a_focus_blurred_code_is_left_to_the_focus_blur_steps() -> None:
    """The smear step runs ahead of the deblur steps: on a round blur it must cost one tensor,
    not a deconvolution and two reads."""
    skipped = 0
    for seed in range(10):
        rng = np.random.default_rng(seed)
        gray = to_gray(render_phone_qr(
            TEXT, code_px=190, blur=float(rng.uniform(1.0, 1.8)), tilt=0.15,
            angle_deg=float(rng.uniform(-40, 40)), noise=5, jpeg_quality=70, rng=rng,
        ))  # fmt: skip
        assert gray is not None
        region = deblur.code_region(gray)
        assert region is not None
        skipped += smear.estimate(region) is None
    assert skipped >= 9


def test_a_sharp_code_and_an_empty_doorway_give_the_step_nothing_to_do() -> None:
    empty = to_gray(render_empty(noise=5, brightness=0.4, jpeg_quality=70))
    assert empty is not None
    assert smear.unsmear_region(empty) is None  # no code-like region: the step is skipped
    tiny = np.full((20, 20), 128, dtype=np.uint8)
    assert smear.smear_length(tiny, 0.0) is None


def test_the_filter_keeps_flat_areas_and_sharpens_only_along_the_smear() -> None:
    kernel = smear.wiener_kernel(smear.Smear(6.0, 0.0))
    assert kernel.sum() == pytest.approx(1.0, abs=1e-4)  # unit gain: a flat area stays put
    # A horizontal smear is undone by a horizontal filter: its energy lies along the row.
    centre = kernel.shape[0] // 2
    along = float(np.abs(kernel[centre, :]).sum())
    across = float(np.abs(kernel[:, centre]).sum())
    assert along > 2 * across
    assert smear.wiener_kernel(smear.Smear(6.0, math.pi)) is kernel  # same line: cached
