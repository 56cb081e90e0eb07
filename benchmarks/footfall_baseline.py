"""A textbook MOG2 + centroid people counter: the baseline the station's counter must beat.

What a 60-line tutorial counter does: MOG2 with shadows marked and dropped, an opening and
a closing, external contours above a minimum area, their centroids matched to the last
frame's nearest-first within a distance, and a count whenever a track's centroid changes
side of the line (once per track and direction). One blob is one person. Kept in the
benchmarks, not in the library: it exists to be measured against.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

# px² at 320×240: smaller contours are noise (150 missed 1 walker in 8 on the tuning singles:
# low-contrast people come apart)
MIN_AREA = 60.0
MAX_JUMP = 50.0  # px a centroid may move between frames
MAX_MISSED = 5  # frames a track may go unseen


class CentroidCounter:
    def __init__(self, line_y: float, width: int = 320) -> None:
        self.line_y = line_y
        self.width = width
        self.mog = cv2.createBackgroundSubtractorMOG2(history=500, detectShadows=True)
        self.kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
        self.tracks: dict[int, list] = {}  # id → [x, y, missed, counted directions]
        self.next_id = 0

    def process(self, frame: np.ndarray) -> list[int]:
        """+1 for each entry (downwards across the line), -1 for each exit, this frame."""
        scale = self.width / frame.shape[1]
        if scale < 1.0:
            frame = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        mask = self.mog.apply(frame)
        _, mask = cv2.threshold(mask, 200, 255, cv2.THRESH_BINARY)  # shadows (127) out
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self.kernel)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self.kernel, iterations=2)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        points = []
        for c in contours:
            if cv2.contourArea(c) >= MIN_AREA:
                m = cv2.moments(c)
                points.append((m["m10"] / m["m00"], m["m01"] / m["m00"]))
        pairs = sorted(
            (math.hypot(px - t[0], py - t[1]), tid, i)
            for tid, t in self.tracks.items()
            for i, (px, py) in enumerate(points)
        )
        seen: set[int] = set()
        used: set[int] = set()
        events: list[int] = []
        line = self.line_y * scale if scale < 1.0 else self.line_y
        for d, tid, i in pairs:
            if d > MAX_JUMP or tid in seen or i in used:
                continue
            seen.add(tid)
            used.add(i)
            t = self.tracks[tid]
            x, y = points[i]
            direction = 1 if t[1] < line <= y else -1 if t[1] >= line > y else 0
            if direction and direction not in t[3]:
                t[3].add(direction)
                events.append(direction)
            t[0], t[1], t[2] = x, y, 0
        for tid in list(self.tracks):
            if tid not in seen:
                self.tracks[tid][2] += 1
                if self.tracks[tid][2] > MAX_MISSED:
                    del self.tracks[tid]
        for i, (x, y) in enumerate(points):
            if i not in used:
                self.tracks[self.next_id] = [x, y, 0, set()]
                self.next_id += 1
        return events
