"""Motion smear recovery for the decoder cascade: estimate the smear in the code, undo it there.

Why: a phone still moving during the exposure (a hand's tremor at night, when the camera
exposes for 1/30 s, or the last of the approach) smears the code along one direction by
2–7 px. At 3–4 px a module that runs neighbouring modules together along the smear while
leaving them sharp across it: the focus-blur steps (edge/camera/deblur.py), which assume a
round blur, restore the wrong frequencies and read few such frames (docs/benchmarks.md,
"Motion smear").

The smear is estimated from the code's region itself, with no other frame needed:
- direction: a code's edges run both ways in equal measure, so its gradient structure tensor
  is round; a smear weakens the gradients along its direction, which becomes the tensor's
  weak axis;
- length: the derivative along the smear of a box-smeared image is the difference of two
  copies of the image a smear length apart, so its autocorrelation along that direction dips
  at the smear length (plus the width the focus blur and the derivative filter add, measured
  on tuning frames as `LENGTH_BIAS_PX`).
The region is then deconvolved with a Wiener filter for that line convolved with a small
focus blur (built as the focus-blur steps build theirs, `deblur.wiener_from_transfer`), and
upscaled. Its ringing defeats zxing-cpp's local binariser more often than a global one, so
the step's reader (in edge/camera/cascade.py) also reads a lightly smoothed, Otsu-binarised
copy.

All sizes are pixels of the frame handed in; angles are radians, x right and y down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from edge.camera import deblur

# Lags at which the directional derivative's autocorrelation is sampled, px: smears up to
# ~8 px (a phone moving 120 px/s at 1/15 s, or 240 px/s at 1/30 s).
MAX_LAG_PX = 10
# Border left out of the autocorrelation, px: the shifted copies are undefined there.
LAG_MARGIN_PX = MAX_LAG_PX + 2
# The dip lies this much beyond the true smear length (focus blur and the Sobel filter widen
# it). Of 67 tuning frames the cascade missed (the first 200 of `tune-motion`, seed 14, in
# benchmarks/decode_blur.py), the dip minus 1.5 px read 24, minus 0.5 px 19, minus 2.5 px 16.
LENGTH_BIAS_PX = 1.5
# Below this estimated length there is no smear worth undoing: the focus-blur steps own it.
MIN_LENGTH_PX = 1.5
# A region whose gradients are this round or rounder (weakest direction's energy over the
# strongest's) has no smear to undo: on 150 tuning frames each, focus-blurred codes
# (`tune-blur`) had roundness 0.71–0.92 (5th–95th percentile), smeared ones (`tune-motion`)
# 0.34–0.88, median 0.58. The step then costs a focus-blurred frame one tensor, ~0.3 ms, and
# can run ahead of the focus-blur steps (edge/camera/cascade.py).
MAX_ROUNDNESS = 0.7
# The focus blur assumed under the smear, px (Gaussian σ): 0.9 read 24 of those 67, 0.6 19.
FOCUS_SIGMA_PX = 0.9
# Wiener noise-to-signal term: with the true smear, 0.03 read 18 of the 67 with zxing-cpp,
# 0.01 8, 0.05 12, 0.1 6 (a box's transfer has zeros; lower terms amplify noise there).
WIENER_K = 0.03


@dataclass(frozen=True, slots=True)
class Smear:
    """A linear smear: `length_px` along `angle_rad` (modulo π: a smear has no sign)."""

    length_px: float
    angle_rad: float


def smear_direction(region: np.ndarray) -> tuple[float, float]:
    """The direction (radians, modulo π) along which `region`'s gradients are weakest, and
    their roundness: the weakest direction's gradient energy over the strongest's (0–1)."""
    g = cv2.GaussianBlur(region.astype(np.float32), (0, 0), 0.7)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    jxx, jyy, jxy = float((gx * gx).mean()), float((gy * gy).mean()), float((gx * gy).mean())
    half_sum = (jxx + jyy) / 2
    spread = math.hypot((jxx - jyy) / 2, jxy)  # the tensor's eigenvalues are half_sum ± spread
    roundness = (half_sum - spread) / (half_sum + spread) if half_sum > 0 else 1.0
    # The strong axis is at ½·atan2(2·Jxy, Jxx − Jyy); the weak one is perpendicular to it.
    return 0.5 * math.atan2(2.0 * jxy, jxx - jyy) + math.pi / 2, roundness


def smear_length(region: np.ndarray, angle_rad: float) -> float | None:
    """The smear length along `angle_rad`, px (sub-pixel), or None if the region is too small.

    The lag of the deepest dip of the directional derivative's autocorrelation, refined by a
    parabola through its neighbours, minus `LENGTH_BIAS_PX`.
    """
    h, w = region.shape
    if h <= 2 * LAG_MARGIN_PX + 8 or w <= 2 * LAG_MARGIN_PX + 8:
        return None
    g = region.astype(np.float32)
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    d = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3) * c + cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3) * s
    d -= float(d.mean())
    m = LAG_MARGIN_PX
    core = d[m : h - m, m : w - m]
    energy = float((core * core).sum())
    if energy <= 0.0:
        return None
    corr = []
    for lag in range(1, MAX_LAG_PX + 1):
        shift = np.float32([[1, 0, lag * c], [0, 1, lag * s]])
        moved = cv2.warpAffine(d, shift, (w, h), flags=cv2.INTER_LINEAR)
        corr.append(float((core * moved[m : h - m, m : w - m]).sum()) / energy)
    k = int(np.argmin(corr))
    dip = float(k + 1)
    if 0 < k < len(corr) - 1:
        before, at, after = corr[k - 1], corr[k], corr[k + 1]
        curve = before - 2.0 * at + after
        if curve > 1e-9:
            dip += 0.5 * (before - after) / curve
    return dip - LENGTH_BIAS_PX


def estimate(region: np.ndarray) -> Smear | None:
    """The smear in `region`, or None when there is none worth undoing: the gradients are
    round (`MAX_ROUNDNESS`) or the smear is short (`MIN_LENGTH_PX`)."""
    angle, roundness = smear_direction(region)
    if roundness >= MAX_ROUNDNESS:
        return None
    length = smear_length(region, angle)
    if length is None or length < MIN_LENGTH_PX:
        return None
    return Smear(length, angle)


@lru_cache(maxsize=64)
def _kernel(length_tenths: int, angle_deg: int, sigma_px: float, k: float) -> np.ndarray:
    n = deblur.WIENER_GRID_PX
    r = n // 2
    length = length_tenths / 10.0
    a = math.radians(angle_deg)
    dx, dy = length * math.cos(a), length * math.sin(a)
    psf = np.zeros((n, n), np.float32)
    ends = [(round((r - dx / 2) * 16), round((r - dy / 2) * 16)),
            (round((r + dx / 2) * 16), round((r + dy / 2) * 16))]  # fmt: skip
    cv2.line(psf, ends[0], ends[1], 1.0, 1, lineType=cv2.LINE_AA, shift=4)  # 4 fraction bits
    psf = cv2.GaussianBlur(psf / psf.sum(), (0, 0), sigma_px)
    transfer = np.fft.fft2(np.fft.ifftshift(psf))
    return deblur.wiener_from_transfer(transfer, k, math.ceil(length / 2 + 3 * sigma_px) + 2)


def wiener_kernel(
    smear: Smear, sigma_px: float = FOCUS_SIGMA_PX, k: float = WIENER_K
) -> np.ndarray:
    """The spatial Wiener filter for `smear` under a focus blur of `sigma_px`.

    Cached on the smear rounded to 0.1 px and 1°, finer than the estimate is good for.
    """
    angle_deg = round(math.degrees(smear.angle_rad)) % 180
    return _kernel(round(smear.length_px * 10), angle_deg, sigma_px, k)


def unsmear_region(gray: np.ndarray) -> np.ndarray | None:
    """The code's region with its estimated smear undone and upscaled, or None if there is no
    code-like region or no smear in it."""
    region = deblur.code_region(gray)
    if region is None:
        return None
    smear = estimate(region)
    if smear is None:
        return None
    sharp = cv2.filter2D(region, -1, wiener_kernel(smear), borderType=cv2.BORDER_REPLICATE)
    up = deblur.UPSCALE  # as the focus-blur steps
    return cv2.resize(sharp, None, fx=up, fy=up, interpolation=cv2.INTER_CUBIC)
