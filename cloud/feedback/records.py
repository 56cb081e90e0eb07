"""Storing, listing and resolving workers' feedback, in the caller's transaction.

Listing is newest first with a keyset cursor (`before` = the smallest id seen), so paging
stays cheap however many rows pile up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Connection, Select, Table, insert, select, update

from cloud.feedback.city import city_near
from cloud.feedback.models import StationReport, StationSuggestion
from cloud.models import Station, table

REPORT = table(StationReport)
SUGGESTION = table(StationSuggestion)
STATION = table(Station)
StatusFilter = Literal["open", "resolved", "all"]


class UnknownStationError(LookupError):
    """The report names a station that is not in the registry."""


class ReportView(BaseModel):
    id: int
    station_id: str
    station_name: str
    city: str
    kind: str
    text: str
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str
    ticket: str | None = None
    state: str = "received"


class SuggestionView(BaseModel):
    id: int
    lat: float
    lon: float
    name: str
    note: str
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str
    ticket: str | None = None
    state: str = "received"
    built_station_id: str | None = None
    city: str | None = None


class ReportPage(BaseModel):
    items: list[ReportView]
    next_before: int | None  # pass as `before` for the next page; None: no more


class SuggestionPage(BaseModel):
    items: list[SuggestionView]
    next_before: int | None


def add_report(
    conn: Connection,
    *,
    station_id: str,
    kind: str,
    text: str,
    now: datetime,
    ticket: str | None = None,
) -> int:
    """Store a report (with its public `ticket` number, `cloud.feedback.tickets`);
    UnknownStationError when `station_id` is not registered or retired (off every map: a
    report would flag a station no worker can be sent to and raise an alarm nobody owns)."""
    known = conn.execute(
        select(STATION.c.id).where(STATION.c.id == station_id, STATION.c.retired_at.is_(None))
    ).first()
    if known is None:
        raise UnknownStationError(station_id)
    values = {
        "station_id": station_id,
        "kind": kind,
        "text": text,
        "created_at": now,
        "ticket": ticket,
        "state_at": now,
    }
    return int(conn.execute(insert(REPORT).values(**values).returning(REPORT.c.id)).scalar_one())


def add_suggestion(
    conn: Connection,
    *,
    lat: float,
    lon: float,
    name: str,
    note: str,
    now: datetime,
    ticket: str | None = None,
) -> int:
    """Store a suggestion with its city (`cloud.feedback.city`, by which city-scoped
    accounts see it)."""
    values = {
        "lat": lat,
        "lon": lon,
        "name": name,
        "note": note,
        "created_at": now,
        "ticket": ticket,
        "state_at": now,
        "city": city_near(conn, lat, lon),
    }
    statement = insert(SUGGESTION).values(**values).returning(SUGGESTION.c.id)
    return int(conn.execute(statement).scalar_one())


def _report_query() -> Select[tuple[object, ...]]:
    return select(
        *REPORT.c, STATION.c.name.label("station_name"), STATION.c.city.label("city")
    ).join(STATION, STATION.c.id == REPORT.c.station_id)


def _filtered(
    query: Select[tuple[object, ...]], t: Table, status: StatusFilter, before: int | None
) -> Select[tuple[object, ...]]:
    c = t.c
    if status == "open":
        query = query.where(c.resolved_at.is_(None))
    elif status == "resolved":
        query = query.where(c.resolved_at.is_not(None))
    if before is not None:
        query = query.where(c.id < before)
    return query.order_by(c.id.desc())


def reports(
    conn: Connection,
    *,
    status: StatusFilter = "open",
    station: str | None = None,
    before: int | None = None,
    limit: int = 100,
    within: ColumnElement[bool] | None = None,
) -> ReportPage:
    """Reports newest first; only about stations `within` (a condition on `station`,
    cloud.auth.scope) when given."""
    query = _filtered(_report_query(), REPORT, status, before)
    if within is not None:
        query = query.where(within)
    if station is not None:
        query = query.where(REPORT.c.station_id == station)
    rows = conn.execute(query.limit(limit + 1)).mappings().all()
    items = [ReportView.model_validate(dict(r)) for r in rows[:limit]]
    return ReportPage(items=items, next_before=items[-1].id if len(rows) > limit else None)


def suggestions(
    conn: Connection,
    *,
    status: StatusFilter = "open",
    before: int | None = None,
    limit: int = 100,
    within: ColumnElement[bool] | None = None,
) -> SuggestionPage:
    """Suggestions newest first; only those `within` (a condition on their city,
    `cloud.auth.scope.Scope.places`) when given."""
    query = _filtered(select(SUGGESTION), SUGGESTION, status, before)
    if within is not None:
        query = query.where(within)
    rows = conn.execute(query.limit(limit + 1)).mappings().all()
    items = [SuggestionView.model_validate(dict(r)) for r in rows[:limit]]
    return SuggestionPage(items=items, next_before=items[-1].id if len(rows) > limit else None)


def get_report(conn: Connection, report_id: int) -> ReportView | None:
    row = conn.execute(_report_query().where(REPORT.c.id == report_id)).mappings().first()
    return None if row is None else ReportView.model_validate(dict(row))


def get_suggestion(conn: Connection, suggestion_id: int) -> SuggestionView | None:
    query = select(SUGGESTION).where(SUGGESTION.c.id == suggestion_id)
    row = conn.execute(query).mappings().first()
    return None if row is None else SuggestionView.model_validate(dict(row))


def resolve_report(conn: Connection, report_id: int, *, by: str, note: str, now: datetime) -> bool:
    """Mark it resolved; False when it was already (the first resolution stands)."""
    return _resolve(conn, REPORT, report_id, by=by, note=note, now=now, state="resolved")


def resolve_suggestion(
    conn: Connection,
    suggestion_id: int,
    *,
    by: str,
    note: str,
    now: datetime,
    state: str = "closed",
    built_station_id: str | None = None,
) -> bool:
    """Close it: `built` (as `built_station_id`), `declined`, or `closed` without saying."""
    extra = {"built_station_id": built_station_id} if built_station_id else {}
    return _resolve(
        conn, SUGGESTION, suggestion_id, by=by, note=note, now=now, state=state, **extra
    )


def _resolve(
    conn: Connection,
    t: Table,
    row_id: int,
    *,
    by: str,
    note: str,
    now: datetime,
    state: str,
    **extra: object,
) -> bool:
    c = t.c
    values = {"resolved_at": now, "resolved_by": by, "state": state, "state_at": now, **extra}
    if note:  # the note is the reply the worker sees; without one, an earlier reply stands
        values |= {"resolution": note, "replied_at": now}
    statement = update(t).where(c.id == row_id, c.resolved_at.is_(None)).values(**values)
    return bool(conn.execute(statement).rowcount)
