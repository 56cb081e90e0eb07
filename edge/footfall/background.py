"""Foreground of a frame: gain-normalised MOG2 with shadows dropped (colour), then morphology.

Colour is kept (when the camera gives it): MOG2 tells a shadow from a person by chroma as
well as brightness, and a blue vest is as bright as a grey floor in grey. A shadow is a
pixel darkened to between `shadow_threshold` (0.5: a very low lamp darkens the floor by up
to half, 0.6 left those shadows as people; 0.45 and 0.4 were no better on the tuning
scenes, 0.55 kept them) and 1x the background with the background's chroma. Why gain
normalisation: day → night and auto-exposure change the whole frame's
brightness; scaling every frame to one target median keeps the background model on the
floor's pattern instead of chasing the sun (and a lamp or IR switch that only changes the
gain disappears). What scaling cannot undo is the caller's business: it passes a high
learning rate for a while after a sudden change.
"""

from __future__ import annotations

import cv2
import numpy as np

SHADOW = 127  # MOG2 marks shadow pixels 127, foreground 255
TARGET_MEDIAN = 128.0
MAX_GAIN = 8.0


class Foreground:
    def __init__(
        self,
        *,
        history: int = 900,
        var_threshold: float = 16.0,
        shadow_threshold: float = 0.5,
    ) -> None:
        self.history = history
        self.var_threshold = var_threshold
        self.shadow_threshold = shadow_threshold
        self._open = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self._close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
        self.reset()

    def reset(self) -> None:
        """Forget the background (a new camera, a new frame size)."""
        self._model = cv2.createBackgroundSubtractorMOG2(
            history=self.history, varThreshold=self.var_threshold, detectShadows=True
        )
        self._model.setShadowThreshold(self.shadow_threshold)
        self._model.setShadowValue(SHADOW)
        self.gain = 1.0

    def normalise(self, image: np.ndarray, median: float) -> np.ndarray:
        """`image` scaled so its median is `TARGET_MEDIAN` (gain clamped to 1/8..8)."""
        self.gain = min(MAX_GAIN, max(1.0 / MAX_GAIN, TARGET_MEDIAN / max(median, 1.0)))
        if abs(self.gain - 1.0) < 0.01:
            return image
        return cv2.convertScaleAbs(image, alpha=self.gain)

    def apply(
        self, image: np.ndarray, learning_rate: float = -1.0, *, mono: bool = False
    ) -> np.ndarray:
        """Binary mask (0/255) of moving things, shadows removed, specks opened, holes closed.

        `mono` (an IR or grey camera): without chroma, clothes darker than the floor look
        exactly like a shadow to MOG2 (a dark-grey person became one "shadow" and was never
        seen), so MOG2's shadow label is not used: every changed pixel is foreground, and a
        shadow attached to someone is left to the blob rules (`edge.footfall.blobs`: a blob
        leaning from the line is one person). Tried on the tuning presets: keeping only the
        "shadow" pixels next to real foreground (the rule before) missed 9 and added 3
        of 176 IR crossings, this misses 3 and adds 1; on IR with long shadows (×2.5):
        7 missed, 0 extra before against 2 and 2."""
        raw = self._model.apply(image, learningRate=learning_rate)
        floor = SHADOW - 1 if mono else SHADOW + 1
        _, mask = cv2.threshold(raw, floor, 255, cv2.THRESH_BINARY)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._open)
        return cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._close)
