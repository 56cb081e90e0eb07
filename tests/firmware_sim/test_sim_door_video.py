"""Videos of a phone walked up to the door camera (firmware_sim/door_video.py) and the scene
options they are built from."""

from __future__ import annotations

import numpy as np
import pytest

from edge.camera.cascade import CascadeDecoder
from firmware_sim.backdrops import BACKDROPS
from firmware_sim.door_video import ClipSpec, render_clip
from firmware_sim.scenes import render_empty, render_phone_qr, render_phone_shot

TEXT = "WS1:" + "VIDEO TEST 0123456789" * 6


def short(**changes: object) -> ClipSpec:
    base = {"text": TEXT, "seed": 4, "lead_s": 0.2, "approach_s": 0.3, "hold_s": 0.5}
    return ClipSpec(**(base | changes))  # type: ignore[arg-type]


@pytest.mark.parametrize("edge", ["bottom", "left", "right"])
def test_the_code_comes_into_view_and_stays(edge: str) -> None:
    clip = render_clip(short(edge=edge))
    assert len(clip.frames) == len(clip.times_s) == round(1.0 * 15)
    assert clip.in_view[:3] == [False] * 3  # the empty doorway first
    first = clip.in_view.index(True)
    assert all(clip.in_view[first:])
    assert clip.in_view_s == clip.times_s[first]
    assert CascadeDecoder().decode(clip.frames[-1]) == [TEXT]  # held still: readable


def test_clips_are_deterministic_and_the_doorway_stays_put() -> None:
    a, b = render_clip(short(light="night")), render_clip(short(light="night"))
    assert all(np.array_equal(x, y) for x, y in zip(a.frames, b.frames, strict=True))
    # Two empty frames differ by sensor noise only, not by a new backdrop.
    diff = np.abs(a.frames[0].astype(int) - a.frames[1].astype(int)).mean()
    assert diff < 12


def test_a_moving_phone_is_smeared_along_its_travel() -> None:
    still = render_phone_shot(TEXT, noise=0, center=(320, 240), rng=np.random.default_rng(1))
    moved = render_phone_shot(TEXT, noise=0, center=(320, 240), motion_px=(12.0, 0.0),
                              rng=np.random.default_rng(1))  # fmt: skip
    gray_still, gray_moved = still.frame.mean(axis=2), moved.frame.mean(axis=2)
    assert (
        np.abs(np.diff(gray_moved, axis=1)).mean()
        < 0.7 * np.abs(np.diff(gray_still, axis=1)).mean()
    )
    assert np.allclose(still.code_quad, moved.code_quad)


def test_a_drawn_backdrop_is_reused_and_left_untouched() -> None:
    backdrop = BACKDROPS["day"]((640, 480), np.random.default_rng(0))
    kept = backdrop.copy()
    a = render_empty(backdrop=backdrop, noise=0, rng=np.random.default_rng(1))
    b = render_phone_qr(TEXT, backdrop=backdrop, noise=0, center=(320, 240),
                        rng=np.random.default_rng(2))  # fmt: skip
    assert np.array_equal(backdrop, kept)
    assert np.array_equal(a[:40, :40], b[:40, :40])  # same scene where the phone is not


@pytest.mark.parametrize("name", sorted(BACKDROPS))
def test_every_backdrop_draws_a_frame(name: str) -> None:
    frame = BACKDROPS[name]((320, 240), np.random.default_rng(3))
    assert frame.shape == (240, 320, 3)
    assert frame.dtype == np.float32
