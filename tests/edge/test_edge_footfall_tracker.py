"""Tracks across frames and the hysteresis band: count once, never on dithering or turning
back, groups by blob shape, merges and splits not double counted."""

from __future__ import annotations

from dataclasses import replace

from edge.footfall.blobs import Blob, PersonSize
from edge.footfall.crossing import Crossing, Direction
from edge.footfall.geometry import LineBand
from edge.footfall.tracker import Tracker

LINE_Y = 120.0


def blob(x: float, y: float, w: int = 28, h: int = 17) -> Blob:
    box = (round(x - w / 2), round(y - h / 2), w, h)
    return Blob(x, y, 0.78 * w * h, box, at_border=False)


def make(**kw: float) -> Tracker:
    band = LineBand.make((0, LINE_Y, 320, LINE_Y), inside=(160, 230), band=10)
    return Tracker(band, PersonSize(), **kw)  # type: ignore[arg-type]


def run(tracker: Tracker, frames: list[list[Blob]], t0: float = 0.0) -> list[Crossing]:
    out: list[Crossing] = []
    for i, blobs in enumerate(frames):
        out += tracker.update(blobs, t0 + i * 0.1)
    return out


def walk(x: float, ys: list[float]) -> list[list[Blob]]:
    return [[blob(x, y)] for y in ys]


def totals(crossings: list[Crossing]) -> tuple[int, int]:
    ins = sum(c.count for c in crossings if c.direction is Direction.IN)
    return ins, sum(c.count for c in crossings if c.direction is Direction.OUT)


def test_walking_in_counts_one_entry_at_the_far_band_edge() -> None:
    tracker = make()
    crossings = run(tracker, walk(100, [20 + 10 * i for i in range(20)]))
    assert totals(crossings) == (1, 0)
    assert crossings[0].source == "camera"
    # counted when the track reached y >= 130 (frame 11: y = 130)
    assert crossings[0].at == 1.1


def test_walking_out_counts_one_exit() -> None:
    assert totals(run(make(), walk(100, [220 - 10 * i for i in range(20)]))) == (0, 1)


def test_dithering_on_the_line_counts_once() -> None:
    ys = [40, 60, 80, 100, 115, 125, 117, 126, 119, 128, 131, 124, 133, 126, 150, 170]
    assert totals(run(make(), walk(100, ys))) == (1, 0)


def test_turning_back_before_the_far_band_edge_counts_nothing() -> None:
    ys = [40, 60, 80, 100, 112, 120, 127, 127, 120, 100, 80, 60, 40]
    assert totals(run(make(), walk(100, ys))) == (0, 0)


def test_stepping_just_past_the_far_band_edge_and_back_counts_nothing() -> None:
    # someone who stops at the line with a long shadow attached: the blob's centre is pulled
    # a few px past the far edge (130), then they go back the way they came
    ys = [40, 60, 80, 100, 115, 126, 132, 133, 132, 133, 126, 115, 100, 80, 60, 40]
    assert totals(run(make(), walk(100, ys))) == (0, 0)


def test_a_crossing_is_held_until_the_track_is_well_past_and_keeps_its_own_time() -> None:
    tracker = make()
    reported: list[tuple[float, Crossing]] = []
    for i, y in enumerate([40, 60, 80, 100, 120, 131, 138, 150, 170]):
        reported += [(i * 0.1, c) for c in tracker.update([blob(100, y)], i * 0.1)]
    assert len(reported) == 1
    when, crossing = reported[0]
    assert crossing.at == 0.5  # reached the far edge (y 131)
    assert abs(when - 0.6) < 1e-9  # reported once 1.5 bands past the line (y 138)


def test_a_crossing_held_by_someone_standing_just_past_is_reported_after_the_hold() -> None:
    tracker = make()
    ys = [40, 60, 80, 100, 120, 131] + [132] * 40
    crossings = run(tracker, walk(100, ys))
    assert totals(crossings) == (1, 0)
    assert crossings[0].at == 0.5


def test_flush_reports_a_held_crossing_past_the_line_when_the_video_ends() -> None:
    tracker = make()
    assert run(tracker, walk(100, [40, 60, 80, 100, 120, 131, 133])) == []
    assert totals(tracker.flush()) == (1, 0)
    assert tracker.flush() == []


def test_a_speck_lost_for_a_few_frames_does_not_leap_across_the_line() -> None:
    # one frame of a small blob inside, three empty frames, then something 55 px away outside
    # (a fragment of someone else): not the speck having walked out
    frames = [[blob(100, 150, w=10, h=10)], [], [], [], [blob(100, 95, w=20, h=14)]]
    frames += [[blob(100, 95, w=20, h=14)]] * 3
    assert totals(run(make(), frames)) == (0, 0)


def test_going_in_then_out_again_counts_an_entry_and_an_exit() -> None:
    ys = [40, 60, 80, 100, 120, 140, 160, 160, 140, 120, 100, 80]
    assert totals(run(make(), walk(100, ys))) == (1, 1)


def test_two_side_by_side_in_one_blob_count_two() -> None:
    frames = [[blob(150, y, w=60, h=18)] for y in range(30, 220, 10)]
    crossings = run(make(), frames)
    assert totals(crossings) == (2, 0)
    assert len(crossings) == 1
    assert crossings[0].count == 2


def test_a_single_over_read_now_and_then_still_counts_one() -> None:
    frames = [
        [blob(150, y, w=60 if i % 4 == 1 else 28, h=18)] for i, y in enumerate(range(30, 220, 10))
    ]
    assert totals(run(make(), frames)) == (1, 0)


def test_a_misshapen_blob_while_standing_is_not_a_head_count() -> None:
    # someone stands inside a while (fading into the background: a wide, thin remnant that
    # reads as three), then walks out: one exit, not three
    frames = walk(150, [30 + 10 * i for i in range(11)])  # in, to y = 130
    frames += walk(150, [135.0] * 12)
    frames[-12:] = [[blob(150, 135.0, w=88, h=18)] for _ in range(12)]
    frames += walk(150, [128 - 10 * i for i in range(11)])  # out again
    assert totals(run(make(), frames)) == (1, 1)


def test_three_side_by_side_count_three_and_configured_area_divides() -> None:
    frames = [[blob(150, y, w=88, h=18)] for y in range(30, 220, 10)]
    assert totals(run(make(), frames)) == (3, 0)
    band = LineBand.make((0, LINE_Y, 320, LINE_Y), inside=(160, 230), band=10)
    by_area = Tracker(band, PersonSize(area=400.0))
    square = [
        [Blob(150, y, 1250.0, (130, round(y) - 20, 40, 40), False)] for y in range(30, 220, 10)
    ]
    assert totals(run(by_area, square)) == (3, 0)


def test_two_walkers_merging_in_the_band_and_splitting_count_two_not_four() -> None:
    frames: list[list[Blob]] = []
    for y in range(40, 110, 10):  # apart
        frames.append([blob(120, y), blob(160, y)])
    for y in range(110, 140, 10):  # shoulders touch: one wide blob
        frames.append([blob(140, y, w=60, h=18)])
    for y in range(140, 230, 10):  # apart again
        frames.append([blob(120, y), blob(160, y)])
    assert totals(run(make(), frames)) == (2, 0)


def test_a_merge_just_before_the_line_still_counts_both() -> None:
    frames = [[blob(125, y), blob(155, y + 8)] for y in range(40, 120, 10)]
    frames += [[blob(140, y, w=60, h=26)] for y in (128, 138, 148, 158)]  # merged at 128
    frames += [[blob(125, y), blob(155, y + 8)] for y in range(170, 230, 10)]
    crossings = run(make(), frames)
    assert totals(crossings) == (2, 0)
    assert [c.count for c in crossings] == [2]


def test_a_fragment_merged_long_before_the_line_rides_on_the_blobs_own_estimate() -> None:
    # someone and a piece of their own (a detached shadow, a bag) tracked apart for 5 frames,
    # one blob of one person's shape from 5 frames before the line: the estimates since the
    # merge include the piece, so it adds nobody (the rule before: a passenger, 2)
    frames = [[blob(120, y), blob(136, y + 4, w=10, h=8)] for y in range(40, 90, 10)]
    frames += [[blob(125, y, w=34, h=17)] for y in range(90, 230, 10)]
    crossings = run(make(), frames)
    assert [c.count for c in crossings] == [1]


def test_three_heads_in_two_of_the_last_five_frames_count_three() -> None:
    # three abreast whose blob's shape says two (60 x 18 px); the third person's head is
    # seen in two of the last five frames before the line (the median of the per-frame
    # estimates said two)
    heads = [0, 0, 0, 0, 0, 0, 0, 3, 0, 3, 0, 0]
    frames = [
        [replace(blob(140, y, w=60, h=18), heads=n)]
        for y, n in zip(range(20, 140, 10), heads, strict=True)
    ]
    frames += [[blob(140, y, w=60, h=18)] for y in range(140, 230, 10)]
    assert [c.count for c in run(make(), frames)] == [3]
    # seen in one frame only: the estimates' median stands
    once = [[replace(b, heads=0) if i != 9 else b for b in f] for i, f in enumerate(frames)]
    assert [c.count for c in run(make(), once)] == [2]


def test_a_group_splitting_after_the_line_is_not_counted_again() -> None:
    frames = [[blob(140, y, w=60, h=18)] for y in range(40, 160, 10)]
    frames += [[blob(120, y), blob(160, y)] for y in range(160, 230, 10)]
    assert totals(run(make(), frames)) == (2, 0)


def test_someone_lost_while_standing_and_seen_again_keeps_their_side() -> None:
    tracker = make(max_missed_frames=3, memory_s=30.0)
    frames = walk(100, [40, 60, 80, 100, 118])
    frames += [[] for _ in range(50)]  # stood still on the line: faded into the background
    frames += walk(101, [119, 121, 128, 140, 160])
    assert totals(run(tracker, frames)) == (1, 0)


def _faded_inside() -> list[list[Blob]]:
    """Someone walks in and stands inside until they fade into the background (a ghost
    with the inside's side is left at y 140)."""
    frames = walk(100, [40, 60, 80, 100, 120, 140, 140, 140])
    return frames + [[] for _ in range(10)]


def test_a_speck_seen_twice_near_a_faded_track_is_not_them_walking_out() -> None:
    # IR noise (held-hard-night): a speck 40 px from where someone faded, past the band on
    # the other side, takes their side and "crosses" at once, 20 px past the line
    frames = _faded_inside() + [[blob(104, 100, w=14, h=10)]] * 2 + [[] for _ in range(30)]
    assert totals(run(make(), frames)) == (1, 0)


def test_someone_who_faded_inside_and_walks_out_seen_again_counts_the_exit() -> None:
    frames = _faded_inside() + walk(102, [100, 90, 80, 70, 60, 50, 40])
    tracker = make()
    reported = [(i, c) for i, f in enumerate(frames) for c in tracker.update(f, i * 0.1)]
    assert totals([c for _, c in reported]) == (1, 1)
    frame, exit_ = reported[1]
    assert frame == 22  # seen from frame 18, solid (five frames) at 22
    assert abs(exit_.at - 1.9) < 1e-9  # filed when it was made: first judged at frame 19


def test_a_new_track_appearing_inside_the_band_needs_a_full_crossing() -> None:
    # no history: starts in the band, goes to the inside edge → no count (side unknown)
    assert totals(run(make(), walk(100, [118, 125, 135, 150, 170]))) == (0, 0)


def test_clear_forgets_tracks() -> None:
    tracker = make()
    run(tracker, walk(100, [40, 60, 80, 100]))
    tracker.clear()
    assert tracker.tracks == []
    assert tracker.ghosts == []


def test_many_blobs_are_capped() -> None:
    tracker = make()
    noise = [blob(5 + 4 * i, 10 + (i % 50) * 4, w=3, h=3) for i in range(300)]
    tracker.update(noise, 0.0)
    assert len(tracker.tracks) <= 40
