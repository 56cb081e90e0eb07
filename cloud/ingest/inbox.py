"""Messages handed from paho's network thread to the writer thread, a burst at a time.

A `queue.Queue` put per message (lock, condition notify, often a futex wake of the writer)
was ~5 % of a worker's CPU at full rate. The network thread collects a burst's messages in a
list it alone touches and hands the list over once (`BurstClient.on_burst_end`); the writer
takes lists and keeps what did not fit its batch for the next one.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Inbox(Generic[T]):
    """Bounded by message count; a burst that does not fit is refused whole (`seal` says how
    many were dropped). `add`/`seal` belong to one producer thread, `take` to one consumer."""

    def __init__(self, max_messages: int) -> None:
        self.max_messages = max_messages
        self._open: list[T] = []  # producer only
        self._sealed: deque[list[T]] = deque()
        self._count = 0  # messages in _sealed, under _cond
        self._cond = threading.Condition()

    def add(self, item: T) -> None:
        self._open.append(item)

    def seal(self) -> int:
        """Hand the collected messages over; returns how many were dropped (inbox full)."""
        burst = self._open
        if not burst:
            return 0
        self._open = []
        with self._cond:
            if self._count + len(burst) > self.max_messages:
                return len(burst)
            self._sealed.append(burst)
            self._count += len(burst)
            self._cond.notify()
        return 0

    def take(self, timeout: float | None = None) -> list[T]:
        """The oldest sealed burst, waiting up to `timeout` (None: not at all); [] if none."""
        with self._cond:
            if not self._sealed and timeout:
                self._cond.wait(timeout)
            if not self._sealed:
                return []
            burst = self._sealed.popleft()
            self._count -= len(burst)
            return burst

    def oldest(self) -> T | None:
        """The first message of the oldest sealed burst, left in place (any thread)."""
        with self._cond:
            return self._sealed[0][0] if self._sealed else None

    def __len__(self) -> int:
        """Messages handed over and not yet taken."""
        return self._count
