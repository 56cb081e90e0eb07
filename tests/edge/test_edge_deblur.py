"""Finding the code's region and undoing focus blur there (edge/camera/deblur.py)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.camera import deblur
from edge.camera.qr import to_gray
from firmware_sim.scenes import render_empty, render_phone_shot

TEXT = "WS1:" + "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" * 4


@pytest.mark.parametrize("backdrop", ["doorway", "day", "clutter"])
@pytest.mark.parametrize("seed", range(4))
def test_the_region_holds_the_whole_code(backdrop: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    shot = render_phone_shot(
        TEXT, code_px=int(rng.integers(150, 260)), angle_deg=float(rng.uniform(-40, 40)),
        tilt=0.15, blur=1.4, noise=5, jpeg_quality=60, backdrop=backdrop, rng=rng,
    )  # fmt: skip
    gray = to_gray(shot.frame)
    assert gray is not None
    box = deblur.find_region(gray)
    assert box is not None
    x0, y0, x1, y1 = box
    quad = shot.code_quad
    assert quad[:, 0].min() >= x0 - 2
    assert quad[:, 0].max() <= x1 + 2
    assert quad[:, 1].min() >= y0 - 2
    assert quad[:, 1].max() <= y1 + 2


@pytest.mark.parametrize("seed", range(4))
def test_a_code_filling_the_frame_has_a_region(seed: int) -> None:
    """A close-up (a photo of a code, a phone held against a wide-angle lens): the code covers
    most of the frame, so its own texture is the frame's median. Fails on the median as the
    frame's texture (taken for an empty doorway: the region steps skipped themselves)."""
    rng = np.random.default_rng(seed)
    shot = render_phone_shot(
        TEXT, code_px=int(rng.integers(430, 460)), center=(320.0, 240.0),
        angle_deg=float(rng.uniform(-3, 3)), blur=float(rng.uniform(2.0, 3.0)), noise=4,
        jpeg_quality=70, rng=rng,
    )  # fmt: skip
    gray = to_gray(shot.frame)
    assert gray is not None
    small = deblur._texture_map(gray)
    assert small.max() < deblur.MIN_PEAK_RATIO * np.median(small)  # what the old gate saw
    assert deblur.find_region(gray) is not None


@pytest.mark.parametrize("seed", range(8))
def test_an_empty_doorway_has_no_region(seed: int) -> None:
    rng = np.random.default_rng(seed)
    frame = render_empty(noise=float(rng.uniform(1, 10)), brightness=float(rng.uniform(0.25, 1.15)),
                         jpeg_quality=int(rng.integers(40, 95)), rng=rng)  # fmt: skip
    gray = to_gray(frame)
    assert gray is not None
    assert deblur.find_region(gray) is None
    assert deblur.deblur_region(gray, 1.65) is None


def test_wiener_undoes_a_known_blur_better_than_nothing() -> None:
    rng = np.random.default_rng(0)
    sharp = np.where(rng.random((40, 40)) < 0.5, 30, 220).astype(np.uint8)
    sharp = np.kron(sharp, np.ones((4, 4), dtype=np.uint8))  # 4 px modules
    blurred = cv2.GaussianBlur(sharp, (0, 0), 1.6)
    restored = deblur.wiener(blurred, 1.6)

    def worst_gap(image: np.ndarray) -> int:
        """Grey levels between the darkest light and the lightest dark module centre."""
        centres, light = image[2::4, 2::4].astype(int), sharp[2::4, 2::4] > 125
        return int(centres[light].min() - centres[~light].max())

    assert worst_gap(restored) > 2 * worst_gap(blurred)  # isolated modules regain contrast
    flat = np.full((30, 30), 90, dtype=np.uint8)
    assert np.array_equal(deblur.wiener(flat, 1.6), flat)  # unit gain: a flat area stays put


def test_the_region_is_found_once_per_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = deblur.find_region
    monkeypatch.setattr(deblur, "find_region", lambda g: calls.append(1) or real(g))
    gray = to_gray(render_phone_shot(TEXT, blur=1.5).frame)
    assert gray is not None
    first = deblur.code_region(gray)
    second = deblur.code_region(gray)
    assert first is not None
    assert second is not None
    assert len(calls) == 1
    deblur.code_region(gray.copy())  # another frame object: looked up afresh
    assert len(calls) == 2
