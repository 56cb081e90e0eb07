"""The replay cache: codes already admitted at this station, kept until they can never be
fresh again.

A code may be shown again by anyone who photographed it, so the station remembers every
admitted `(kind, serial, t)` (never signature bytes: ECDSA signatures are malleable) until the
code's freshness ends — WS1 `t + window + skew`, WS2 its window end + skew
(`protocol.credential.fresh_until`). A fixed horizon is wrong both ways: shorter than a WS2
window lets one token open the door again and again; a horizon judged on the code's own
claimed time lets a phone that dates a code far in the future wipe the cache.

So entries are evicted only when **both** of the station's own clocks say the freshness is
over: the monotonic clock has run for the time that was left at admission, and the station's
floor time (`floor()`: the wall clock while it is trusted, the high-water-mark lower bound
while it is not) has passed the freshness end. Nothing a phone claims moves either clock. An
NTP step backwards cannot bring an evicted code back to life either: the floor time catches it.

Not thread-safe: only the door loop (under the agent's decision lock) calls `admit`.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable

from protocol.credential import ReplayKey

log = logging.getLogger(__name__)

# Memory cap: ~150 B an entry, ~15 MB at the cap. A door admits a few thousand codes a day,
# each kept for about a minute (WS1) or one window (WS2): the cap is for a flood, not for use.
DEFAULT_MAX_ENTRIES = 100_000


class ReplayCache:
    """`admit(key, fresh_until)` → True the first time, False for a replay."""

    def __init__(
        self,
        *,
        monotonic: Callable[[], float],
        floor: Callable[[], float],
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        self.monotonic = monotonic  # seconds, any origin; never jumps
        self.floor = floor  # unix seconds the true time is at least (station's own view)
        self.max_entries = max_entries
        self._until: dict[ReplayKey, float] = {}  # key → freshness end, unix seconds
        self._heap: list[tuple[float, float, ReplayKey]] = []  # (expires_mono, until, key)
        self.evicted_early = 0  # entries dropped by the cap while still fresh (a flood)

    def __len__(self) -> int:
        return len(self._until)

    def admit(self, key: ReplayKey, fresh_until: float) -> bool:
        """True if `key` is new (remembered until its freshness ends); False if already seen."""
        mono, floor = self.monotonic(), self.floor()
        self._expire(mono, floor)
        if key in self._until:
            return False
        while len(self._until) >= self.max_entries:
            self._drop_soonest()
        self._until[key] = fresh_until
        heapq.heappush(self._heap, (mono + max(0.0, fresh_until - floor), fresh_until, key))
        return True

    def _expire(self, mono: float, floor: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= mono and heap[0][1] < floor:
            _, until, key = heapq.heappop(heap)
            if self._until.get(key) == until:
                del self._until[key]

    def _drop_soonest(self) -> None:
        """Cap reached: drop the entry closest to expiry, the one a replay can least use."""
        _, until, key = heapq.heappop(self._heap)
        if self._until.get(key) == until:
            del self._until[key]
            self.evicted_early += 1
            if self.evicted_early in (1, 10, 100, 1000):  # rate-limited: a flood is news
                log.warning("replay cache full (%d): dropped a fresh entry", self.max_entries)
