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
learning rate for a while after a sudden change. One exception to "a shadow is dropped":
shadow ringing a part too small to be a blob (a head) is that person's grey clothes
(`Foreground._clothes_around_parts`).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

SHADOW = 127  # MOG2 marks shadow pixels 127, foreground 255
TARGET_MEDIAN = 128.0
MAX_GAIN = 8.0
# a part too small to be a blob that sits in "shadow" (clothes a little darker than the
# floor, in its chroma, around a head): its surroundings are the person, not a shadow
PART_MIN_PX = 8  # smaller parts are sensor specks (processing px²)
PART_RING_PX = 2  # the ring around a part that is looked at
PART_RING_SHADOW = 0.6  # share of that ring MOG2 calls shadow: a cast shadow is beside
PART_REACH = 3.0  # "shadow" within this many of the part's radii is the person
PARTS_LOOKED_AT = 16  # at most, per frame (the door loop calls this)


class Foreground:
    def __init__(
        self,
        *,
        history: int = 900,
        var_threshold: float = 16.0,
        shadow_threshold: float = 0.5,
        min_area_px: float = 60.0,
    ) -> None:
        self.history = history
        self.var_threshold = var_threshold
        self.shadow_threshold = shadow_threshold
        self.min_area_px = min_area_px  # the counter's smallest blob (processing px²)
        self._open = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self._close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
        size = 2 * PART_RING_PX + 1
        self._ring = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
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
        opened = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._open)
        if not mono and self._clothes_around_parts(raw, mask, opened):
            opened = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._open)
        return cv2.morphologyEx(opened, cv2.MORPH_CLOSE, self._close)

    def _clothes_around_parts(self, raw: np.ndarray, mask: np.ndarray, strict: np.ndarray) -> bool:
        """Colour frames: "shadow" around a part too small to be a blob is that person's
        clothes (`mask`, before the opening, is updated in place; `strict` is it opened;
        True when something was added). Small people in clothes a little darker than the
        floor, in its chroma, are a shadow to MOG2 but for their head: the head alone is
        under `min_area_px` and they were never counted (each singles miss looked at under
        a far camera: tune-singles-far, held-singles-far seeds 927 and 929). A cast shadow
        lies beside its person, so the part must be ringed by shadow (`PART_RING_SHADOW`),
        and only shadow within `PART_REACH` radii of it is taken; a part already a blob is
        left alone (restoring shadow around whole people merged pressed groups with their
        shadows: tuning groups 21 → 31 errors)."""
        # only where there is shadow (and a part's width around it): labelling the whole
        # frame cost ~0.5 ms, a sixth of the counter
        is_shadow = cv2.compare(raw, SHADOW, cv2.CMP_EQ)
        sx, sy, sw, sh = cv2.boundingRect(is_shadow)
        if sw == 0:
            return False
        height, width = mask.shape
        pad = PART_RING_PX + math.ceil(math.sqrt(self.min_area_px))
        cx0, cy0 = max(0, sx - pad), max(0, sy - pad)
        cx1, cy1 = min(width, sx + sw + pad), min(height, sy + sh + pad)
        crop = strict[cy0:cy1, cx0:cx1]
        if not crop.any():
            return False
        _, labels, stats, _ = cv2.connectedComponentsWithStats(crop, connectivity=8)
        areas = stats[1:, cv2.CC_STAT_AREA]
        parts = 1 + np.flatnonzero((areas >= PART_MIN_PX) & (areas < self.min_area_px))
        shadow = is_shadow[cy0:cy1, cx0:cx1] > 0
        ch, cw = crop.shape
        added = False
        for i in parts[:PARTS_LOOKED_AT]:
            x, y, w, h, area = (int(v) for v in stats[i])
            if (
                (x == 0 < cx0)
                or (y == 0 < cy0)
                or (x + w == cw and cx1 < width)
                or (y + h == ch and cy1 < height)
            ):
                continue  # cut by the crop: its size is not known
            reach = max(PART_RING_PX, round(PART_REACH * math.sqrt(area / math.pi)))
            x0, y0 = max(0, x - reach), max(0, y - reach)
            x1, y1 = min(cw, x + w + reach), min(ch, y + h + reach)
            part = (labels[y0:y1, x0:x1] == i).astype(np.uint8)
            around = shadow[y0:y1, x0:x1]
            ring = (cv2.dilate(part, self._ring) > 0) & (crop[y0:y1, x0:x1] == 0)
            if np.count_nonzero(ring & around) < PART_RING_SHADOW * max(1, np.count_nonzero(ring)):
                continue
            size = 2 * reach + 1
            disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
            grown = (cv2.dilate(part, disc) > 0) & around
            mask[cy0 + y0 : cy0 + y1, cx0 + x0 : cx0 + x1][grown] = 255
            added = True
        return added
