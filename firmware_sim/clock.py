"""Clocks for the `Clock` port: the real one, a simulated one tests can move, and one whose
wall side a chaos run can skew."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from edge.clock import SystemClock
from edge.ports import Clock

__all__ = ["OffsetClock", "SimClock", "SystemClock"]


class SimClock:
    """A clock that starts at `start` and moves only when told (`advance`), unless `running`.

    With `running=True` it also flows at real speed, so a simulated station can sit at a
    chosen date (e.g. a certificate's last valid day) and still have heartbeats tick.
    """

    def __init__(self, start: datetime | None = None, *, running: bool = False) -> None:
        start = start or datetime.now(UTC)
        if start.tzinfo is None:
            raise ValueError("SimClock needs an aware datetime")
        self._start = start.astimezone(UTC)
        self._offset = 0.0  # seconds added by advance()
        self._running = running
        self._origin = time.monotonic()
        self._lock = threading.Lock()

    def _elapsed(self) -> float:
        real = time.monotonic() - self._origin if self._running else 0.0
        return real + self._offset

    def now(self) -> datetime:
        with self._lock:
            return self._start + timedelta(seconds=self._elapsed())

    def monotonic(self) -> float:
        with self._lock:
            return 1000.0 + self._elapsed()  # any origin; 1000 keeps it clearly non-zero

    def advance(self, seconds: float) -> None:
        """Move both clocks forward by `seconds` (never backwards: monotonic must not)."""
        if seconds < 0:
            raise ValueError("a monotonic clock cannot go backwards")
        with self._lock:
            self._offset += seconds

    def timestamp(self) -> int:
        """Unix seconds now, what a phone puts in a presentation."""
        return int(self.now().timestamp())


class OffsetClock:
    """The station's wall clock with a settable skew (`offset_s`); monotonic time is untouched."""

    def __init__(self, base: Clock) -> None:
        self.base = base
        self.offset_s = 0.0

    def now(self) -> datetime:
        now = self.base.now()
        return now + timedelta(seconds=self.offset_s) if self.offset_s else now

    def monotonic(self) -> float:
        return self.base.monotonic()
