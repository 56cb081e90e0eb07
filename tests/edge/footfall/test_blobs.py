"""Blobs and how many people one holds: side by side people split by the blob's span over
its column extent, a person walking at an angle or with a backpack stays one, and the older
bounding-box rule still serves blobs without a measured span."""

from __future__ import annotations

import cv2
import numpy as np

from edge.footfall.blobs import Blob, PersonSize, find_blobs

ALONG = (1.0, 0.0)  # a horizontal counting line


def people_in(*ellipses: tuple[tuple[int, int], tuple[int, int], float]) -> int:
    mask = np.zeros((240, 320), np.uint8)
    for centre, axes, angle in ellipses:
        cv2.ellipse(mask, centre, axes, angle, 0, 360, 255, -1)
    blobs = find_blobs(mask, 80.0, ALONG)
    assert len(blobs) == 1
    return PersonSize().people(blobs[0], ALONG, 5)


def test_one_person_seen_from_above_is_one() -> None:
    assert people_in(((160, 120), (14, 8), 0.0)) == 1
    assert people_in(((160, 120), (9, 5), 0.0)) == 1  # a child under a high camera
    assert people_in(((160, 120), (14, 8), 30.0)) == 1  # walking at an angle


def test_two_and_three_abreast_a_step_apart() -> None:
    two = (((146, 118), (14, 8), 0.0), ((172, 124), (14, 8), 0.0))
    assert people_in(*two) == 2
    three = (((132, 116), (14, 8), 0.0), ((158, 123), (14, 8), 0.0), ((184, 118), (14, 8), 0.0))
    assert people_in(*three) == 3
    pressed = (((150, 120), (14, 8), 0.0), ((172, 120), (14, 8), 0.0))  # shoulders overlap
    assert people_in(*pressed) == 2


def test_a_backpack_or_a_leaning_blob_is_not_a_second_person() -> None:
    backpack = (((160, 120), (14, 8), 0.0), ((160, 129), (7, 5), 0.0))
    assert people_in(*backpack) == 1
    leaning = (((150, 114), (14, 8), 25.0), ((168, 126), (14, 8), 25.0))  # one behind another
    assert people_in(*leaning) == 1


def test_blob_measures_and_border() -> None:
    mask = np.zeros((60, 80), np.uint8)
    mask[20:30, 10:40] = 255  # 30 wide, 10 deep
    mask[0:12, 60:70] = 255  # cut by the top edge
    mask[50:53, 2:5] = 255  # a speck
    blobs = sorted(find_blobs(mask, 20.0), key=lambda b: b.cx)
    assert len(blobs) == 2
    a, b = blobs
    assert (a.span, a.thickness, a.at_border) == (30, 10.0, False)
    assert a.tilt < 1.0
    assert a.elongation > 2.5
    assert b.at_border
    rows = find_blobs(mask, 20.0, (0.0, 1.0))  # a vertical line: measured over rows
    assert sorted((r.span, r.thickness) for r in rows)[0] == (10, 30.0)


def test_box_rule_for_blobs_without_a_span() -> None:
    size = PersonSize()
    assert size.people(Blob(0, 0, 400, (0, 0, 28, 17), False), ALONG, 5) == 1
    assert size.people(Blob(0, 0, 800, (0, 0, 56, 20), False), ALONG, 5) == 2
    assert size.people(Blob(0, 0, 800, (0, 0, 84, 20), False), ALONG, 2) == 2  # capped
    assert PersonSize(area=400.0).people(Blob(0, 0, 1300, (0, 0, 60, 40), False), ALONG, 5) == 3
