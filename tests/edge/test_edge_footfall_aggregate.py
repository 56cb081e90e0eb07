"""Per-interval footfall: UTC alignment, zero intervals, occupancy, re-zero, restarts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.footfall.aggregate import Aggregator, interval_start
from edge.footfall.crossing import Crossing, Direction
from edge.journal import Journal
from firmware_sim.clock import SimClock
from protocol.messages import FootfallPayload, decode
from protocol.topics import Kind

T0 = datetime(2026, 3, 1, 12, 1, 30, tzinfo=UTC)  # 90 s into the 12:00 interval
IN, OUT = Direction.IN, Direction.OUT


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = Journal(tmp_path / "journal.db")
    j.open()
    yield j
    j.close()


def make(journal: Journal, clock: SimClock, tmp_path: Path, **kw: object) -> Aggregator:
    agg = Aggregator(
        "sz-0001",
        journal,
        interval_s=300,
        state_path=tmp_path / "footfall.json",
        now=clock.now,
        **kw,  # type: ignore[arg-type]
    )
    agg.load()
    return agg


def footfall(journal: Journal) -> list[FootfallPayload]:
    rows = [r for r in journal.pending(limit=10_000) if r.kind == Kind.FOOTFALL.value]
    out = [decode(Kind.FOOTFALL, r.payload) for r in rows]
    assert all(isinstance(p, FootfallPayload) for p in out)
    return out  # type: ignore[return-value]


def cross(*dirs: Direction) -> list[Crossing]:
    return [Crossing(d, 0.0, 1, "beam") for d in dirs]


def test_interval_start_is_utc_aligned() -> None:
    at = datetime(2026, 3, 1, 20, 7, 59, tzinfo=UTC).astimezone()
    assert interval_start(at, 300) == datetime(2026, 3, 1, 20, 5, tzinfo=UTC)
    assert interval_start(at, 3600) == datetime(2026, 3, 1, 20, 0, tzinfo=UTC)


def test_counts_per_interval_with_zero_intervals_and_partial_first(
    journal: Journal, tmp_path: Path
) -> None:
    clock = SimClock(T0)
    agg = make(journal, clock, tmp_path)
    agg.add(cross(IN, IN, IN, OUT))
    clock.advance(240)  # 12:05:30
    agg.tick(still=True)
    agg.add(cross(OUT))
    clock.advance(600)  # 12:15:30: 12:05 closed with one exit, 12:10 with nothing
    agg.tick(still=True)
    got = footfall(journal)
    assert [p.interval_start for p in got] == [
        datetime(2026, 3, 1, 12, m, tzinfo=UTC) for m in (0, 5, 10)
    ]
    assert [(p.entries, p.exits, p.occupancy) for p in got] == [(3, 1, 2), (0, 1, 1), (0, 0, 1)]
    assert [p.seconds for p in got] == [210, 300, 300]  # counting started at 12:01:30
    assert [p.seq for p in got] == sorted(p.seq for p in got)


def test_occupancy_never_goes_negative(journal: Journal, tmp_path: Path) -> None:
    agg = make(journal, SimClock(T0), tmp_path)
    agg.add(cross(OUT, OUT, IN))
    assert agg.occupancy == 1
    agg.add([Crossing(OUT, 0.0, 3, "camera")])
    assert agg.occupancy == 0


def test_rezero_only_when_still_idle_and_trusted(journal: Journal, tmp_path: Path) -> None:
    clock = SimClock(T0)
    agg = make(journal, clock, tmp_path, rezero_idle_s=600)
    agg.add(cross(IN, IN))
    clock.advance(500)
    agg.tick(still=True)
    assert agg.occupancy == 2  # not long enough
    clock.advance(200)
    agg.tick(still=False)  # someone at the line: the idle clock restarts
    clock.advance(599)
    agg.tick(still=True)
    assert agg.occupancy == 2
    clock.advance(10)
    agg.tick(still=True, trusted=False)  # a dead counter proves nothing
    assert agg.occupancy == 2
    agg.tick(still=True)
    assert agg.occupancy == 0
    assert agg.stats["footfall_rezero"] == 1


def test_restart_mid_interval_neither_loses_nor_doubles(journal: Journal, tmp_path: Path) -> None:
    clock = SimClock(T0)
    agg = make(journal, clock, tmp_path)
    agg.add(cross(IN, IN, OUT))
    clock.advance(60)
    agg.tick(still=True)
    agg.close()  # agent stops at 12:02:30, 60 s of counting in the 12:00 interval...
    clock.advance(30)  # ...and is back 30 s later
    agg = make(journal, clock, tmp_path)
    assert agg.occupancy == 1
    agg.add(cross(IN))
    clock.advance(180)  # 12:06
    agg.tick(still=True)
    (p,) = footfall(journal)
    assert (p.entries, p.exits, p.occupancy) == (3, 1, 2)
    assert p.seconds == 210 - 30  # 12:01:30–12:05:00 less the 30 s the agent was down


def test_crash_without_close_keeps_every_counted_crossing(journal: Journal, tmp_path: Path) -> None:
    clock = SimClock(T0)
    agg = make(journal, clock, tmp_path)
    agg.add(cross(IN, IN))  # saved at once: no close() (kill -9)
    clock.advance(3600)  # down for an hour
    agg = make(journal, clock, tmp_path)
    got = footfall(journal)
    assert [(p.interval_start.minute, p.entries) for p in got] == [(0, 2)]
    assert not (tmp_path / "footfall.json.tmp").exists()


def test_journal_refusal_keeps_the_interval_for_later(journal: Journal, tmp_path: Path) -> None:
    clock = SimClock(T0)
    agg = make(journal, clock, tmp_path)
    agg.add(cross(IN))
    journal.close()
    clock.advance(300)
    assert agg.tick(still=True) == 0
    assert agg.stats["footfall_journal_errors"] == 1
    assert len(json.loads((tmp_path / "footfall.json").read_text())["unsent"]) == 1
    journal.open()
    clock.advance(1)
    assert agg.tick(still=True) == 1
    assert [p.entries for p in footfall(journal)] == [1]


def test_unreadable_state_file_starts_afresh(journal: Journal, tmp_path: Path) -> None:
    (tmp_path / "footfall.json").write_text("{not json")
    agg = make(journal, SimClock(T0), tmp_path)
    assert agg.occupancy == 0
    assert agg.stats["footfall_state_errors"] == 1


def test_wall_clock_stepping_back_keeps_the_open_interval(journal: Journal, tmp_path: Path) -> None:
    clock = SimClock(T0)
    agg = make(journal, clock, tmp_path)
    agg.add(cross(IN))
    stepped = SimClock(T0 - timedelta(minutes=10))
    agg.now = stepped.now
    agg.add(cross(IN))
    assert agg.open is not None
    assert agg.open.start == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert agg.open.entries == 2
    assert footfall(journal) == []
