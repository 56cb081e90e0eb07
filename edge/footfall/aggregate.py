"""Crossings → per-interval counts journaled as `FootfallPayload` (kind `footfall`).

Decisions, so the cloud can read the numbers right:
- Intervals are aligned to UTC multiples of `interval_s` (00:00, 00:05, …). `seconds` is how
  long the counter really ran inside the interval, so the first one after a start is short.
- An interval with no crossing is journaled too: a row of zeros says "counting ran and nobody
  came"; a missing interval says "not counting" (agent down, counter disabled).
- `occupancy` is entries − exits at the interval's end, never negative (an exit with nobody
  counted inside is an earlier miss, not a negative person). It returns to 0 only when the
  station has been still for `rezero_idle_s`: no crossing, nobody at the line, and a counter
  that trusts its input (a dead camera sees no one, which proves nothing).
- Restart-safe: the open interval (and occupancy) lives in a small JSON file next to the
  journal, replaced atomically after every change. A restart inside the same interval carries
  on counting into it; one after the interval ended journals it first. If the agent dies
  between journaling an interval and saving the next, the interval is journaled again with the
  same counts, which the cloud's upsert on (station, interval_start) absorbs.
- An interval the journal refuses (disk full) stays in the state file and is retried.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge.footfall.crossing import Crossing, Direction
from edge.journal import Journal
from protocol.messages import FootfallPayload
from protocol.topics import Kind

log = logging.getLogger(__name__)

# Whole intervals the unit was running through without a look (a stalled thread) are
# journaled as zeros up to this much; a longer leap is the wall clock being set, not time.
MAX_FILL = timedelta(hours=1)


@dataclass(slots=True)
class OpenInterval:
    start: datetime  # aligned, aware UTC
    entries: int = 0
    exits: int = 0
    seconds: float = 0.0  # counting time inside the interval so far
    seen_at: datetime | None = None  # wall time counting last ran (to measure `seconds`)


def interval_start(at: datetime, interval_s: int) -> datetime:
    """The UTC-aligned start of the interval `at` falls in."""
    epoch = int(at.astimezone(UTC).timestamp())
    return datetime.fromtimestamp(epoch - epoch % interval_s, UTC)


class Aggregator:
    """Counts crossings into the open interval; `tick()` journals the intervals that ended.

    One thread calls it (the footfall unit's); `occupancy` may be read from any thread.
    """

    def __init__(
        self,
        sid: str,
        journal: Journal,
        *,
        interval_s: int = 300,
        state_path: Path,
        now: Callable[[], datetime],
        rezero_idle_s: float = 90 * 60.0,
        stats: Counter[str] | None = None,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        if interval_s <= 0 or 86_400 % interval_s:
            raise ValueError("interval_s must divide a day")
        self.sid = sid
        self.journal = journal
        self.interval_s = interval_s
        self.state_path = Path(state_path)
        self.now = now
        self.rezero_idle_s = rezero_idle_s
        self.stats: Counter[str] = stats if stats is not None else Counter()
        self.wake = wake
        self.occupancy = 0
        self.last_activity: datetime | None = None  # wall time of the last crossing or busy
        self.open: OpenInterval | None = None
        self.unsent: list[dict[str, object]] = []  # closed intervals the journal refused
        self._started = datetime.min.replace(tzinfo=UTC)  # when this run began counting

    # --- lifecycle ---------------------------------------------------------------------------

    def load(self) -> None:
        """Take up where the last run stopped (or start fresh if there is no state file)."""
        now = self._started = self.now()
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
            self.occupancy = max(0, int(data.get("occupancy", 0)))
            last = data.get("last_activity")
            self.last_activity = datetime.fromisoformat(last) if last else None
            self.unsent = list(data.get("unsent", []))
            raw = data.get("open")
            if raw:
                self.open = OpenInterval(
                    start=datetime.fromisoformat(raw["start"]),
                    entries=int(raw["entries"]),
                    exits=int(raw["exits"]),
                    seconds=float(raw["seconds"]),
                    seen_at=None,  # the downtime is not counting time
                )
        except FileNotFoundError:
            pass
        except (ValueError, KeyError, TypeError) as exc:  # a torn or hand-edited file
            self.stats["footfall_state_errors"] += 1
            log.error(
                "%s: footfall state %s unreadable (%s): starting afresh",
                self.sid,
                self.state_path,
                exc,
            )
        if self.open is None:
            self.open = OpenInterval(interval_start(now, self.interval_s), seen_at=now)
        self.tick(still=False)

    def close(self) -> None:
        """Save the open interval (counted time included) for the next start."""
        self._advance(self.now())
        self._save()

    # --- counting ----------------------------------------------------------------------------

    def add(self, crossings: Iterable[Crossing]) -> None:
        """Count crossings into the open interval (journals an interval that just ended)."""
        crossings = list(crossings)
        if not crossings:
            return
        now = self.now()
        self._roll(now)
        interval = self._current()
        for c in crossings:
            if c.direction is Direction.IN:
                interval.entries += c.count
                self.occupancy += c.count
            else:
                interval.exits += c.count
                self.occupancy = max(0, self.occupancy - c.count)
        self.last_activity = now
        self._save()

    def tick(self, *, still: bool, trusted: bool = True) -> int:
        """Time passing: journal ended intervals and maybe re-zero. Returns intervals journaled.

        `still`: nobody at the counting line now; `trusted`: the counter trusts its input.
        """
        now = self.now()
        if not still:
            self.last_activity = now
        journaled = self._roll(now)
        idle_since = self.last_activity
        if (
            self.occupancy > 0
            and still
            and trusted
            and idle_since is not None
            and (now - idle_since).total_seconds() >= self.rezero_idle_s
        ):
            log.info(
                "%s: occupancy %d → 0 (still for %.0f min)",
                self.sid,
                self.occupancy,
                (now - idle_since).total_seconds() / 60,
            )
            self.stats["footfall_rezero"] += 1
            self.occupancy = 0
            self._save()
        elif journaled:
            self._save()
        return journaled

    # --- internals ---------------------------------------------------------------------------

    def _current(self) -> OpenInterval:
        assert self.open is not None, "load() first"
        return self.open

    def _advance(self, now: datetime) -> None:
        """Add the time since the last look to the open interval's counting seconds."""
        interval = self._current()
        end = interval.start + timedelta(seconds=self.interval_s)
        if interval.seen_at is not None:
            upto = min(now, end)
            if upto > interval.seen_at:
                interval.seconds += (upto - interval.seen_at).total_seconds()
        interval.seen_at = now

    def _roll(self, now: datetime) -> int:
        """Journal the open interval once `now` is past its end, and every whole interval
        since (zeros: the counter was running), then open the current one."""
        self._advance(now)
        journaled = self._flush_unsent()
        current = interval_start(now, self.interval_s)
        if current <= self._current().start:  # same interval, or the wall clock stepped back
            return journaled
        step = timedelta(seconds=self.interval_s)
        while (interval := self._current()).start < current:
            if interval.seconds >= 0.5 or interval.entries or interval.exits:
                self.unsent.append(self._closed(interval))  # else the agent was down all along
            following = interval.start + step
            if current - following > MAX_FILL:  # the wall clock leapt (NTP after boot)
                following = current
            self.open = OpenInterval(following, seen_at=max(following, self._started))
            self._advance(now)
        journaled += self._flush_unsent()
        self._save()  # the closed intervals are journaled, or kept in `unsent`
        return journaled

    def _closed(self, interval: OpenInterval) -> dict[str, object]:
        return {
            "interval_start": interval.start.isoformat(),
            "seconds": max(1, min(self.interval_s, round(interval.seconds))),
            "entries": interval.entries,
            "exits": interval.exits,
            "occupancy": self.occupancy,
        }

    def _flush_unsent(self) -> int:
        sent = 0
        while self.unsent:
            item = self.unsent[0]
            try:
                self.journal.append(
                    Kind.FOOTFALL.value,
                    lambda seq, item=item: FootfallPayload(  # type: ignore[misc]
                        sid=self.sid, ts=self.now(), seq=seq, **item
                    ),
                )
            except Exception:  # disk full, closed journal: keep it, try again next tick
                self.stats["footfall_journal_errors"] += 1
                log.exception("%s: could not journal a footfall interval", self.sid)
                break
            self.unsent.pop(0)
            self.stats["footfall_intervals"] += 1
            sent += 1
        if sent:
            self._save()
            self.wake()
        return sent

    def _save(self) -> None:
        interval = self._current()
        data = {
            "occupancy": self.occupancy,
            "last_activity": self.last_activity.isoformat() if self.last_activity else None,
            "open": {k: v for k, v in asdict(interval).items() if k != "seen_at"}
            | {"start": interval.start.isoformat()},
            "unsent": self.unsent,
        }
        try:
            write_atomic(self.state_path, json.dumps(data).encode())
        except OSError:
            self.stats["footfall_state_errors"] += 1
            log.exception("%s: could not save footfall state", self.sid)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so a crash leaves the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
