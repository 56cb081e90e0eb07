"""`cloud.reports.monthly`: a hand-built November checked to the second on SQLite and
PostgreSQL (tests.support.monthdata has the arithmetic): uptime while open, door denials by
reason, footfall, alarm response percentiles, stations without an agent apart, scope."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from cloud.auth.scope import make_scope
from cloud.reports.month import MonthError
from cloud.reports.monthly import MonthlyReport, monthly, percentile
from tests.support import monthdata as m


def _report(engine: Engine, by: str = "station", **kw: object) -> MonthlyReport:
    m.build(engine)
    with engine.connect() as conn:
        return monthly(conn, month=m.MONTH, by=by, now=m.NOW, **kw)  # type: ignore[arg-type]


def test_each_station_by_hand(engine: Engine) -> None:
    report = _report(engine)
    assert (report.month, report.tz, report.complete) == (m.MONTH, "Asia/Shanghai", True)
    assert (report.start, report.end) == (m.START, m.END)
    rows = {r.key: r for r in report.rows}
    a, b, c = rows[m.A], rows[m.B], rows[m.C]
    # 24/7 with a 3-hour outage: 717 / 720 h
    assert (a.due_h, a.known_h, a.live_h) == (720.0, 720.0, 717.0)
    assert a.uptime_pct == round(100 * 717 / 720, 3) == 99.583
    # 08:00-20:00 with an outage 19:00 → 09:00 next day: 2 of its 360 opening hours lost
    assert (b.due_h, b.live_h) == (360.0, 358.0)
    assert b.uptime_pct == round(100 * 358 / 360, 3)
    # no agent: no figure, not 0 %
    assert (c.live_stations, c.schedule_stations, c.uptime_pct, c.due_h) == (0, 1, None, 0.0)
    assert [s.id for s in report.no_agent] == [m.C]
    # door decisions of November only
    assert (a.granted, a.denied, a.denied_by_reason) == (3, 3, {"expired": 1, "revoked": 2})
    # footfall: hour and day roll-ups (the 5th once), the raw interval after the roll-up
    assert (a.entries, a.exits) == (10, 8)
    # alarms: acks 60, 120, 600 s (one never); clears 300, 900, 1800 s (one not yet)
    assert (a.alarms, a.unacknowledged, a.uncleared) == (4, 1, 1)
    assert (a.ack_p50_s, a.ack_p90_s) == (120.0, 600.0)
    assert (a.clear_p50_s, a.clear_p90_s) == (900.0, 1800.0)
    assert (a.name, a.city, a.operator) == (f"站 {m.A}", "深圳", m.P1)


def test_groups_sum_seconds_before_dividing(engine: Engine) -> None:
    report = _report(engine, by="city")
    rows = {r.key: r for r in report.rows}
    sz = rows["深圳"]
    assert (sz.stations, sz.live_stations, sz.schedule_stations) == (2, 2, 0)
    assert sz.uptime_pct == round(100 * (717 + 358) / (720 + 360), 3)
    assert (rows["广州"].uptime_pct, rows["广州"].schedule_stations) == (None, 1)
    assert report.total.stations == 3
    assert report.total.uptime_pct == sz.uptime_pct  # the station without agent weighs nothing
    assert report.total.denied_by_reason == {"expired": 1, "revoked": 2}


def test_a_partner_sees_only_its_own_stations(engine: Engine) -> None:
    report = _report(engine, by="operator", within=make_scope([m.P2]).where())
    assert [r.key for r in report.rows] == [m.P2]
    assert report.total.stations == 1
    assert report.total.granted == 0
    assert report.no_agent == []


def test_the_current_month_runs_to_now_and_a_future_one_is_refused(engine: Engine) -> None:
    m.build(engine)
    now = m.local(10, 12)  # 10 November, noon in Shanghai; A went down at 12:00 local
    with engine.connect() as conn:
        report = monthly(conn, month=m.MONTH, by="city", now=now)
        assert (report.complete, report.end) == (False, now)
        a = next(r for r in monthly(conn, month=m.MONTH, by="station", now=now).rows)
        assert a.key == m.A
        assert a.due_h == 9 * 24 + 12
        assert a.live_h == a.due_h
        with pytest.raises(MonthError, match="not begun"):
            monthly(conn, month="2026-12", by="city", now=now)
        with pytest.raises(MonthError, match="2026-11"):
            monthly(conn, month="Nov 2026", by="city", now=now)


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([60.0, 120.0, 600.0], 50) == 120.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([float(i) for i in range(1, 11)], 90) == 9.0
