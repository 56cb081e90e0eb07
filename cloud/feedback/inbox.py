"""The ops feedback inbox: workers' reports and suggestions in one list, and what ops do with
them (assign to an account, reply, close), in the caller's transaction.

Inbox states (the `state` filter) are the ops view of a row; the public ticket state
(`cloud.feedback.tickets`) is what the worker sees:

- `open`: not closed and nobody on it; `assigned`: not closed, an account is on it;
  `unresolved` is both; `resolved`: closed (resolved, declined, built or closed); `all`.
- Assigning someone or replying moves a `received` ticket to `under_review`, so the worker
  sees that somebody is on it. The assignee's name is internal: the ticket page never shows
  it (nor `resolved_by`).
- The reply is the `resolution` text (at most `REPLY_MAX` characters), the union's words on
  the worker's ticket page; replying again replaces it. Closing with a note replies with it;
  closing without one keeps the reply standing.

Listing is newest first with limit/offset over both tables (a UNION ALL), with the total, so
the dashboard can page; the inbox holds what people typed, not telemetry, so it stays small.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Select,
    String,
    Table,
    case,
    cast,
    func,
    literal,
    null,
    select,
    union_all,
    update,
)

from cloud.feedback.records import REPORT, STATION, SUGGESTION
from cloud.models import Station, table
from cloud.sql.types import UTCDateTime

ItemKind = Literal["report", "suggestion"]
InboxState = Literal["unresolved", "open", "assigned", "resolved", "all"]
Outcome = Literal["resolved", "declined", "built", "closed"]
# Final public states a close may set, per kind (`built` needs the station's id).
OUTCOMES: dict[str, tuple[str, ...]] = {
    "report": ("resolved", "declined"),
    "suggestion": ("built", "declined", "closed"),
}
BUILT = table(Station).alias("built")


class InboxItem(BaseModel):
    """A report or a suggestion as the inbox shows it. Text fields are plain text."""

    kind: ItemKind
    id: int
    ticket: str | None = None
    station_id: str | None = Field(
        description="report: its station; suggestion: the station built from it, if built"
    )
    station_name: str | None = None
    city: str | None = Field(description="the station's city (suggestion: cloud.feedback.city)")
    operator: str | None = Field(description="report: the station's operator/partner")
    category: str = Field(description="report: locked, closed, broken, dirty, other; else ''")
    name: str | None = Field(default=None, description="suggestion: the suggested name")
    lat: float | None = Field(default=None, description="suggestion: WGS-84 latitude")
    lon: float | None = Field(default=None, description="suggestion: WGS-84 longitude")
    text: str = Field(description="report: the worker's text; suggestion: the note")
    created_at: datetime
    state: str = Field(description="the public ticket state")
    state_at: datetime | None = None
    assignee: str | None = Field(default=None, description="internal, never public")
    assigned_at: datetime | None = None
    reply: str = Field(description="the union's reply the worker sees on the ticket page")
    replied_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None


class InboxPage(BaseModel):
    total: int
    items: list[InboxItem]


@dataclass(frozen=True, slots=True)
class InboxFilter:
    """What to list. `station` and `category` (a report kind) select reports only."""

    state: InboxState = "unresolved"
    kind: ItemKind | None = None
    station: str | None = None
    city: str | None = None
    category: str | None = None
    assignee: str | None = None
    limit: int = 50
    offset: int = 0


def _common(t: Table) -> list[Any]:
    c = t.c
    return [
        c.ticket, c.text if t is REPORT else c.note.label("text"), c.created_at, c.state,
        c.state_at, c.assignee, c.assigned_at, c.resolution.label("reply"), c.replied_at,
        c.resolved_at, c.resolved_by,
    ]  # fmt: skip


def _reports() -> Select[Any]:
    return select(
        cast(literal("report"), String(16)).label("kind"),
        REPORT.c.id,
        REPORT.c.station_id,
        STATION.c.name.label("station_name"),
        STATION.c.city.label("city"),
        STATION.c.operator.label("operator"),
        REPORT.c.kind.label("category"),
        cast(null(), String(120)).label("name"),
        cast(null(), Float).label("lat"),
        cast(null(), Float).label("lon"),
        *_common(REPORT),
    ).join(STATION, STATION.c.id == REPORT.c.station_id)


def _suggestions() -> Select[Any]:
    return select(
        cast(literal("suggestion"), String(16)).label("kind"),
        SUGGESTION.c.id,
        SUGGESTION.c.built_station_id.label("station_id"),
        BUILT.c.name.label("station_name"),
        SUGGESTION.c.city,
        cast(null(), String(120)).label("operator"),
        cast(literal(""), String(16)).label("category"),
        SUGGESTION.c.name,
        SUGGESTION.c.lat,
        SUGGESTION.c.lon,
        *_common(SUGGESTION),
    ).outerjoin(BUILT, BUILT.c.id == SUGGESTION.c.built_station_id)


def _state(t: Table, state: InboxState) -> list[ColumnElement[bool]]:
    c = t.c
    return {
        "unresolved": [c.resolved_at.is_(None)],
        "open": [c.resolved_at.is_(None), c.assignee.is_(None)],
        "assigned": [c.resolved_at.is_(None), c.assignee.is_not(None)],
        "resolved": [c.resolved_at.is_not(None)],
        "all": [],
    }[state]


def listing(
    conn: Connection,
    f: InboxFilter,
    *,
    stations_within: ColumnElement[bool] | None = None,
    places_within: ColumnElement[bool] | None = None,
) -> InboxPage:
    """Reports and suggestions newest first. `stations_within` (a condition on `station`)
    limits reports, `places_within` (on `station_suggestion.city`) suggestions: the caller's
    scope (`cloud.auth.scope.Scope.where` / `.places`)."""
    parts = []
    if f.kind in (None, "report"):
        q = _reports().where(*_state(REPORT, f.state))
        if stations_within is not None:
            q = q.where(stations_within)
        if f.station:
            q = q.where(REPORT.c.station_id == f.station)
        if f.city:
            q = q.where(STATION.c.city == f.city)
        if f.category:
            q = q.where(REPORT.c.kind == f.category)
        if f.assignee:
            q = q.where(REPORT.c.assignee == f.assignee)
        parts.append(q)
    if f.kind in (None, "suggestion") and not f.station and not f.category:
        q = _suggestions().where(*_state(SUGGESTION, f.state))
        if places_within is not None:
            q = q.where(places_within)
        if f.city:
            q = q.where(SUGGESTION.c.city == f.city)
        if f.assignee:
            q = q.where(SUGGESTION.c.assignee == f.assignee)
        parts.append(q)
    if not parts:
        return InboxPage(total=0, items=[])
    both = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery("inbox")
    total = conn.execute(select(func.count()).select_from(both)).scalar_one()
    rows = conn.execute(
        select(both)
        .order_by(both.c.created_at.desc(), both.c.kind, both.c.id.desc())
        .limit(f.limit)
        .offset(f.offset)
    ).mappings()
    return InboxPage(total=total, items=[InboxItem.model_validate(dict(r)) for r in rows])


def _table(kind: ItemKind) -> Table:
    return REPORT if kind == "report" else SUGGESTION


def get_item(conn: Connection, kind: ItemKind, item_id: int) -> InboxItem | None:
    query = _reports() if kind == "report" else _suggestions()
    row = conn.execute(query.where(_table(kind).c.id == item_id)).mappings().first()
    return None if row is None else InboxItem.model_validate(dict(row))


def _reviewing(t: Table, now: datetime) -> dict[str, Any]:
    """Values that move a `received` ticket to `under_review` (and leave others alone)."""
    received = t.c.state == "received"
    return {
        "state": case((received, "under_review"), else_=t.c.state),
        "state_at": case((received, literal(now, UTCDateTime())), else_=t.c.state_at),
    }


def assign(
    conn: Connection, kind: ItemKind, item_id: int, assignee: str | None, now: datetime
) -> None:
    """Put `assignee` (an ops account the caller checked) on the item, or nobody (None)."""
    t = _table(kind)
    values: dict[str, Any] = {"assignee": assignee, "assigned_at": now if assignee else None}
    if assignee:
        values |= _reviewing(t, now)
    conn.execute(update(t).where(t.c.id == item_id).values(**values))


def reply(conn: Connection, kind: ItemKind, item_id: int, text: str, now: datetime) -> None:
    """Set the union's reply (cleaned plain text, at most REPLY_MAX characters)."""
    t = _table(kind)
    values = {"resolution": text, "replied_at": now} | _reviewing(t, now)
    conn.execute(update(t).where(t.c.id == item_id).values(**values))


def close(
    conn: Connection,
    kind: ItemKind,
    item_id: int,
    *,
    outcome: str,
    by: str,
    note: str,
    now: datetime,
    built_station_id: str | None = None,
) -> bool:
    """Close it with `outcome` (one of OUTCOMES[kind]); False when it was already closed
    (the first closing stands). A non-empty `note` becomes the reply."""
    t = _table(kind)
    values: dict[str, Any] = {
        "state": outcome, "state_at": now, "resolved_at": now, "resolved_by": by,
    }  # fmt: skip
    if note:
        values |= {"resolution": note, "replied_at": now}
    if outcome == "built":
        values["built_station_id"] = built_station_id
    statement = update(t).where(t.c.id == item_id, t.c.resolved_at.is_(None)).values(**values)
    return bool(conn.execute(statement).rowcount)


def open_counts(conn: Connection, station_ids: Collection[str]) -> dict[str, int]:
    """Unresolved reports per station, for a page of stations: one grouped query on the
    (station, id) index. Stations without any are absent."""
    if not station_ids:
        return {}
    rows = conn.execute(
        select(REPORT.c.station_id, func.count())
        .where(REPORT.c.station_id.in_(sorted(set(station_ids))), REPORT.c.resolved_at.is_(None))
        .group_by(REPORT.c.station_id)
    ).all()
    return {sid: int(n) for sid, n in rows}
