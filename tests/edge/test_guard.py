"""`edge.guard.guarded`: a failing part is counted and logged, never raised."""

from __future__ import annotations

import logging
from collections import Counter

import pytest

from edge.guard import guarded


def test_a_working_part_counts_nothing() -> None:
    stats: Counter[str] = Counter()
    calls = []
    assert guarded("sz-0001", stats, "relay_errors", lambda: calls.append(1)) is True
    assert calls == [1]
    assert stats == Counter()


def test_a_failing_part_is_counted_logged_and_swallowed(caplog: pytest.LogCaptureFixture) -> None:
    stats: Counter[str] = Counter()

    def pulse() -> None:
        raise OSError("relay gone")

    with caplog.at_level(logging.ERROR, logger="edge.guard"):
        assert guarded("sz-0001", stats, "relay_errors", pulse) is False
        assert guarded("sz-0001", stats, "relay_errors", pulse) is False
    assert stats == Counter({"relay_errors": 2})
    record = caplog.records[0]
    assert "sz-0001" in record.getMessage()
    assert "pulse" in record.getMessage()
    assert record.exc_info is not None
    assert "relay gone" in caplog.text


def test_an_interrupt_is_not_a_part_failing() -> None:
    stats: Counter[str] = Counter()

    def stop() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        guarded("sz-0001", stats, "relay_errors", stop)
    assert stats == Counter()
