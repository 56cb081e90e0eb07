"""Foreground: shadows dropped (a low lamp's dark ones too), gain changes normalised away,
mono frames keep dark-grey clothes, morphology removes specks."""

from __future__ import annotations

import cv2
import numpy as np

from edge.footfall.background import Foreground


def floor(rng: np.random.Generator, level: float = 140.0) -> np.ndarray:
    return np.clip(rng.normal(level, 3.0, (240, 320, 3)), 0, 255).astype(np.uint8)


def learned(rng: np.random.Generator, frames: int = 60) -> Foreground:
    fg = Foreground()
    for _ in range(frames):
        frame = floor(rng)
        fg.apply(fg.normalise(frame, float(np.median(frame))))
    return fg


def fraction(mask: np.ndarray, box: tuple[int, int, int, int]) -> float:
    x, y, w, h = box
    return float(np.count_nonzero(mask[y : y + h, x : x + w])) / (w * h)


def test_a_person_is_foreground_their_soft_shadow_is_not() -> None:
    rng = np.random.default_rng(1)
    fg = learned(rng)
    frame = floor(rng).astype(np.float32)
    frame[100:130, 200:260] *= 0.75  # a shadow: same chroma, darker
    cv2.ellipse(frame, (100, 120), (14, 9), 0, 0, 360, (0, 200, 255), -1)  # a yellow vest
    out = fg.apply(fg.normalise(frame.astype(np.uint8), 140.0))
    assert fraction(out, (90, 115, 20, 10)) > 0.9
    assert fraction(out, (205, 105, 50, 20)) < 0.05


def test_a_global_gain_change_is_normalised_away() -> None:
    rng = np.random.default_rng(2)
    fg = learned(rng)
    darker = (floor(rng) * 0.45).astype(np.uint8)
    out = fg.apply(fg.normalise(darker, float(np.median(darker))))
    assert np.count_nonzero(out) < 0.01 * out.size
    assert 2.0 < fg.gain < 2.5


def test_a_low_lamps_dark_shadow_is_dropped_dark_clothes_are_not() -> None:
    # a very low lamp darkens the floor to ~half (35-50 %): still a shadow (tau 0.5);
    # dark clothes (~0.3 of the floor) are not
    rng = np.random.default_rng(5)
    fg = learned(rng)
    frame = floor(rng).astype(np.float32)
    frame[100:140, 200:270] *= 0.56
    cv2.ellipse(frame, (100, 120), (14, 9), 0, 0, 360, (40, 40, 45), -1)
    out = fg.apply(fg.normalise(frame.astype(np.uint8), 140.0))
    assert fraction(out, (90, 115, 20, 10)) > 0.9
    assert fraction(out, (205, 105, 60, 30)) < 0.05


def test_mono_frames_keep_a_dark_grey_person_whole() -> None:
    # grey: a person in dark-grey clothes and hair (0.8 of the floor) is, to MOG2, a shadow;
    # in colour the chroma decides, in mono every changed pixel is foreground
    rng = np.random.default_rng(3)
    results = {}
    for mono in (False, True):
        fg = Foreground()
        for _ in range(60):
            g = floor(rng)[:, :, :1].repeat(3, axis=2)
            fg.apply(fg.normalise(g, 140.0), mono=mono)
        frame = floor(rng)[:, :, :1].repeat(3, axis=2).astype(np.float32)
        cv2.ellipse(frame, (160, 120), (14, 9), 0, 0, 360, (112, 112, 112), -1)  # ratio 0.8
        cv2.circle(frame, (160, 120), 6, (105, 105, 105), -1)
        out = fg.apply(fg.normalise(frame.astype(np.uint8), 140.0), mono=mono)
        results[mono] = fraction(out, (150, 114, 20, 12))
    assert results[False] < 0.2  # the rule for colour: a grey darkening is a shadow
    assert results[True] > 0.9


def test_specks_are_opened_away() -> None:
    rng = np.random.default_rng(4)
    fg = learned(rng)
    frame = floor(rng)
    frame[50, 50] = 255
    frame[80, 81] = 0
    out = fg.apply(fg.normalise(frame, 140.0))
    assert np.count_nonzero(out) == 0


def test_a_small_person_in_clothes_a_little_darker_than_the_floor_is_seen_whole() -> None:
    # seen from a tall camera, a child in grey clothes 12 % darker than the floor (its chroma):
    # to MOG2 the clothes are a shadow, and the dark head alone is under the smallest blob
    rng = np.random.default_rng(7)
    fg = learned(rng)
    frame = floor(rng).astype(np.float32)
    cv2.ellipse(frame, (100, 120), (9, 6), 0, 0, 360, (123, 123, 123), -1)
    cv2.circle(frame, (100, 120), 3, (30, 30, 35), -1)
    out = fg.apply(fg.normalise(frame.astype(np.uint8), 140.0))
    assert fraction(out, (93, 116, 15, 9)) > 0.9


def test_a_cast_shadow_beside_a_small_part_stays_a_shadow() -> None:
    # a small dark part (a shoe, a bag's strap) at the edge of a cast shadow: the shadow is
    # beside it, not around it, and stays dropped
    rng = np.random.default_rng(8)
    fg = learned(rng)
    frame = floor(rng).astype(np.float32)
    frame[100:130, 200:260] *= 0.8
    cv2.circle(frame, (197, 115), 3, (30, 30, 35), -1)
    out = fg.apply(fg.normalise(frame.astype(np.uint8), 140.0))
    assert fraction(out, (205, 105, 50, 20)) < 0.05
