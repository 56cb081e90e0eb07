"""Can the counter trust this frame? Frozen camera, a frame of noise, a sudden light change.

Judged on a small (1/4 size) grey copy against the last trusted one, so it costs little:
- frozen: consecutive frames identical (a live sensor always has some noise) for `frozen_s`
  after the input had been lively;
- light change: the median brightness jumps by more than `light_jump` (relative) at once
  (`edge.footfall.geometry.LIGHT_JUMP` says why a tenth);
- noise: the frame differs a lot from the last trusted one but not by a uniform shift
  (a glitch, a burst of snow). Noise that persists is a new scene: the caller re-learns.
"""

from __future__ import annotations

from enum import StrEnum

import cv2
import numpy as np

from edge.footfall.geometry import LIGHT_JUMP

IDENTICAL_MAD = 0.05  # mean |diff| (grey levels) below this: the same frame again
LIVELY_MAD = 0.3  # a live camera's frames differ at least this much (sensor noise)
NOISE_MAD = 25.0  # mean |diff| above this, not explained by a uniform shift: noise
NOISE_FRAMES_TO_RESET = 5  # this many noise frames in a row: accept them as the new scene


class Verdict(StrEnum):
    OK = "ok"
    FROZEN = "frozen"
    NOISE = "noise"
    LIGHT_CHANGE = "light_change"
    RESET = "reset"  # persistent change (camera moved, noise that stays): re-learn


class InputGuard:
    def __init__(self, *, frozen_s: float = 3.0, light_jump: float = LIGHT_JUMP) -> None:
        self.frozen_s = frozen_s
        self.light_jump = light_jump
        self._last: np.ndarray | None = None  # last trusted small frame (float32)
        self._last_median = 0.0
        self._lively = False
        self._same_since: float | None = None
        self._noise_run = 0

    def check(self, small: np.ndarray, median: float, at: float) -> Verdict:
        current = small.astype(np.float32)
        last = self._last
        if last is None or last.shape != current.shape:
            self._trust(current, median)
            return Verdict.OK
        diff = cv2.subtract(current, last)
        mad = float(cv2.mean(cv2.absdiff(current, last))[0])
        shift = float(cv2.mean(diff)[0])
        if mad < IDENTICAL_MAD:
            if self._same_since is None:
                self._same_since = at
            if self._lively and at - self._same_since >= self.frozen_s:
                return Verdict.FROZEN
            return Verdict.OK
        was_frozen = (
            self._lively and self._same_since is not None and at - self._same_since >= self.frozen_s
        )
        self._same_since = None
        if mad >= LIVELY_MAD:
            self._lively = True
        jump = abs(median - self._last_median) / max(self._last_median, 8.0)
        if jump > self.light_jump and abs(shift) > 0.5 * mad:
            self._trust(current, median)
            return Verdict.LIGHT_CHANGE
        if mad > NOISE_MAD and abs(shift) <= 0.5 * mad:
            self._noise_run += 1
            if self._noise_run < NOISE_FRAMES_TO_RESET:
                return Verdict.NOISE
            self._trust(current, median)
            return Verdict.RESET
        self._trust(current, median)
        return Verdict.RESET if was_frozen else Verdict.OK

    def _trust(self, current: np.ndarray, median: float) -> None:
        self._last, self._last_median, self._noise_run = current, median, 0
