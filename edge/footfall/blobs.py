"""Foreground mask → blobs (area, centroid, box), and how many people a blob holds.

Two or three people walking side by side merge into one blob. Seen from above, one person's
blob is about 1.5x as wide (shoulders, along the line) as deep; two side by side 2.4-3.3x,
three 3.5x or more — a ratio, so it needs no calibration of the camera's height. When the
installer gives one person's area (`person_area_px`, e.g. for a door-facing camera where the
shape says little), the blob's area divided by it is used instead. A learned area was tried
and dropped: low-contrast clothes leave partial blobs (a head) that pull it down, and every
whole person then counts as two or three.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

SHAPE_TWO = 2.05  # width/depth (along/across the line) from which a blob is two people
SHAPE_THREE = 3.4


@dataclass(frozen=True, slots=True)
class Blob:
    cx: float
    cy: float
    area: float
    box: tuple[int, int, int, int]  # x, y, w, h
    at_border: bool  # cut by the frame edge: its area says little about its size


def find_blobs(mask: np.ndarray, min_area: float) -> list[Blob]:
    height, width = mask.shape[:2]
    n, _, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    blobs: list[Blob] = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if area < min_area:
            continue
        border = x <= 1 or y <= 1 or x + w >= width - 1 or y + h >= height - 1
        cx, cy = centroids[i]
        blobs.append(Blob(float(cx), float(cy), float(area), (x, y, w, h), border))
    return blobs


class PersonSize:
    """How many people a blob holds: by its shape, or by one person's configured area."""

    def __init__(self, area: float | None = None) -> None:
        self.area = area

    def people(self, blob: Blob, along: tuple[float, float], most: int) -> int:
        """`along`: unit vector along the counting line. Area: 1.6x one person is two, 2.6x
        three. Shape: width along the line over depth across it (box projected)."""
        if self.area is not None:
            return max(1, min(most, math.floor(blob.area / self.area + 0.4)))
        _, _, w, h = blob.box
        ux, uy = abs(along[0]), abs(along[1])
        ratio = (w * ux + h * uy) / max(1.0, w * uy + h * ux)
        return min(most, 1 if ratio < SHAPE_TWO else 2 if ratio < SHAPE_THREE else 3)
