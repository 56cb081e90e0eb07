from __future__ import annotations

import numpy as np
import pytest

from edge.camera.qr import ZbarDecoder, as_text, decode, to_gray
from firmware_sim.scenes import render_empty, render_phone_qr


def test_decodes_a_rendered_phone() -> None:
    frame = render_phone_qr("WS1:HELLO WORLD 123")
    assert decode(frame) == ["WS1:HELLO WORLD 123"]


def test_gray_and_bgra_frames() -> None:
    frame = render_phone_qr("WS1:GRAY")
    gray = to_gray(frame)
    assert gray is not None
    assert gray.ndim == 2
    assert decode(gray) == ["WS1:GRAY"]
    bgra = np.dstack([frame, np.full(frame.shape[:2], 255, np.uint8)])
    assert decode(bgra) == ["WS1:GRAY"]


def test_empty_scene_has_no_code() -> None:
    assert decode(render_empty()) == []


@pytest.mark.parametrize(
    "frame",
    [
        None,
        "not a frame",
        np.zeros((480, 640, 3), dtype=np.float32),
        np.zeros((480, 640, 2), dtype=np.uint8),
        np.zeros((4, 4), dtype=np.uint8),
        np.zeros((0, 0, 3), dtype=np.uint8),
        np.zeros((10, 10, 10, 3), dtype=np.uint8),
        np.zeros(640, dtype=np.uint8),
    ],
)
def test_garbage_frames_give_nothing(frame: object) -> None:
    assert ZbarDecoder().decode(frame) == []


def test_undecodable_bytes_become_replacement_text() -> None:
    text = as_text(b"WS1:\xff\xfe")
    assert text.startswith("WS1:")
    assert "\ufffd" in text
