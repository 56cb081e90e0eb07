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
evidence flickers. Colour is proven by one frame (an IR frame is never coloured), but a
colour frame can look grey: a neutral floor with nobody coloured in view, under heavy JPEG,
reads exactly grey in some frames and barely coloured in the next (every benchmark preset
played with seeds 905–912: judged per frame, 3,150 of 84,708 frames wrong, nearly all on
seed 912's floor, with colour frames as short as one between grey ones).
So the mode turns colour on the first colour frame, and monochrome only when frames have
looked grey for `MONO_HOLD_S` — or at once after a light change (switching to IR is one:
the guard reports it) and on the first frame. Wrong frames on seeds 905–912: 15 (the first
frames of scenes that start grey), none of them IR; requiring two colour frames: 189.
"""

from __future__ import annotations

import cv2
import numpy as np

MONO_MEAN_DIFF = 1.5  # mean |B - G| and |R - G| below this (grey levels): monochrome evidence
MONO_HOLD_S = 5.0  # frames looking grey this long (s) turn a colour mode monochrome


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
    """The camera's mode as a state: colour from the first colour frame, monochrome once
    frames have looked grey for `hold_s` seconds (at once on the first frame and after
    `relearn()`)."""

    def __init__(self, hold_s: float = MONO_HOLD_S) -> None:
        self.hold_s = hold_s
        self.monochrome: bool | None = None  # None until the first frame
        self._grey_since: float | None = None  # start of the grey run, while in colour mode

    def observe(self, grey: bool, at: float) -> bool:
        """The mode after a frame at `at` (monotonic s) that looks monochrome (`grey`)."""
        if self.monochrome is None or not grey:
            self.monochrome, self._grey_since = grey, None
        elif not self.monochrome:
            if self._grey_since is None:
                self._grey_since = at
            elif at - self._grey_since >= self.hold_s:
                self.monochrome, self._grey_since = True, None
        return self.monochrome

    def relearn(self) -> None:
        """The light changed (or the scene did): the next frame's evidence decides at once."""
        self.monochrome, self._grey_since = None, None
