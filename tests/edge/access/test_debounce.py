"""`edge.access.debounce`: a code held in front of the camera is one scan, however long."""

from __future__ import annotations

from edge.access.debounce import Debouncer


def test_a_held_code_stays_one_scan_while_it_keeps_being_seen() -> None:
    d = Debouncer(window_s=2.0)
    assert d.seen("qr", 0.0) is False  # the first sighting is a scan
    # seen every 1.5 s for a minute: each sighting is within the window of the last one
    assert all(d.seen("qr", 1.5 * i) for i in range(1, 40))


def test_the_window_runs_from_the_last_sighting_and_includes_its_end() -> None:
    d = Debouncer(window_s=2.0)
    d.seen("qr", 10.0)
    assert d.seen("qr", 12.0) is True  # exactly window_s later: still the same scan
    assert d.seen("qr", 14.001) is False  # shown again after a gap: a new scan
    assert d.seen("qr", 14.5) is True


def test_keys_are_independent() -> None:
    d = Debouncer(window_s=2.0)
    assert d.seen("a", 0.0) is False
    assert d.seen("b", 0.5) is False
    assert d.seen(("serial", "granted"), 0.5) is False
    assert d.seen("a", 1.0) is True


def test_a_zero_or_negative_window_turns_debouncing_off() -> None:
    for window in (0.0, -1.0):
        d = Debouncer(window_s=window)
        assert [d.seen("qr", 0.0), d.seen("qr", 0.0), d.seen("qr", 0.1)] == [False] * 3


def test_the_cap_forgets_the_oldest_key_first() -> None:
    d = Debouncer(window_s=60.0, max_entries=2)
    d.seen("a", 0.0)
    d.seen("b", 1.0)
    d.seen("c", 2.0)  # the cap is reached: "a" goes
    assert d.seen("b", 3.0) is True  # "b" was kept (and is now the newest)
    assert d.seen("a", 3.0) is False  # "a" had been forgotten
    assert len(d._last) <= 2


def test_a_full_cache_still_debounces_the_code_held_longest() -> None:
    """Room is made for a new key only: seeing a key already held must not evict it first."""
    d = Debouncer(window_s=2.0, max_entries=1)
    assert d.seen("qr", 0.0) is False
    assert [d.seen("qr", 1.0 * i) for i in range(1, 5)] == [True] * 4
    d = Debouncer(window_s=60.0, max_entries=2)
    d.seen("a", 0.0)
    d.seen("b", 1.0)
    assert d.seen("a", 2.0) is True  # "a" is the oldest and the cache is full


def test_clear_forgets_everything() -> None:
    d = Debouncer(window_s=60.0)
    d.seen("qr", 0.0)
    d.clear()
    assert d.seen("qr", 1.0) is False
