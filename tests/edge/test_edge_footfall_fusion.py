"""Tailgating from door episodes, grants and entries; the two-counter cross-check."""

from __future__ import annotations

from edge.footfall.crossing import Crossing, Direction
from edge.footfall.fusion import CrossCheck, TailgateDetector


class Alarms:
    def __init__(self) -> None:
        self.raised: list[tuple[str, str, str | None]] = []

    def __call__(self, name: str, state: str, detail: str | None = None) -> None:
        self.raised.append((name, state, detail))


def entries(*times: float, direction: Direction = Direction.IN) -> list[Crossing]:
    return [Crossing(direction, t, 1, "beam") for t in times]


def detector() -> tuple[TailgateDetector, Alarms]:
    alarms = Alarms()
    return TailgateDetector(alarms, grant_window_s=10.0, settle_s=3.0), alarms


def test_two_people_on_one_grant_is_tailgating() -> None:
    det, alarms = detector()
    det.granted(100.0)
    det.door_opened(101.0, "grant")
    det.crossings(entries(102.0, 102.8))
    det.door_closed(105.0)
    det.tick(106.0)
    assert alarms.raised == []  # still settling: a late crossing may come
    det.tick(108.1)
    assert len(alarms.raised) == 1
    name, state, detail = alarms.raised[0]
    assert (name, state) == ("tailgating", "raised")
    assert detail is not None
    assert detail.startswith("2 entered, 1 let in (1 grant, opened by grant")


def test_one_grant_each_is_fine_and_exits_do_not_count() -> None:
    det, alarms = detector()
    det.granted(100.0)
    det.granted(100.5)  # two members scanned one after the other
    det.door_opened(101.0, "grant")
    det.crossings(entries(102.0, 103.0))
    det.crossings(entries(103.5, direction=Direction.OUT))
    det.door_closed(106.0)
    det.crossings(entries(107.0))  # a third person, reported within settle_s of the close
    det.tick(200.0)
    assert [a[0] for a in alarms.raised] == ["tailgating"]  # 3 in on 2 grants

    det2, alarms2 = detector()
    det2.granted(100.0)
    det2.granted(100.5)
    det2.door_opened(101.0, "grant")
    det2.crossings(entries(102.0, 107.5))  # the second reported late, inside settle_s
    det2.crossings(entries(103.5, direction=Direction.OUT))
    det2.door_closed(106.0)
    det2.tick(200.0)
    assert alarms2.raised == []


def test_free_mode_is_never_judged_and_exit_allows_one() -> None:
    det, alarms = detector()
    det.door_opened(10.0, "free")
    det.crossings(entries(11, 12, 13))
    det.door_closed(20.0)
    det.door_opened(100.0, "exit")
    det.crossings(entries(101.0))  # someone slips in as someone leaves: tolerated
    det.door_closed(104.0)
    det.tick(200.0)
    assert alarms.raised == []
    det.door_opened(300.0, "exit")
    det.crossings(entries(301.0, 301.5))
    det.door_closed(304.0)
    det.tick(400.0)
    assert [a[0] for a in alarms.raised] == ["tailgating"]


def test_old_grants_do_not_cover_a_later_opening() -> None:
    det, alarms = detector()
    det.granted(100.0)
    det.door_opened(130.0, None)  # forced, long after the grant
    det.crossings(entries(131.0))
    det.door_closed(133.0)
    det.tick(140.0)
    assert len(alarms.raised) == 1
    assert "opened by force" in (alarms.raised[0][2] or "")


def test_entries_with_the_door_shut_belong_to_no_episode() -> None:
    det, alarms = detector()
    det.crossings(entries(50.0, 51.0))  # no opening at all (counter noise): nothing to judge
    det.tick(100.0)
    assert alarms.raised == []


def test_cross_check_raises_and_clears_counter_mismatch() -> None:
    alarms = Alarms()
    check = CrossCheck(alarms, window_s=100.0, min_count=10, tolerance=0.3)
    check.add(entries(*range(20)), entries(*range(19)), 0.0)
    check.add([], [], 100.0)
    assert alarms.raised == []  # 20 vs 19 agree
    check.add(entries(*range(30)), entries(*range(10)), 150.0)
    check.add([], [], 200.0)
    assert [(a[0], a[1]) for a in alarms.raised] == [("counter_mismatch", "raised")]
    check.add(entries(*range(3)), [], 250.0)
    check.add([], [], 300.0)
    assert len(alarms.raised) == 1  # too few to judge: no change
    check.add(entries(*range(25)), entries(*range(24)), 350.0)
    check.add([], [], 400.0)
    assert [(a[0], a[1]) for a in alarms.raised][-1] == ("counter_mismatch", "cleared")
