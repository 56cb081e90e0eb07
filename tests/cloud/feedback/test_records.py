"""`cloud.feedback.records`: reports and suggestions stored, listed newest first with a keyset
cursor, resolved once (the first resolution stands)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection

from cloud.feedback import records

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def report(db: Connection, sid: str, n: int) -> int:
    at = T0 + timedelta(minutes=n)
    return records.add_report(db, station_id=sid, kind="broken", text=f"report {n}", now=at)


def test_a_report_is_stored_with_its_station_and_read_back(
    db: Connection, put_station: Callable[..., str]
) -> None:
    put_station("st-1", name="人民广场驿站", city="上海")
    rid = records.add_report(db, station_id="st-1", kind="locked", text="门打不开\n<b>", now=T0)
    view = records.get_report(db, rid)
    assert view is not None
    assert (view.station_id, view.station_name, view.city) == ("st-1", "人民广场驿站", "上海")
    assert (view.kind, view.text, view.created_at) == ("locked", "门打不开\n<b>", T0)
    assert (view.resolved_at, view.resolved_by, view.resolution) == (None, None, "")
    assert records.get_report(db, rid + 1000) is None


def test_a_report_on_an_unknown_station_is_refused(db: Connection) -> None:
    with pytest.raises(records.UnknownStationError, match="st-nowhere"):
        records.add_report(db, station_id="st-nowhere", kind="other", text="", now=T0)
    assert records.reports(db).items == []


def test_reports_page_newest_first_with_a_keyset_cursor(
    db: Connection, put_station: Callable[..., str]
) -> None:
    put_station("st-1")
    ids = [report(db, "st-1", n) for n in range(5)]
    first = records.reports(db, limit=2)
    assert [r.id for r in first.items] == ids[::-1][:2]
    assert first.next_before == ids[3]
    second = records.reports(db, limit=2, before=first.next_before)
    assert [r.id for r in second.items] == [ids[2], ids[1]]
    last = records.reports(db, limit=2, before=second.next_before)
    assert [r.id for r in last.items] == [ids[0]]
    assert last.next_before is None  # no more
    exact = records.reports(db, limit=5)
    assert len(exact.items) == 5
    assert exact.next_before is None  # exactly a page: no empty page after it


def test_reports_filter_by_status_and_station(
    db: Connection, put_station: Callable[..., str]
) -> None:
    put_station("st-1")
    put_station("st-2")
    a, b, c = report(db, "st-1", 1), report(db, "st-2", 2), report(db, "st-1", 3)
    assert records.resolve_report(db, a, by="li", note="fixed", now=T0 + timedelta(hours=1))
    assert [r.id for r in records.reports(db).items] == [c, b]  # open is the default
    assert [r.id for r in records.reports(db, status="resolved").items] == [a]
    assert [r.id for r in records.reports(db, status="all").items] == [c, b, a]
    assert [r.id for r in records.reports(db, status="all", station="st-1").items] == [c, a]


def test_the_first_resolution_stands(db: Connection, put_station: Callable[..., str]) -> None:
    put_station("st-1")
    rid = report(db, "st-1", 1)
    assert records.resolve_report(db, rid, by="li", note="修好了", now=T0 + timedelta(hours=1))
    assert not records.resolve_report(db, rid, by="wang", note="also", now=T0 + timedelta(hours=2))
    view = records.get_report(db, rid)
    assert view is not None
    assert (view.resolved_by, view.resolution, view.resolved_at) == (
        "li",
        "修好了",
        T0 + timedelta(hours=1),
    )
    assert not records.resolve_report(db, rid + 1000, by="li", note="", now=T0)  # no such report


def test_suggestions_are_stored_listed_and_resolved_alike(db: Connection) -> None:
    ids = [
        records.add_suggestion(db, lat=31.2 + n / 100, lon=121.4, name=f"新站 {n}", note="", now=T0)
        for n in range(3)
    ]
    page = records.suggestions(db, limit=2)
    assert [s.id for s in page.items] == [ids[2], ids[1]]
    assert page.next_before == ids[1]
    assert records.resolve_suggestion(db, ids[0], by="li", note="planned", now=T0)
    assert not records.resolve_suggestion(db, ids[0], by="li", note="again", now=T0)
    assert [s.id for s in records.suggestions(db).items] == [ids[2], ids[1]]
    view = records.get_suggestion(db, ids[0])
    assert view is not None
    assert (view.name, view.lat, view.resolution) == ("新站 0", 31.2, "planned")
    assert records.get_suggestion(db, ids[2] + 1000) is None
