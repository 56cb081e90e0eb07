"""The sizes the door cascade reads a frame at: the frame itself, then halved copies.

Why halve: every deblur step models a blur of a pixel or two (edge/camera/deblur.py,
edge/camera/smear.py), which is what a door camera sees of a phone at arm's length. A code
much nearer the lens than that, or a still photograph of one (a phone's camera: 12 MP and
modules of 10–40 px), is blurred by as many module widths but by many more pixels, and no
step undoes that blur at full size. Halved until its modules are a few pixels, the same
blur is a pixel or two again and the steps read it; halving is also what keeps a still's
steps affordable. zxing-cpp's own `try_downscale` shrinks the frame too, but does not
restore it. Measured on stills (`benchmarks/decode_blur.py`, the `*-still` and `*-close`
sets; docs/benchmarks.md, "Stills and codes too near the lens").

A level larger than `FULL_SIDE_PX` gets zxing-cpp alone (it reads a sharp code of any size
there, and the other steps would cost tens of ms on it); the next level gets every step.
Copies stop before their long side would fall under `MIN_SIDE_PX`: a member code (version
10, 57 modules) needs ~120 px at the least.

Order: a door frame's halved copy comes after every step at full size, unless the code's
region is blurred wider than the deblur steps model (`coarse`, looked at once the region is
known): then the next level goes first. On a Pi the budget ends the cascade after a few
steps, and the full-size deblur steps, which cannot read a blur of 3–4 px, used it up: a
phone too near a 640×480 camera (`tune-close`, 13.3 ms) read 211 of 250 in the plain order,
247 with this one, while door-distance blur (`tune-blur`) read 248 in both.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import cv2
import numpy as np

from edge.camera import deblur

FULL_SIDE_PX = 1920  # a level whose long side is larger: zxing-cpp alone (1080p: every step)
MIN_SIDE_PX = 320  # no copy whose long side is smaller than this (640×480 → one copy)
# The cascade's budget is sized for frames of up to this many pixels (1920×1080): a larger
# frame is not a door camera's frame in a hurry but a still, and its budget grows with it
BUDGET_PIXELS = 1920 * 1080
# A code region whose edges are blurred wider than this (Gaussian σ, px, as `edge_blur_px`
# estimates it) is read on the next halved copy before the deblur steps at its own size.
# `tune-close` at a Pi's share of the budget: 211 of 250 in the plain order, 247 with 2.5 or
# 2.7, 244 with 3.0; door-distance blur (`tune-blur`, σ ≤ 1.8 px: estimates ≤ ~2.3) and far
# 720p phones (`tune-far-720p`) read the same with all three
COARSE_SIGMA_PX = 2.7
EDGE_SMOOTH_PX = 1.0  # pre-smoothing of the estimate against sensor noise (taken out again)


def levels(gray: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(factor, image) pairs: the frame at factor 1, then copies halved again and again
    (area-averaged: a halving that also averages the noise) down to `MIN_SIDE_PX`."""
    factor, image = 1, gray
    yield factor, image
    while max(image.shape[:2]) // 2 >= MIN_SIDE_PX:
        height, width = image.shape[:2]
        image = cv2.resize(image, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
        factor *= 2
        yield factor, image


def full_steps(image: np.ndarray) -> bool:
    """Whether a level is small enough for every step (else zxing-cpp alone)."""
    return max(image.shape[:2]) <= FULL_SIDE_PX


def budget_scale(gray: np.ndarray) -> float:
    """How many door budgets a frame gets: 1 for a door camera's frame, more for a still."""
    return max(1.0, gray.shape[0] * gray.shape[1] / BUDGET_PIXELS)


def edge_blur_px(region: np.ndarray) -> float:
    """The Gaussian σ (px) of the region's edges: a step of height h blurred by σ has a
    steepest slope of h / (σ√(2π)). h is the spread of grey levels (3rd to 97th percentile),
    the slope the 99th percentile of the gradient, both after a slight smoothing whose own σ
    is taken out again. Over-estimates a sharp code's σ by ~0.4 px. Percentiles from
    histograms: sorting a region's pixels cost more than the filters."""
    soft = cv2.GaussianBlur(region, (0, 0), EDGE_SMOOTH_PX)
    gx = cv2.Sobel(soft, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(soft, cv2.CV_32F, 0, 1, ksize=3)
    slope = cv2.magnitude(gx, gy) * (1.0 / 8.0)  # grey levels a px (Sobel's weights sum to 8)
    lo, hi = _percentiles(soft, (0.03, 0.97))
    (steep,) = _percentiles(slope, (0.99,))
    sigma = (hi - lo) / (steep * math.sqrt(2.0 * math.pi) + 1e-6)
    return math.sqrt(max(0.0, sigma * sigma - EDGE_SMOOTH_PX**2))


def _percentiles(image: np.ndarray, shares: tuple[float, ...]) -> tuple[float, ...]:
    """Percentiles of 0–255 values from a 256-bin histogram (to 1 grey level)."""
    hist = cv2.calcHist([image], [0], None, [256], [0, 256]).ravel()
    cumulative = np.cumsum(hist) / max(1.0, float(hist.sum()))
    return tuple(float(np.searchsorted(cumulative, share)) for share in shares)


def coarse(image: np.ndarray) -> bool:
    """Whether the code's region in `image` is blurred wider than the deblur steps model
    (False with no code-like region: an empty doorway costs nothing here)."""
    region = deblur.code_region(image)
    return region is not None and edge_blur_px(region) >= COARSE_SIGMA_PX
