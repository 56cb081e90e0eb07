"""Blur recovery for the decoder cascade: find the code in the frame, undo focus blur there.

Why: at 3–4 px a module a Gaussian focus blur of σ ≈ 1–1.8 px (a phone too close for the
lens, a cheap fixed-focus camera, a smeared cover glass) leaves every module visible to a
person but below zxing-cpp's binariser: isolated modules lose a third of their contrast and
neighbours run together. An unsharp mask only restores part of that; a Wiener deconvolution
with a Gaussian blur model restores the module edges while its noise term keeps sensor noise
and JPEG blocks from exploding (docs/benchmarks.md, "Blurred codes"). Deconvolving and
upscaling the whole frame costs several times what the code's region does and reads no more,
so the code is found first: module edges give a QR code the densest gradient texture in a
door scene, and only that region (a third of a 640×480 frame, typically) is processed.

All sizes are pixels of the frame handed in; `sigma_px` is the blur's standard deviation.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import cv2
import numpy as np

from edge.camera import preprocess

# Side of one cell of the texture map, px. 8 px is two or three modules at the sizes the
# door reads: fine enough to outline a 100 px code, coarse enough that the map (80×60 for
# 640×480) costs ~0.3 ms. The map is built at half resolution (modules of 1.5+ px still give
# a gradient there) to halve the cost.
CELL_PX = 8
# A cell belongs to the code's region if its texture is at least this share of the densest
# cell's. Lower takes in more of a glare-washed code but also more background; 0.4 kept the
# whole code on every readable tuning frame with a median region of ~30 % of the frame.
REGION_SHARE = 0.4
# Skip the region steps when the densest cell is less than this many times the frame's
# texture, or stands less than `MIN_TEXTURE_LEVELS` above it: that is a doorway with nothing
# held up. Tuning frames the first reader missed (280): ratio ≥ 3.9, excess ≥ 22 grey levels,
# night codes (a quarter of full exposure) included; empty dim doorways, JPEG q40–95: excess
# ≤ 10. A wrong "empty" costs a read, a wrong "code" only time (a sunlit or cluttered empty
# doorway often passes), hence thresholds at the codes' low end.
MIN_PEAK_RATIO = 3.0
MIN_TEXTURE_LEVELS = 14.0
# ... "the frame's texture" being this percentile of the cells, not their median: a phone
# held near the lens fills most of the frame with code, and its own texture was the median
# (peak 2.6–2.9 × median on the `near` walk-ups of benchmarks/door_unlock.py), so the region
# steps took it for an empty doorway and skipped themselves. The quarter of the frame with
# the least texture is the background still; empty doorways stay under the levels test.
BACKGROUND_PERCENTILE = 25.0
# Margin added around the region on each side, as a share of its size plus one cell: the
# texture map's cells cut through the quiet zone, which the finder-pattern search needs.
MARGIN_SHARE = 0.12
# Wiener noise-to-signal term. Smaller restores more contrast but amplifies noise and JPEG
# ringing: of 58 tuning frames the cascade missed, σ 1.5 with 0.01 read 32, 0.03 44, 0.1 32.
WIENER_K = 0.03
# Upscale after deblurring: zxing-cpp samples modules more reliably at 6+ px a module and under
# perspective; of those 58, 1.5× read 36, 2× 43, 3× 46 at 1.6× the cost. Deblurring first
# and upscaling after reads as much as the reverse at a quarter of the filtering. 2× for the
# first tries; `FINE_UPSCALE` for a last one, which read 6 more of 700 tuning frames.
UPSCALE = 2.0
FINE_UPSCALE = 3.0

_LAST = threading.local()  # the region of the last frame seen, per thread (see code_region)


def _texture_map(gray: np.ndarray) -> np.ndarray:
    """Mean morphological gradient per `CELL_PX` cell (grey levels), smoothed over 3×3 cells."""
    h, w = gray.shape
    half = cv2.resize(gray, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)
    grad = cv2.morphologyEx(half, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    cells = (max(1, w // CELL_PX), max(1, h // CELL_PX))
    small = cv2.resize(grad, cells, interpolation=cv2.INTER_AREA).astype(np.float32)
    return cv2.blur(small, (3, 3))


def find_region(gray: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the most code-like region, or None for a scene with no such texture.

    The region is the connected patch of dense texture around the densest cell, with a margin.
    """
    h, w = gray.shape
    if h < 2 * CELL_PX or w < 2 * CELL_PX:
        return None
    small = _texture_map(gray)
    peak, background = float(small.max()), float(np.percentile(small, BACKGROUND_PERCENTILE))
    if peak < MIN_PEAK_RATIO * background or peak - background < MIN_TEXTURE_LEVELS:
        return None
    mask = (small >= REGION_SHARE * peak).astype(np.uint8)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    y, x = np.unravel_index(int(np.argmax(small)), small.shape)
    cx, cy, cw, ch = (int(v) for v in stats[labels[y, x], :4])
    x0, y0, x1, y1 = cx * CELL_PX, cy * CELL_PX, (cx + cw) * CELL_PX, (cy + ch) * CELL_PX
    mx = int((x1 - x0) * MARGIN_SHARE) + CELL_PX
    my = int((y1 - y0) * MARGIN_SHARE) + CELL_PX
    return max(0, x0 - mx), max(0, y0 - my), min(w, x1 + mx), min(h, y1 + my)


def code_region(gray: np.ndarray) -> np.ndarray | None:
    """The crop of `gray` where the code most likely is (a view, not a copy), or None.

    Several cascade steps ask for the region of the same frame; it is found once per frame
    (remembered for the last frame object seen on this thread).
    """
    last = getattr(_LAST, "entry", None)
    if last is not None and last[0] is gray:
        box = last[1]
    else:
        box = find_region(gray)
        _LAST.entry = (gray, box)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    return gray[y0:y1, x0:x1]


# The frequency grid Wiener filters are built on, px: far wider than any kernel the steps
# use, so a kernel does not wrap round.
WIENER_GRID_PX = 64


def wiener_from_transfer(transfer: np.ndarray, k: float, half: int) -> np.ndarray:
    """The spatial Wiener filter conj(H) / (|H|² + k) for a blur whose transfer function H is
    `transfer` (on the `WIENER_GRID_PX` grid, zero frequency at [0, 0]), cut to the
    (2·half+1)² support where it matters and normalised to unit gain (flat areas keep their
    grey level); read-only, as the callers cache it."""
    spectrum = np.conj(transfer) / (np.abs(transfer) ** 2 + k)
    kernel = np.fft.fftshift(np.real(np.fft.ifft2(spectrum)))
    c = WIENER_GRID_PX // 2
    kernel = kernel[c - half : c + half + 1, c - half : c + half + 1]
    kernel = (kernel / kernel.sum()).astype(np.float32)
    kernel.setflags(write=False)
    return kernel


@lru_cache(maxsize=8)
def wiener_kernel(sigma_px: float, k: float = WIENER_K) -> np.ndarray:
    """The spatial Wiener filter for a Gaussian blur of `sigma_px`, (2r+1)² with r = ⌈3σ⌉+1.
    Cached: the cascade uses a handful of fixed sigmas."""
    freq = np.fft.fftfreq(WIENER_GRID_PX)
    fx, fy = np.meshgrid(freq, freq)
    transfer = np.exp(-2.0 * np.pi**2 * sigma_px**2 * (fx**2 + fy**2))
    return wiener_from_transfer(transfer, k, int(np.ceil(3 * sigma_px)) + 1)


def wiener(gray: np.ndarray, sigma_px: float, k: float = WIENER_K) -> np.ndarray:
    """`gray` deconvolved for a Gaussian blur of `sigma_px` (uint8, clipped to 0–255)."""
    return cv2.filter2D(gray, -1, wiener_kernel(sigma_px, k), borderType=cv2.BORDER_REPLICATE)


def deblur_region(gray: np.ndarray, sigma_px: float, upscale: float = UPSCALE) -> np.ndarray | None:
    """The code's region, deconvolved for blur `sigma_px` and upscaled; None if no region."""
    region = code_region(gray)
    if region is None:
        return None
    sharp = wiener(region, sigma_px)
    return cv2.resize(sharp, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)


def sharpen_region(gray: np.ndarray) -> np.ndarray | None:
    """The code's region upscaled and unsharp-masked (`preprocess.upscale_sharpen`), or None.

    The same fix the cascade used to apply to the whole frame, for far phones (1.2–2.5 px a
    module), which the deblur steps over-sharpen, at a third of the pixels: of 200 tuning
    frames at 1.2–2.2 px a module it read 136 with the deblur steps, the whole-frame fix 137.
    """
    region = code_region(gray)
    return None if region is None else preprocess.upscale_sharpen(region)
