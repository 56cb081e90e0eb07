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
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

FULL_SIDE_PX = 1920  # a level whose long side is larger: zxing-cpp alone (1080p: every step)
MIN_SIDE_PX = 320  # no copy whose long side is smaller than this (640×480 → one copy)
# The cascade's budget is sized for frames of up to this many pixels (1920×1080): a larger
# frame is not a door camera's frame in a hurry but a still, and its budget grows with it
BUDGET_PIXELS = 1920 * 1080


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
