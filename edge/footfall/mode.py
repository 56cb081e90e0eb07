"""`CameraMode`: is the camera in its monochrome (IR night) mode, decided as a state.

Why it matters: in a monochrome frame MOG2's shadow test has no chroma to go on, so clothes
darker than the floor look exactly like a shadow (`edge.footfall.background.Foreground.apply`
counts every changed pixel there instead). Calling a colour frame monochrome lets shadows
into the foreground; calling an IR frame colour loses dark-clothed people.

Evidence per frame: an IR camera's frame is grey — its B, G and R equal to the rounding of
its YUV conversion, JPEG or not — while a colour sensor's frame differs in at least one pair
of channels, from a floor's tint, from what people wear, and from its own per-channel noise.
So a frame is monochrome evidence when both B and R are within `MONO_MEAN_DIFF` of G on
average. (The test before this compared B with R only: a grey floor with a green or magenta
cast, B ≈ R, was judged IR in 3,676 of the 26,150 colour frames of the benchmark's tuning
and held-out scenes, up to 73 % of one scene's frames; with G in the test, in none, and each
of their 9,359 IR frames is still monochrome.)

Why a state: a camera's mode lasts hours and changes with the light, while a frame's
evidence can flicker — a neutral grey floor with nobody coloured in view is near the line
(the lowest colour frames seen: 1.64 grey levels against 1.5). The mode follows the evidence
at once on the first frame and after a light change (switching to IR is one: the guard
reports it), and otherwise only when the other evidence has lasted `HOLD_S`.
"""

from __future__ import annotations

import cv2
import numpy as np

MONO_MEAN_DIFF = 1.5  # mean |B - G| and |R - G| below this (grey levels): monochrome evidence
HOLD_S = 2.0  # evidence for the other mode must last this long, between light changes


def looks_monochrome(small: np.ndarray) -> bool:
    """One frame's evidence (`small`: a BGR frame, any size; a 1/4 copy is plenty)."""
    pixels = small.shape[0] * small.shape[1]
    limit = MONO_MEAN_DIFF * pixels
    green = small[:, :, 1]
    return bool(
        cv2.norm(small[:, :, 0], green, cv2.NORM_L1) < limit
        and cv2.norm(small[:, :, 2], green, cv2.NORM_L1) < limit
    )


class CameraMode:
    """The camera's mode as a state: `monochrome` follows each frame's evidence only after
    it has held for `hold_s` seconds, except at the first frame and after `relearn()`."""

    def __init__(self, hold_s: float = HOLD_S) -> None:
        self.hold_s = hold_s
        self.monochrome: bool | None = None  # None until the first frame
        self._other_since: float | None = None  # when the evidence last turned against the state

    def observe(self, evidence: bool, at: float) -> bool:
        """The mode after a frame at `at` (monotonic s) whose evidence is `evidence`
        (True: monochrome)."""
        if self.monochrome is None or evidence == self.monochrome:
            self.monochrome, self._other_since = evidence, None
        elif self._other_since is None:
            self._other_since = at
        elif at - self._other_since >= self.hold_s:
            self.monochrome, self._other_since = evidence, None
        return self.monochrome

    def relearn(self) -> None:
        """The light changed (or the scene did): the next frame's evidence decides at once."""
        self.monochrome, self._other_since = None, None
