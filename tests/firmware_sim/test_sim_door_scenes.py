"""The harsher door-camera scenes the decoder cascade is benchmarked on."""

from __future__ import annotations

import numpy as np

from edge.camera.cascade import CascadeDecoder
from firmware_sim.scenes import modules_of, random_door, render_phone_qr


def test_door_parameters_stay_in_their_ranges() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = random_door(rng)
        assert 80 <= p["code_px"] <= 250
        assert 0.25 <= p["brightness"] <= 1.15
        assert 35 <= p["jpeg_quality"] <= 95
        assert 0.0 <= p["glare"] <= 0.7


def test_glare_and_jpeg_change_the_frame_deterministically() -> None:
    plain = render_phone_qr("WS1:G", rng=np.random.default_rng(3))
    glared = render_phone_qr("WS1:G", glare=0.6, rng=np.random.default_rng(3))
    assert glared.mean() > plain.mean() + 1  # a bright reflection was added
    a = render_phone_qr("WS1:G", jpeg_quality=40, rng=np.random.default_rng(3))
    b = render_phone_qr("WS1:G", jpeg_quality=40, rng=np.random.default_rng(3))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, plain)


def test_a_near_phone_in_a_hard_scene_still_reads() -> None:
    rng = np.random.default_rng(9)
    params = random_door(rng, code_px=(240, 250)) | {"glare": 0.0, "invert": False}
    text = "WS2:" + "A" * 100
    frame = render_phone_qr(text, rng=rng, **params)
    assert CascadeDecoder().decode(frame) == [text]


def test_modules_include_the_quiet_zone() -> None:
    assert modules_of("WS1:X") == 21 + 8
