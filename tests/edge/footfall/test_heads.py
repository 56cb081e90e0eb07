"""Heads as per-person evidence: two people pressed together whose blob the halo made one
shape are two by their heads; one person — large, with a bag, under an umbrella — is never
two; and the counter, on pressed pairs under a taller camera with JPEG, misses fewer."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.footfall import camera
from edge.footfall.blobs import HEADS_BLOBS, PersonSize, find_blobs
from edge.footfall.geometry import CountingConfig
from edge.footfall.heads import look_for_heads
from edge.footfall.video import crossings_of
from firmware_sim.overhead import Scene, Variation, make_scene, score

ALONG = (1.0, 0.0)
FLOOR = (128, 134, 136)  # BGR, a grey tiled floor
Person = tuple[tuple[int, int], float, tuple[int, int, int], tuple[int, int, int]]


def draw(
    *people: Person,
    bag: tuple[int, int] | None = None,
    halo: int = 5,
    bag_axes: tuple[int, int] = (6, 8),
    bag_colour: tuple[int, int, int] = (40, 90, 160),
) -> tuple[np.ndarray, np.ndarray]:
    """(frame, foreground mask) of people seen from above: (centre, size, clothes, head), and
    a bag at `bag`. The mask is the people grown by `halo` px all round, as JPEG ringing
    grows it."""
    rng = np.random.default_rng(1)
    frame = np.empty((240, 320, 3), np.uint8)
    frame[:] = FLOOR
    frame = cv2.add(frame, rng.integers(0, 6, frame.shape, dtype=np.uint8))
    mask = np.zeros((240, 320), np.uint8)
    if bag is not None:
        cv2.ellipse(frame, bag, bag_axes, 0, 0, 360, bag_colour, -1, cv2.LINE_AA)
        cv2.ellipse(mask, bag, bag_axes, 0, 0, 360, 255, -1)
    for centre, size, clothes, head in people:
        axes = (round(14 * size), round(8.5 * size))
        cv2.ellipse(frame, centre, axes, 0, 0, 360, clothes, -1, cv2.LINE_AA)
        cv2.circle(frame, centre, round(6 * size), head, -1, cv2.LINE_AA)
        cv2.ellipse(mask, centre, axes, 0, 0, 360, 255, -1)
    if halo:
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * halo + 1,) * 2))
    return cv2.GaussianBlur(frame, (3, 3), 0), mask


def count(scene: Scene) -> list[tuple[float, int, int]]:
    config = CountingConfig(line=scene.line, inside=scene.inside)
    return crossings_of(config, zip(scene.times(), scene.frames(), strict=True))


def judged(frame: np.ndarray, mask: np.ndarray, *, heads: bool = True) -> tuple[int, int]:
    """(people the counter sees in the one blob, heads found in it)."""
    blobs = find_blobs(mask, 60.0, ALONG, frame if heads else None)
    assert len(blobs) == 1
    return PersonSize().people(blobs[0], ALONG, 5), blobs[0].heads


ORANGE, YELLOW, BLUE, DARK = (0, 120, 255), (0, 200, 255), (230, 140, 20), (40, 40, 45)
HAIR, HELMET, WHITE = (25, 25, 30), (0, 210, 240), (235, 235, 235)


def test_a_pressed_pair_the_halo_made_one_shape_is_two_by_its_heads() -> None:
    # two small people under a tall camera, shoulders overlapping 3 px, mask grown by 7 px
    pair = (((150, 120), 0.75, ORANGE, HAIR), ((168, 121), 0.75, BLUE, WHITE))
    frame, mask = draw(*pair, halo=7)
    assert judged(frame, mask, heads=False) == (1, 0)  # the shape alone: one
    assert judged(frame, mask) == (2, 2)


def test_a_companion_whose_head_is_faint_against_their_coat_is_found_beside_a_clear_one() -> None:
    # a grey head on a grey coat answers under the first head's threshold; beside a clear head
    # (dark hair on orange), far enough from it, it is the second person (the rule before: one)
    pair = (((150, 120), 0.75, ORANGE, HAIR), ((168, 121), 0.75, (90, 90, 95), (60, 60, 65)))
    frame, mask = draw(*pair, halo=7)
    assert judged(frame, mask, heads=False) == (1, 0)
    assert judged(frame, mask) == (2, 2)
    # alone, the same faint head is no head: a second one needs a clear first
    alone = draw(((168, 121), 0.75, (90, 90, 95), (60, 60, 65)), halo=7)
    assert judged(*alone) == (1, 0)


def test_three_pressed_abreast_show_three_heads() -> None:
    three = (
        ((140, 120), 0.8, YELLOW, HAIR),
        ((160, 118), 0.8, DARK, HELMET),
        ((180, 121), 0.8, ORANGE, HAIR),
    )
    frame, mask = draw(*three)
    assert judged(frame, mask)[1] == 3


def test_a_grey_frame_shows_the_heads_as_its_three_channel_copy_does() -> None:
    pair = (((150, 120), 0.8, BLUE, HAIR), ((171, 120), 0.8, ORANGE, WHITE))
    frame, mask = draw(*pair, halo=7)
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    assert judged(grey, mask) == (2, 2)  # a monochrome camera
    assert judged(cv2.merge([grey, grey, grey]), mask) == (2, 2)  # IR mode of a colour one


@pytest.mark.parametrize(
    ("what", "people", "bag"),
    [
        ("a large adult under a low camera", (((160, 120), 1.8, YELLOW, HAIR),), None),
        ("a child", (((160, 120), 0.55, BLUE, HELMET),), None),
        ("a bag beside someone", (((155, 120), 1.0, DARK, WHITE),), (172, 122)),
        ("a large adult with a bag", (((150, 120), 1.5, ORANGE, HAIR),), (176, 122)),
    ],
)
def test_one_person_is_never_two_heads(
    what: str, people: tuple[Person, ...], bag: tuple[int, int] | None
) -> None:
    frame, mask = draw(*people, bag=bag, halo=2)
    assert judged(frame, mask)[1] <= 1, what


@pytest.mark.parametrize("size", [1.3, 1.5, 1.8])
@pytest.mark.parametrize("bag", [(69, 36, 29), (39, 28, 87)])
def test_a_dark_bag_beside_a_large_adult_is_no_faint_second_head(
    size: float, bag: tuple[int, int, int]
) -> None:
    # under a low camera the bag is large and dark: it answers like a faint head, beside a
    # clear one and far enough from it; but nothing of the blob lies beyond it
    centre = (150, 120)
    axes = (round(5 * size), round(7 * size))
    for clothes, head in ((ORANGE, HAIR), (YELLOW, HAIR), ((150, 150, 150), HELMET)):
        person = (centre, size, clothes, head)
        at = (centre[0] + round(15 * size), 122)
        frame, mask = draw(person, bag=at, halo=3, bag_axes=axes, bag_colour=bag)
        assert judged(frame, mask) == (1, 1), (clothes, head)


@pytest.mark.parametrize("size", [1.0, 1.2])
def test_one_head_in_the_middle_of_a_blob_the_shape_calls_two_is_one_person(size: float) -> None:
    # a bag held out at the side widens the blob until its shape says two; the one head sits
    # in the middle of it (0.38 in), as no pair's one visible head does
    centre = (150, 120)
    bag = (centre[0] + round(19 * size), 121)
    axes = (round(5 * size), round(7 * size))
    frame, mask = draw((centre, size, ORANGE, HAIR), bag=bag, halo=2, bag_axes=axes)
    assert judged(frame, mask, heads=False) == (2, 0)
    assert judged(frame, mask) == (1, 1)


def test_a_pair_showing_one_head_a_quarter_in_stays_two() -> None:
    # the companion's head is the colour of their coat: one head, a quarter in along the blob
    pair = (((150, 120), 0.8, ORANGE, HAIR), ((170, 121), 0.8, BLUE, BLUE))
    frame, mask = draw(*pair, halo=3)
    assert judged(frame, mask, heads=False) == (2, 0)
    assert judged(frame, mask) == (2, 1)


def test_an_umbrella_is_one() -> None:
    frame, mask = draw(((160, 120), 1.0, DARK, HAIR), halo=2)
    cv2.circle(frame, (160, 120), 22, (60, 60, 200), -1, cv2.LINE_AA)  # the umbrella's disc
    cv2.circle(frame, (160, 120), 3, (30, 30, 30), -1, cv2.LINE_AA)  # and its tip
    cv2.circle(mask, (160, 120), 24, 255, -1)
    assert judged(frame, mask)[1] <= 1


def test_heads_are_looked_for_only_in_blobs_wide_enough_for_two() -> None:
    frame, mask = draw(((160, 120), 0.5, YELLOW, HAIR), halo=0)  # 14 px wide
    assert judged(frame, mask) == (1, 0)
    blob = np.zeros((20, 20), bool)
    assert look_for_heads(frame, blob, (150, 110, 20, 20))[0] == 0  # an empty mask: nothing


def test_the_counter_counts_pressed_pairs_under_a_taller_camera_with_jpeg(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pairs only, shoulders pressed (−3…−1 px), a taller camera (0.8×), JPEG q50–70: the
    scenes of the tuning preset tune-groups-high, narrowed to the case heads are for."""
    look = Variation(
        size=(0.7, 1.1), zoom=0.8, group_gap=(-3.0, -1.0), three_share=0.0,
        jpeg=(50.0, 70.0), shadow_len=2.0,
    )  # fmt: skip
    scenes = [make_scene("groups", seed, events=10, variation=look) for seed in (0, 5)]

    def errors() -> int:
        total = 0
        for scene in scenes:
            total += sum(
                s.missed + s.extra for s in score(scene.crossings(), count(scene)).values()
            )
        return total

    truth = sum(len(scene.crossings()) for scene in scenes)
    with_heads = errors()
    shape_only = camera.find_blobs
    monkeypatch.setattr(camera, "find_blobs", lambda m, a, al, image=None: shape_only(m, a, al))
    without = errors()
    assert with_heads <= 3, f"{with_heads} errors in {truth} crossings"
    assert without >= with_heads + 5, (without, with_heads)


def test_heads_are_counted_in_the_largest_blobs_only() -> None:
    """A frame of many wide blobs (specks, leaves, a crowd beyond the door) costs at most
    `HEADS_BLOBS` head searches: the largest blobs get them, the rest keep their shape."""
    pairs = []
    for k in range(HEADS_BLOBS + 2):
        size = 1.0 - 0.03 * k  # each pair a little smaller than the one before
        cx, cy = 40 + 70 * (k % 4), 30 + 60 * (k // 4)
        pairs += [((cx - 12, cy), size, ORANGE, HAIR), ((cx + 12, cy), size, BLUE, WHITE)]
    frame, mask = draw(*pairs, halo=2)
    blobs = sorted(find_blobs(mask, 60.0, ALONG, frame), key=lambda b: b.area, reverse=True)
    assert len(blobs) == HEADS_BLOBS + 2
    assert [b.heads for b in blobs] == [2] * HEADS_BLOBS + [0, 0]


def _filmed(people: list, at: float) -> tuple[np.ndarray, np.ndarray]:
    """(frame, foreground mask) of `people` (`firmware_sim.overhead3d_people.Body`) at time
    `at`, filmed by a Raspberry Pi camera's lens (62° wide) 2.8 m over a lit floor: an adult
    is ~70 px wide at 320 px, 2.5× the people the counter was tuned on."""
    from firmware_sim.overhead3d import Camera, Light
    from firmware_sim.overhead3d import Scene as Scene3d

    cam = Camera((320, 240), 2.8, 62.0, 0.0, 0.0)
    lamp = [(0.0, Light("lamp", lamp=(0.3, -0.6, 2.7), shadow=0.0))]
    shot = Scene3d("pi", 1, cam, people, lamp, (0.45, 0.5, 0.55), 1.5, None, at + 0.1)
    empty = Scene3d("pi", 1, cam, [], lamp, (0.45, 0.5, 0.55), 1.5, None, at + 0.1)
    frame = list(shot.frames())[-1]
    floor = list(empty.frames())[-1]
    diff = cv2.absdiff(frame, floor).max(axis=2)
    mask = cv2.morphologyEx((diff > 25).astype(np.uint8) * 255, cv2.MORPH_CLOSE, np.ones((5, 5)))
    return frame, mask


def _walker(x: float, look: tuple, height: float = 1.8, lag: float = 0.0):
    from firmware_sim.overhead3d_people import Body, Look

    top, hair = look
    keys = [(lag, x, -2.0), (lag + 4.0 / 1.2, x, 2.0)]
    return Body(keys, height, 0.48, Look(top, (0.1, 0.1, 0.12), hair, (0.5, 0.4, 0.7)), 0.8, 0.3)


def _people_at_the_line(people: list) -> list[int]:
    out = []
    for at in np.arange(1.2, 2.1, 0.1):  # they cross the line at 1.67 s
        frame, mask = _filmed(people, float(at))
        blobs = [b for b in find_blobs(mask, 60.0, ALONG, frame) if b.area > 600]
        out.append(sum(PersonSize().people(b, ALONG, 5) for b in blobs))
    return out


def test_a_large_adult_under_a_pi_cameras_lens_is_one_though_hands_look_like_heads() -> None:
    """Their hands, swinging at the ends of their shoulders, are discs of the size the
    detector's figures give a head; looked at in the blob's own scale, and with nothing of
    the blob beyond them, they are hands. Before: six of these nine frames said three."""
    coat, hair = (0.15, 0.55, 0.85), (0.05, 0.05, 0.08)
    seen = _people_at_the_line([_walker(0.0, (coat, hair))])
    assert seen.count(1) >= 7, seen


def test_the_counter_counts_a_large_adult_walking_in_once() -> None:
    from firmware_sim.overhead3d import Camera, Light
    from firmware_sim.overhead3d import Scene as Scene3d

    walker = _walker(0.0, ((0.15, 0.55, 0.85), (0.05, 0.05, 0.08)))
    cam = Camera((320, 240), 2.8, 62.0, 0.0, 0.0)
    lamp = [(0.0, Light("lamp", lamp=(0.3, -0.6, 2.7), shadow=0.3))]
    shot = Scene3d("pi", 1, cam, [walker], lamp, (0.45, 0.5, 0.55), 2.0, None, 4.0)
    counted = crossings_of(
        CountingConfig(line=shot.line, inside=shot.inside),
        zip(shot.times(), shot.frames(), strict=True),
    )
    assert [(d, n) for _, d, n in counted] == [(1, 1)]


def test_a_pair_abreast_under_a_pi_cameras_lens_is_never_one() -> None:
    """The hands' heads are gone, not the pair's. (Their shape says three in half of these
    frames, as it did before: at this scale a person's blob is rounder than the tuning
    people's — the open fault docs/benchmarks.md names.)"""
    a = _walker(-0.26, ((0.15, 0.55, 0.85), (0.05, 0.05, 0.08)))
    b = _walker(0.26, ((0.6, 0.3, 0.2), (0.7, 0.8, 0.85)), 1.7, 0.05)
    assert min(_people_at_the_line([a, b])) >= 2
