from __future__ import annotations

import numpy as np

from edge.camera.qr import decode
from firmware_sim.scenes import random_moderate, render_empty, render_phone_qr
from firmware_sim.union import SimUnion

T0 = 1_772_366_400  # 2026-03-01T12:00Z


def test_default_rendering_is_a_bgr_frame(union: SimUnion) -> None:
    frame = render_phone_qr(union.enroll("m").present(T0), size=(640, 480))
    assert frame.shape == (480, 640, 3)
    assert frame.dtype == np.uint8


def test_pyzbar_reads_moderate_scenes_reliably(union: SimUnion) -> None:
    """≥ 95 % of hand-held phones in everyday light must read in one frame."""
    wallet = union.enroll("m")
    read = 0
    seeds = range(50)
    for seed in seeds:
        rng = np.random.default_rng(seed)
        text = wallet.present(T0 + seed)
        if decode(render_phone_qr(text, rng=rng, **random_moderate(rng))) == [text]:
            read += 1
    assert read >= 0.95 * len(seeds)


def test_dim_blurred_rendering_still_reads(union: SimUnion) -> None:
    text = union.enroll("m").present(T0)
    frame = render_phone_qr(text, angle_deg=-15, brightness=0.6, blur=0.8, noise=5)
    assert decode(frame) == [text]


def test_empty_doorway_has_no_code() -> None:
    for seed in range(5):
        frame = render_empty(rng=np.random.default_rng(seed), brightness=0.7)
        assert frame.shape == (480, 640, 3)
        assert decode(frame) == []


def test_rendering_is_deterministic_for_a_seed() -> None:
    a = render_phone_qr("WS1:SAME", rng=np.random.default_rng(4), angle_deg=9, noise=3)
    b = render_phone_qr("WS1:SAME", rng=np.random.default_rng(4), angle_deg=9, noise=3)
    assert np.array_equal(a, b)
