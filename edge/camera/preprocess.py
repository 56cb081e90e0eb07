"""Image fixes the decoder cascade applies to a grayscale frame before a retry.

Each one is kept only because it recovered codes the plain read missed on the synthetic door
set (benchmarks/decode_door.py), at a cost that fits the door budget. Measured and left out:
CLAHE / histogram equalisation (zxing-cpp's local binariser already copes with night and IR
frames; it recovered 2 of 104 misses), inversion (zxing-cpp's `try_invert` reads dark-mode
codes). Smaller copies of a frame are the cascade's own levels (edge/camera/scales.py).
"""

from __future__ import annotations

import cv2
import numpy as np

# 2× is what lifts a far phone (1.2–2.5 px a module) over zxing-cpp's finder-pattern threshold;
# 1.5× recovered 19 codes against 28 for 2×, and 3× costs 2.3× the time for no gain.
UPSCALE = 2.0
# Unsharp mask: 1.8·img − 0.8·blur(σ=1.5 px). Stronger amounts amplify noise and JPEG ringing.
SHARPEN_AMOUNT = 0.8
SHARPEN_SIGMA_PX = 1.5
# Frames wider than this are not upscaled: a 2× copy of a large frame costs tens of
# milliseconds, and the region steps' own 2× upscale (edge/camera/deblur.py) reads its far
# phones. 1280×720 frames were upscaled until a Pi's share of the budget was measured: on
# 250 far-phone tuning frames at 1.6–3.0 px a module (`tune-far-720p` in
# benchmarks/decode_blur.py) skipping the whole-frame copy read 188 against 188 with this
# machine's 40 ms budget and 188 against 186 with a Pi's share of it (13.3 ms), where the
# copy had cut the cascade short on 45 frames. The cost: a code the region finder misses
# (a cluttered backdrop wins the texture contest) loses this plain upscale's chance
# (docs/benchmarks.md, "A 720p camera").
UPSCALE_MAX_WIDTH_PX = 960


def upscale(gray: np.ndarray) -> np.ndarray | None:
    """The frame at `UPSCALE`× (bicubic), or None if it is already large."""
    if gray.shape[1] > UPSCALE_MAX_WIDTH_PX:
        return None
    return cv2.resize(gray, None, fx=UPSCALE, fy=UPSCALE, interpolation=cv2.INTER_CUBIC)


def sharpen(gray: np.ndarray) -> np.ndarray:
    """Unsharp mask: restores module edges softened by focus blur and JPEG."""
    soft = cv2.GaussianBlur(gray, (0, 0), SHARPEN_SIGMA_PX)
    return cv2.addWeighted(gray, 1.0 + SHARPEN_AMOUNT, soft, -SHARPEN_AMOUNT, 0)


def upscale_sharpen(gray: np.ndarray) -> np.ndarray | None:
    big = upscale(gray)
    return None if big is None else sharpen(big)
