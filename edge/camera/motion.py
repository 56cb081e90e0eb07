"""Motion gate: decode only when something is, or recently was, in front of the camera.

The expensive part of an empty doorway is the decoder cascade running to its end (~8 ms a
frame at 640×480, all steps missing). The gate compares each frame, shrunk to ~80 px wide,
with the previous one (~0.1 ms) and lets the decoder run while there is motion, for `hold_s`
after it (a member lifts the phone, then holds it still: that still phone must be read with
no added latency), and once every `idle_every_s` regardless (a phone that arrived between
two frames without the gate noticing, or a scene the gate misjudges, is read within that
delay at worst).
"""

from __future__ import annotations

import cv2
import numpy as np

# Width the comparison runs at, px: enough to see a hand, too coarse for sensor noise.
SMALL_WIDTH_PX = 80
# Grey levels a small-frame pixel must change by to count as moving. Sensor noise after the
# INTER_AREA shrink is ~1–2 levels; a dark hand on a dim doorway is 10+.
PIXEL_DELTA = 8
# Share of small-frame pixels that must move. 0.5 % is ~24 pixels of 80×60: a phone at
# 80 px in a 640 px frame covers ~1.5 %.
MOTION_FRACTION = 0.005


class MotionGate:
    """Feed every frame with its arrival time (monotonic seconds); it says whether to decode."""

    def __init__(self, *, hold_s: float = 3.0, idle_every_s: float = 1.0) -> None:
        self.hold_s = hold_s
        self.idle_every_s = idle_every_s
        self.frames = 0
        self.decoded = 0
        self._prev: np.ndarray | None = None
        self._last_motion = -float("inf")
        self._last_decode = -float("inf")

    def _small(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        size = (SMALL_WIDTH_PX, max(1, round(h * SMALL_WIDTH_PX / w)))
        small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        if small.ndim == 3:
            small = small[:, :, 1]  # green carries most luminance; no colour conversion needed
        return small

    def moving(self, frame: np.ndarray) -> bool:
        """True if `frame` differs from the previous one beyond noise (the first one does)."""
        small = self._small(frame)
        prev, self._prev = self._prev, small
        if prev is None or prev.shape != small.shape:
            return True
        changed = np.count_nonzero(cv2.absdiff(small, prev) > PIXEL_DELTA)
        return changed > MOTION_FRACTION * small.size

    def should_decode(self, frame: np.ndarray, now: float) -> bool:
        """Whether the decoder should look at this frame; records motion and the decision."""
        self.frames += 1
        if self.moving(frame):
            self._last_motion = now
        decide = (
            now - self._last_motion <= self.hold_s or now - self._last_decode >= self.idle_every_s
        )
        if decide:
            self._last_decode = now
            self.decoded += 1
        return decide
