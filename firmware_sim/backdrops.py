"""What the door camera sees behind the phone: the dim doorway, a sunlit one, a cluttered one.

Each backdrop is a float32 BGR frame (0–255 before the camera's exposure) drawn from `rng`.
`doorway` is the scene every earlier figure was measured on and draws exactly the same random
numbers as before; `day` and `clutter` exist so a decoder tuned on the doorway can be measured
on scenes it never saw (bright walls, posters and tiles whose edges compete with the code's).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

Backdrop = Callable[[tuple[int, int], np.random.Generator], np.ndarray]


def doorway(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A dim doorway: vertical gradient, a darker door frame, a floor line, low texture."""
    w, h = size
    top, bottom = rng.uniform(40, 70), rng.uniform(20, 45)
    column = np.linspace(top, bottom, h, dtype=np.float32)[:, None]
    gray = np.repeat(column, w, axis=1)
    # Door frame: two dark posts and a lintel.
    post = int(w * rng.uniform(0.06, 0.12))
    x0 = int(w * rng.uniform(0.05, 0.2))
    x1 = w - int(w * rng.uniform(0.05, 0.2))
    gray[:, x0 : x0 + post] *= 0.55
    gray[:, max(0, x1 - post) : x1] *= 0.55
    gray[: int(h * 0.08), x0:x1] *= 0.6
    gray[int(h * rng.uniform(0.8, 0.9)) :, :] *= 0.8  # floor
    # Low-frequency texture (wall, shadows) so the scene is not a flat synthetic field.
    blotches = rng.normal(0, 6, (max(2, h // 40), max(2, w // 40))).astype(np.float32)
    gray += cv2.resize(blotches, (w, h), interpolation=cv2.INTER_CUBIC)
    tint = np.array([1.08, 1.0, 0.92], dtype=np.float32)  # night light is bluish on CMOS
    return gray[:, :, None] * tint[None, None, :]


def day(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A sunlit entrance: a bright wall (110–190), a hard shadow edge, coarse plaster texture."""
    w, h = size
    level = rng.uniform(110, 190)
    gray = np.full((h, w), level, dtype=np.float32)
    # A diagonal shadow of the awning across part of the frame.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    slope, offset = rng.uniform(-0.6, 0.6), rng.uniform(0.2, 0.8) * h
    gray[yy > offset + slope * (xx - w / 2)] *= rng.uniform(0.45, 0.7)
    blotches = rng.normal(0, 12, (max(2, h // 24), max(2, w // 24))).astype(np.float32)
    gray += cv2.resize(blotches, (w, h), interpolation=cv2.INTER_CUBIC)
    gray += rng.normal(0, 3, (h, w)).astype(np.float32)  # plaster grain
    tint = np.array([0.92, 1.0, 1.06], dtype=np.float32)  # daylight runs warm
    return gray[:, :, None] * tint[None, None, :]


def clutter(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """The doorway with notices, a tiled panel and a striped bag: sharp edges that are not a
    code, to test whatever looks for the code by its texture."""
    frame = doorway(size, rng)
    w, h = size
    for _ in range(int(rng.integers(3, 7))):  # notices: pale sheets with lines of "text"
        pw, ph = int(w * rng.uniform(0.1, 0.25)), int(h * rng.uniform(0.12, 0.3))
        x, y = int(rng.uniform(0, w - pw)), int(rng.uniform(0, h - ph))
        paper = rng.uniform(120, 220)
        frame[y : y + ph, x : x + pw] = paper
        pitch = int(rng.integers(5, 11))
        for line in range(y + pitch, y + ph - pitch, pitch):
            end = x + int(pw * rng.uniform(0.4, 0.9))
            frame[line : line + max(2, pitch // 3), x + 4 : end] = paper * rng.uniform(0.1, 0.4)
    # A tiled panel: a checkerboard of 6–14 px tiles, the texture closest to a QR code's.
    tile = int(rng.integers(6, 15))
    tw, th = int(w * rng.uniform(0.1, 0.2)), int(h * rng.uniform(0.1, 0.2))
    x, y = int(rng.uniform(0, w - tw)), int(rng.uniform(0, h - th))
    yy, xx = np.mgrid[0:th, 0:tw]
    checker = ((yy // tile + xx // tile) % 2).astype(np.float32)
    frame[y : y + th, x : x + tw] = (60 + 120 * checker)[:, :, None]
    # Stripes: a bag or a jacket, 4–10 px bands.
    band = int(rng.integers(4, 11))
    sw, sh = int(w * rng.uniform(0.1, 0.2)), int(h * rng.uniform(0.2, 0.4))
    x, y = int(rng.uniform(0, w - sw)), int(rng.uniform(0, h - sh))
    stripes = ((np.arange(sw) // band) % 2).astype(np.float32)[None, :]
    frame[y : y + sh, x : x + sw] = (40 + 150 * np.repeat(stripes, sh, axis=0))[:, :, None]
    return frame


BACKDROPS: dict[str, Backdrop] = {"doorway": doorway, "day": day, "clutter": clutter}
