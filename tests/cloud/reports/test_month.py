"""`cloud.reports.month`: a month is local to each station's zone; now cuts the current one."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cloud.reports.month import Month, MonthError, window


def test_parse_and_bounds_in_the_station_zone() -> None:
    nov = Month.parse(" 2026-11 ")
    assert str(nov) == "2026-11"
    assert nov.next() == Month(2026, 12)
    assert Month(2026, 12).next() == Month(2027, 1)
    assert nov.bounds("Asia/Shanghai") == (
        datetime(2026, 10, 31, 16, tzinfo=UTC),
        datetime(2026, 11, 30, 16, tzinfo=UTC),
    )
    assert nov.bounds("UTC")[0] == datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "26-11", "2026/11", "0026-11", ""])
def test_malformed_months_are_refused(text: str) -> None:
    with pytest.raises(MonthError):
        Month.parse(text)


def test_window_is_cut_at_now_and_none_before_the_month() -> None:
    nov = Month(2026, 11)
    mid = datetime(2026, 11, 15, tzinfo=UTC)
    w = window(nov, "Asia/Shanghai", mid)
    assert w is not None
    assert (w.end, w.complete) == (mid, False)
    assert w.seconds == (mid - datetime(2026, 10, 31, 16, tzinfo=UTC)).total_seconds()
    done = window(nov, "Asia/Shanghai", datetime(2027, 1, 1, tzinfo=UTC))
    assert done is not None
    assert done.complete
    assert done.seconds == 30 * 86400
    assert window(nov, "Asia/Shanghai", datetime(2026, 10, 31, 15, tzinfo=UTC)) is None
