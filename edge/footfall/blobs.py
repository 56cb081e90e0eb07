"""Foreground mask → blobs (area, centroid, box), and how many people a blob holds.

Two or three people walking side by side merge into one blob. Seen from above, one person's
blob is about 1.5x as wide (shoulders, along the line) as deep; two side by side about 3x,
three 4.4x — a ratio, so it needs no calibration of the camera's height. The depth is the
blob's typical extent across the line (80th percentile over its columns, first to last
pixel), not its bounding box: people side by side are a step ahead of each other, which
deepens the box but not each column (on the tuning scenes, frames whose blob was misjudged
fell from 30 % to 10 %, summed over one, two and three people). The bounding-box ratio
(the rule before) decides instead when the box is barely wider than deep, when the blob's
long axis leans from the line (someone walking at an angle; people abreast lean < 12°) or
when it is not elongated (moments): a single walker with a bag or a shadow attached must
not count twice. When the
installer gives one person's area (`person_area_px`, e.g. for a door-facing camera where the
shape says little), the blob's area divided by it is used instead. Over the shape, heads
(`edge.footfall.heads`, looked for in the frame when the caller passes it) raise the count:
two or three heads far apart are that many people, however JPEG ringing and shadows have
swollen the blob — pressed pairs the shape called one were most of the groups missed; and
one head in the middle of a blob the shape calls two is one person (a bag held out at the
side; of two people with one head seen, the head sits a quarter in). A
learned area was tried and dropped: low-contrast clothes leave partial blobs (a head) that
pull it down, and every whole person then counts as two or three.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from edge.footfall.heads import MIN_GAP_PX, look_for_heads

SHAPE_TWO = 2.05  # box width/depth (along/across the line) from which a blob is two people
SHAPE_THREE = 3.4
SPAN_TWO = 2.1  # span/thickness (along the line / typical column across it): two people
SPAN_THREE = 3.5  # ... three (tuned on the tuning presets, benchmarks/footfall_counter.py)
THICK_PERCENTILE = 80.0
BOX_ONE = 1.85  # a box less than this much wider than deep is one person, whatever its columns
# a blob whose long axis leans more than this from the line is one person (walking at an
# angle, or with their shadow attached in IR): people side by side lean < 12° (tuning: 99 %)
TILT_ONE = 15.0
# heads are looked for in this many of the largest blobs at most (~0.4 ms each on a desktop
# core): a doorway rarely shows more people apart, and a frame of many specks must not cost
# tens of ms in the door loop
HEADS_BLOBS = 8
# a blob the shape calls two with one head seen, sitting at least this far in along the
# line (0.5: the middle), is one person; of two people with one head seen it sits a quarter
# in (tuning frames: singles 0.30-0.50, median 0.45; pairs 0.20-0.41, median 0.25)
ONE_HEAD_MIDDLE = 0.36
ELONG_TWO = 2.1  # and less elongated than this (moments): one (tuning: 95 % of ones below 1.94)


@dataclass(frozen=True, slots=True)
class Blob:
    cx: float
    cy: float
    area: float
    box: tuple[int, int, int, int]  # x, y, w, h
    at_border: bool  # cut by the frame edge: its area says little about its size
    span: float = 0.0  # px along the line it covers (0: not measured, the box is used)
    thickness: float = 0.0  # its typical thickness across the line, px
    tilt: float = 0.0  # degrees between its long axis and the line
    elongation: float = 0.0  # long axis / short axis (second moments)
    heads: int = 0  # heads seen apart inside it (`edge.footfall.heads`; 0: none, or not looked)
    head_middle: float = 0.0  # where its clearest head sits along the line: 0.5 the middle


def find_blobs(
    mask: np.ndarray,
    min_area: float,
    along: tuple[float, float] = (1.0, 0.0),
    image: np.ndarray | None = None,
) -> list[Blob]:
    """Blobs of at least `min_area` px²; `along`: the line's direction, which decides whether
    a blob's span and thickness are measured over columns (a line nearer horizontal) or
    rows; `image` (the frame the mask came from, same size): count the heads in blobs wide
    enough to hold two people."""
    height, width = mask.shape[:2]
    # labelled within the box of what moved: labelling with stats costs ~0.5 ms on a whole
    # 320×240 mask with this OpenCV (5.1.0), a sixth of the counter, and people are a part
    ox, oy, ow, oh = cv2.boundingRect(mask)
    if ow == 0:
        return []
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(
        mask[oy : oy + oh, ox : ox + ow], connectivity=8
    )
    by_columns = abs(along[0]) >= abs(along[1])
    # the line's angle in the frame of the columns (or rows) the blob is measured over
    line_angle = math.degrees(
        math.atan2(along[1], along[0]) if by_columns else math.atan2(along[0], along[1])
    )
    blobs: list[Blob] = []
    wide: list[tuple[int, int, int]] = []  # (area, label, index in blobs) of blobs to look in
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])  # x, y: in the labelled box
        if area < min_area:
            continue
        mine = labels[y : y + h, x : x + w] == i
        x, y = x + ox, y + oy
        border = x <= 1 or y <= 1 or x + w >= width - 1 or y + h >= height - 1
        cx, cy = centroids[i][0] + ox, centroids[i][1] + oy
        if not by_columns:
            mine = mine.T
        filled = mine.any(axis=0)
        # each column's extent, first to last pixel (holes in low-contrast clothes filled)
        top = np.argmax(mine, axis=0)[filled]
        bottom = mine.shape[0] - np.argmax(mine[::-1], axis=0)[filled]
        profile = bottom - top
        thick = float(np.percentile(profile, THICK_PERCENTILE))
        m = cv2.moments(mine.view(np.uint8), True)
        axis = 0.5 * math.degrees(math.atan2(2.0 * m["mu11"], m["mu20"] - m["mu02"]))
        tilt = abs(axis - line_angle) % 180.0
        tilt = min(tilt, 180.0 - tilt)
        spread = math.hypot(2.0 * m["mu11"], m["mu20"] - m["mu02"])
        elong = math.sqrt(
            (m["mu20"] + m["mu02"] + spread) / max(1e-6, m["mu20"] + m["mu02"] - spread)
        )
        box = (x, y, w, h)
        blob = Blob(
            float(cx), float(cy), float(area), box, border, len(profile), thick, tilt, elong
        )
        if not border and len(profile) >= MIN_GAP_PX + 4.0:
            wide.append((area, i, len(blobs)))
        blobs.append(blob)
    if image is not None:
        for _, i, k in sorted(wide, reverse=True)[:HEADS_BLOBS]:
            x, y, w, h = blobs[k].box
            own = labels[y - oy : y - oy + h, x - ox : x - ox + w] == i
            heads, middle = look_for_heads(image, own, blobs[k].box, by_columns, blobs[k].thickness)
            blobs[k] = replace(blobs[k], heads=heads, head_middle=middle)
    return blobs


class PersonSize:
    """How many people a blob holds: by its shape, or by one person's configured area."""

    def __init__(self, area: float | None = None) -> None:
        self.area = area

    def people(self, blob: Blob, along: tuple[float, float], most: int) -> int:
        """`along`: unit vector along the counting line. Area: 1.6x one person is two, 2.6x
        three. Shape: span over column extent where the blob was measured and looks like
        people abreast, else width along the line over depth across it (box projected);
        then at least as many as the heads seen apart in it, when two or more."""
        if self.area is not None:
            return max(1, min(most, math.floor(blob.area / self.area + 0.4)))
        _, _, w, h = blob.box
        ux, uy = abs(along[0]), abs(along[1])
        ratio = (w * ux + h * uy) / max(1.0, w * uy + h * ux)
        if (
            blob.span > 0
            and ratio >= BOX_ONE
            and blob.tilt <= TILT_ONE
            and blob.elongation >= ELONG_TWO
        ):
            span = blob.span / max(1.0, blob.thickness)
            n = 1 if span < SPAN_TWO else 2 if span < SPAN_THREE else 3
        else:
            n = 1 if ratio < SHAPE_TWO else 2 if ratio < SHAPE_THREE else 3
        if blob.heads >= 2:  # heads seen apart: pressed people the halo made one shape
            n = max(n, blob.heads)
        elif n == 2 and blob.heads == 1 and blob.head_middle >= ONE_HEAD_MIDDLE:
            n = 1  # one head, in the middle: one person, widened by a bag or the halo
        return min(most, n)
