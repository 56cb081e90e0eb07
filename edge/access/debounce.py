"""Debounce: a code held in front of the camera for many frames is one scan, not many.

Without it, the second frame of a held phone would reach the replay cache and journal a
`replayed` denial, and every further frame another one. A key is suppressed while it keeps
being seen within `window_s` of its last sighting, so a phone held still for a minute still
gives one decision.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable


class Debouncer:
    """Remembers recently seen keys on a monotonic clock (seconds)."""

    def __init__(self, window_s: float, max_entries: int = 1024) -> None:
        self.window_s = window_s
        self.max_entries = max_entries  # a door sees a handful of codes at once; this is a cap
        self._last: OrderedDict[Hashable, float] = OrderedDict()

    def seen(self, key: Hashable, now: float) -> bool:
        """True if `key` was seen within the window (a repeat); records this sighting."""
        if self.window_s <= 0:
            return False
        at = self._last.pop(key, None)  # a key already held needs no room: never evict it
        while self._last:
            oldest, last = next(iter(self._last.items()))
            if now - last <= self.window_s and len(self._last) < self.max_entries:
                break
            del self._last[oldest]
        self._last[key] = now
        return at is not None and now - at <= self.window_s

    def clear(self) -> None:
        self._last.clear()
