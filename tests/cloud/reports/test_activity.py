"""`cloud.reports.activity`: door decisions, footfall and alarm response times counted in SQL
for the stations and the window asked, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import Engine

from cloud.auth.scope import make_scope
from cloud.models import Station, table
from cloud.reports.activity import alarm_times, decisions, footfall
from cloud.reports.month import Month, window
from tests.support import monthdata as m

STATION = table(Station)


def test_counts_of_the_window_only(engine: Engine) -> None:
    m.build(engine)
    win = window(Month(2026, 11), "Asia/Shanghai", m.NOW)
    assert win is not None
    where = STATION.c.tz == "Asia/Shanghai"
    with engine.connect() as conn:
        assert decisions(conn, where, win) == {m.A: {"granted": 3, "revoked": 2, "expired": 1}}
        assert footfall(conn, where, win) == {m.A: (10, 8)}
        times = alarm_times(conn, where, win)[m.A]
        assert sorted((a.ack_s is None, a.ack_s or 0) for a in times) == [
            (False, 60.0), (False, 120.0), (False, 600.0), (True, 0),
        ]  # fmt: skip
        other = make_scope([m.P2]).where()
        assert other is not None
        assert decisions(conn, other, win) == {}
        assert footfall(conn, other, win) == {}
        assert alarm_times(conn, other, win) == {}
