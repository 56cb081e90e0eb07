"""`cloud.reports.liveopen`: the station page's uptime rule, inside the opening hours only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from cloud.models import Station, table
from cloud.reports.liveopen import live_open, seconds_by_status
from cloud.reports.month import Month, window
from tests.support import monthdata as m

T = datetime(2026, 11, 2, tzinfo=UTC)
H = timedelta(hours=1)


def test_only_time_inside_the_intervals_counts() -> None:
    spans = ((T, T + 2 * H), (T + 10 * H, T + 12 * H))
    changes = [(T + H, "lost"), (T + 5 * H, "online"), (T + 11 * H, "degraded")]
    assert seconds_by_status(spans, "online", changes) == {
        "online": 2 * 3600.0,
        "lost": 3600.0,
        "degraded": 3600.0,
    }


def test_before_the_first_history_row_is_unknown() -> None:
    spans = ((T, T + 4 * H),)
    assert seconds_by_status(spans, None, [(T + H, "online")]) == {
        "unknown": 3600.0,
        "online": 3 * 3600.0,
    }


def test_stations_without_history_get_no_figure(engine: Engine) -> None:
    m.build(engine)
    win = window(Month(2026, 11), "Asia/Shanghai", m.NOW)
    assert win is not None
    spans = {sid: ((win.start, win.end),) for sid in (m.A, m.B, m.C)}
    with engine.connect() as conn:
        found = live_open(conn, table(Station).c.tz == "Asia/Shanghai", win, spans)
    assert set(found) == {m.A, m.B}
    assert found[m.A].live_s == 717 * 3600
    assert found[m.A].known_s == 720 * 3600
    assert found[m.B].live_s == (720 - 14) * 3600  # offline 19:00 → 09:00, all day counted
