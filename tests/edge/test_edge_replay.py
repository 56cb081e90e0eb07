"""The replay cache (edge/access/replay.py): eviction on the station's own clocks only."""

from __future__ import annotations

from dataclasses import dataclass

from edge.access.replay import ReplayCache


@dataclass
class Clocks:
    """The station's monotonic clock and floor time, moved by the test."""

    mono: float = 1000.0
    floor: float = 1_800_000_000.0

    def cache(self, max_entries: int = 100) -> ReplayCache:
        return ReplayCache(
            monotonic=lambda: self.mono, floor=lambda: self.floor, max_entries=max_entries
        )

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.floor += seconds


def key(n: int, t: int = 0) -> tuple[str, bytes, int]:
    return ("ws1", bytes([n]) * 12, t)


def test_entry_lives_until_its_freshness_end_and_no_longer() -> None:
    c = Clocks()
    cache = c.cache()
    end = c.floor + 35
    assert cache.admit(key(1), end)
    c.advance(35)  # floor == end: the code is still fresh at that instant
    assert not cache.admit(key(1), end)
    c.advance(0.001)
    assert cache.admit(key(2), c.floor + 35)  # any admit expires what is due
    assert len(cache) == 1
    assert cache.admit(key(1), end)  # gone (the verifier refuses it as stale before this)


def test_a_far_future_freshness_end_evicts_nothing_else() -> None:
    """A code whose freshness ends in 13 days is kept that long and disturbs no other entry."""
    c = Clocks()
    cache = c.cache()
    assert cache.admit(key(1), c.floor + 35)
    assert cache.admit(key(2), c.floor + 13 * 86400)
    c.advance(10)
    assert not cache.admit(key(1), c.floor + 25)
    c.advance(86400)
    assert not cache.admit(key(2), 0)
    assert len(cache) == 1


def test_a_wall_clock_stepped_back_keeps_the_entry() -> None:
    """Monotonic time ran out, but the station's floor time went back (an NTP step): the code
    could be fresh again, so the entry stays until the floor time passes its end."""
    c = Clocks()
    cache = c.cache()
    end = c.floor + 35
    assert cache.admit(key(1), end)
    c.mono += 100
    c.floor -= 60
    assert not cache.admit(key(1), end)
    c.floor = end + 1
    assert cache.admit(key(1), end)


def test_cap_drops_the_entry_closest_to_expiry() -> None:
    c = Clocks()
    cache = c.cache(max_entries=3)
    assert cache.admit(key(1), c.floor + 300)
    assert cache.admit(key(2), c.floor + 10)
    assert cache.admit(key(3), c.floor + 200)
    assert cache.admit(key(4), c.floor + 100)  # full: key 2 (10 s left) makes room
    assert len(cache) == 3
    assert cache.evicted_early == 1
    assert not cache.admit(key(1), c.floor + 300)
    assert not cache.admit(key(3), c.floor + 200)
    assert cache.admit(key(2), c.floor + 10)


def test_same_serial_different_times_or_kinds_are_different_codes() -> None:
    c = Clocks()
    cache = c.cache()
    assert cache.admit(("ws1", b"s" * 12, 60), c.floor + 35)
    assert cache.admit(("ws1", b"s" * 12, 61), c.floor + 35)
    assert cache.admit(("ws2", b"s" * 12, 60), c.floor + 300)
    assert not cache.admit(("ws1", b"s" * 12, 60), c.floor + 35)
