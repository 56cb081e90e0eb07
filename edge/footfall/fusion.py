"""Crossings meet the door: tailgating, and a cross-check between two counters.

**Tailgating.** With a door contact, each opening is an *episode* from `door_opened` to
`door_closed` (plus `settle_s`, because a counter reports a person a moment after they pass).
Entries counted in an episode are compared with what let people in: every grant from
`grant_window_s` before the opening to its close, one per remote unlock and one per exit-button
opening (someone may step in as someone steps out; a rest station is not a bank vault).
Free-mode openings are never judged. More entries than that → one `tailgating` alarm
("raised"; the cloud records it as momentary) with the numbers in its detail. A forced opening
allows nothing (it raises `forced_open` itself; people coming in through it also show here).

**Cross-check.** When a station has both a camera and beams, only `count_by` feeds the
aggregator (no double counting); the other's crossings go to `CrossCheck`, which compares
the two totals over a window and raises `counter_mismatch` when they disagree by more than
`tolerance`, clearing it once a window agrees again.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from edge.footfall.crossing import Crossing, Direction

log = logging.getLogger(__name__)

AlarmFn = Callable[[str, str, str | None], None]  # (name, "raised" | "cleared", detail)


@dataclass(slots=True)
class _Episode:
    opened_at: float
    cause: str | None  # grant, exit, remote, free, None (forced)
    closed_at: float | None = None
    entries: int = 0
    grants: int = 0


class TailgateDetector:
    """Fed from the footfall thread and the door loop alike; the caller serialises calls."""

    def __init__(
        self,
        alarm: AlarmFn,
        *,
        grant_window_s: float = 10.0,
        settle_s: float = 3.0,
    ) -> None:
        self.alarm = alarm
        self.grant_window_s = grant_window_s
        self.settle_s = settle_s
        self._grants: deque[float] = deque(maxlen=64)  # recent grant times (monotonic)
        self._episode: _Episode | None = None
        self._closing: list[_Episode] = []  # closed, waiting `settle_s` for late crossings
        self.reported = 0

    def granted(self, at: float) -> None:
        self._grants.append(at)
        if self._episode is not None:
            self._episode.grants += 1

    def door_opened(self, at: float, cause: str | None) -> None:
        if self._episode is not None:  # a missed close (contact bounce): close it now
            self.door_closed(at)
        grants = sum(1 for g in self._grants if at - self.grant_window_s <= g <= at)
        self._episode = _Episode(at, cause, grants=grants)

    def door_closed(self, at: float) -> None:
        episode, self._episode = self._episode, None
        if episode is not None:
            episode.closed_at = at
            self._closing.append(episode)

    def crossings(self, crossings: Iterable[Crossing]) -> None:
        """Entries from the count source; each goes to the episode it happened in."""
        for c in crossings:
            if c.direction is not Direction.IN:
                continue
            episode = self._episode_at(c.at)
            if episode is not None:
                episode.entries += c.count

    def tick(self, now: float) -> None:
        """Judge episodes closed more than `settle_s` ago."""
        keep = []
        for episode in self._closing:
            assert episode.closed_at is not None
            if now - episode.closed_at < self.settle_s:
                keep.append(episode)
            else:
                self._judge(episode)
        self._closing = keep

    def _episode_at(self, at: float) -> _Episode | None:
        if self._episode is not None and at >= self._episode.opened_at - self.settle_s:
            return self._episode
        for episode in reversed(self._closing):
            assert episode.closed_at is not None
            if episode.opened_at - self.settle_s <= at <= episode.closed_at + self.settle_s:
                return episode
        return None

    def _judge(self, episode: _Episode) -> None:
        if episode.cause == "free":
            return
        allowed = episode.grants + (1 if episode.cause in ("remote", "exit") else 0)
        if episode.entries <= allowed:
            return
        assert episode.closed_at is not None
        open_s = episode.closed_at - episode.opened_at
        detail = (
            f"{episode.entries} entered, {allowed} let in "
            f"({episode.grants} grant{'s' if episode.grants != 1 else ''}, "
            f"opened by {episode.cause or 'force'}, open {open_s:.0f} s)"
        )
        self.reported += 1
        self.alarm("tailgating", "raised", detail)


class CrossCheck:
    """Compares the count source with a second counter over windows of `window_s`."""

    def __init__(
        self,
        alarm: AlarmFn,
        *,
        window_s: float = 3600.0,
        min_count: int = 20,
        tolerance: float = 0.3,
    ) -> None:
        self.alarm = alarm
        self.window_s = window_s
        self.min_count = min_count
        self.tolerance = tolerance
        self._start: float | None = None
        self._primary = 0
        self._secondary = 0
        self.mismatch = False

    def add(self, primary: Iterable[Crossing], secondary: Iterable[Crossing], now: float) -> None:
        if self._start is None:
            self._start = now
        self._primary += sum(c.count for c in primary)
        self._secondary += sum(c.count for c in secondary)
        if now - self._start < self.window_s:
            return
        a, b = self._primary, self._secondary
        self._start, self._primary, self._secondary = now, 0, 0
        if max(a, b) < self.min_count:
            return  # too few people to judge either way
        off = abs(a - b) / max(a, b) > self.tolerance
        if off != self.mismatch:
            self.mismatch = off
            detail = f"count source {a}, other counter {b} in {self.window_s:.0f} s"
            self.alarm("counter_mismatch", "raised" if off else "cleared", detail)
