"""Reading bounds by unit suffix: one table for ingest's plausibility and alarm limits."""

from __future__ import annotations

from protocol.units import bounds_of


def test_a_reading_is_bounded_by_the_unit_its_name_ends_with() -> None:
    assert bounds_of("fridge_c") == (-60.0, 150.0)
    assert bounds_of("disk_used_pct") == (0.0, 100.0)
    assert bounds_of("rssi_dbm") == (-120.0, 0.0)
    assert bounds_of("door_count") is None
