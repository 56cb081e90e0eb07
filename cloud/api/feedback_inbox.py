"""The ops feedback inbox over HTTP (`cloud.feedback.inbox`): workers' reports and
suggestions in one list, by station, city, state and kind; assign one to an ops account,
reply to the worker, close it (resolved, declined; a suggestion built or closed).

Reading needs `viewer`, acting `operator`; every action is audited in its transaction. Each
account sees what its scope allows (`cloud.api.scoping`): reports by their station, and
suggestions by their city (`cloud.feedback.city`; none for partner-scoped accounts). An
out-of-scope item answers 404 like a missing one. Closing a `locked`, `closed` or `broken`
report clears the station's `reported_locked` flag as the report resolve endpoint does.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Connection, select
from sqlmodel import Session

from cloud.api.deps import ContextDep
from cloud.api.scoping import FeedbackKind, RowIdPath, feedback_access, scoped
from cloud.auth import Principal, Role, audit
from cloud.auth.models import OpsUser
from cloud.auth.scope import load_scopes
from cloud.feedback import inbox, locked
from cloud.feedback.inbox import InboxFilter, InboxItem, InboxPage, InboxState
from cloud.feedback.models import REPLY_MAX, REPORT_KINDS
from cloud.feedback.text import clean
from cloud.models import Station, table

Viewer = Annotated[Principal, Depends(scoped(Role.VIEWER))]
ItemViewer = Annotated[Principal, Depends(feedback_access(Role.VIEWER))]
ItemOperator = Annotated[Principal, Depends(feedback_access(Role.OPERATOR))]
USER = OpsUser.__table__  # type: ignore[attr-defined]
STATION = table(Station)
ACTING = (Role.OPERATOR.value, Role.ADMIN.value)  # roles that can act on an item

router = APIRouter(prefix="/api/v1/ops", tags=["ops"])


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignee: str | None = Field(
        max_length=64, description="an operator or admin who can see the item; null: nobody"
    )


class ReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=4 * REPLY_MAX, description="plain text")

    @field_validator("text")
    @classmethod
    def _clean_text(cls, value: str) -> str:
        text = clean(value, max_chars=REPLY_MAX)
        if not text:
            raise ValueError("the reply is empty")
        return text


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: inbox.Outcome = Field(
        description="report: resolved or declined; suggestion: built, declined or closed"
    )
    note: str = Field(
        default="", max_length=4 * REPLY_MAX, description="replied to the worker when given"
    )
    station_id: str | None = Field(default=None, max_length=40, description="for `built`")

    @field_validator("note")
    @classmethod
    def _clean_note(cls, value: str) -> str:
        return clean(value, max_chars=REPLY_MAX)


@router.get("/feedback", response_model=InboxPage)
def feedback_inbox(
    ctx: ContextDep,
    principal: Viewer,
    state: InboxState = "unresolved",
    kind: FeedbackKind | None = None,
    station: Annotated[str | None, Query(max_length=40)] = None,
    city: Annotated[str | None, Query(max_length=60)] = None,
    category: Annotated[str | None, Query(max_length=16)] = None,
    mine: bool = False,
    assignee: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> InboxPage:
    """Reports and suggestions in the caller's scope, newest first, with the total for
    paging. `mine`: only those assigned to the caller. `station` and `category` (a report
    kind) list reports only. Texts are plain text: show them as text."""
    if category is not None and category not in REPORT_KINDS:
        raise HTTPException(422, f"category: one of {', '.join(REPORT_KINDS)}")
    f = InboxFilter(
        state=state, kind=kind, station=station, city=city, category=category,
        assignee=principal.username if mine else assignee, limit=limit, offset=offset,
    )  # fmt: skip
    stations, places = principal.scope.where(), principal.scope.places(inbox.SUGGESTION.c.city)
    with ctx.engine.connect() as conn:
        return inbox.listing(conn, f, stations_within=stations, places_within=places)


def _item(conn: Connection, kind: FeedbackKind, item_id: int) -> InboxItem:
    item = inbox.get_item(conn, kind, item_id)
    if item is None:
        raise HTTPException(404, f"no {kind} {item_id}")
    return item


@router.get("/feedback/{kind}/{item_id}", response_model=InboxItem)
def feedback_item(
    ctx: ContextDep, _: ItemViewer, kind: FeedbackKind, item_id: RowIdPath
) -> InboxItem:
    with ctx.engine.connect() as conn:
        return _item(conn, kind, item_id)


def _assignable(conn: Connection, item: InboxItem) -> list[str]:
    """Enabled operators and admins whose scope covers `item`, by name."""
    names = conn.execute(
        select(USER.c.username)
        .where(USER.c.role.in_(ACTING), USER.c.disabled.is_(False))
        .order_by(USER.c.username)
    ).scalars()
    scopes = load_scopes(Session(bind=conn))
    out = []
    for name in names:
        scope = scopes.get(name)
        if scope is None or (
            scope.allows(item.operator, item.city)
            if item.kind == "report"
            else scope.allows_place(item.city)
        ):
            out.append(name)
    return out


@router.get("/feedback/{kind}/{item_id}/assignees", response_model=list[str])
def feedback_assignees(
    ctx: ContextDep, _: ItemOperator, kind: FeedbackKind, item_id: RowIdPath
) -> list[str]:
    """The accounts the item can be assigned to: enabled operators and admins that see it."""
    with ctx.engine.connect() as conn:
        return _assignable(conn, _item(conn, kind, item_id))


@router.post("/feedback/{kind}/{item_id}/assign", response_model=InboxItem)
def assign_feedback(
    ctx: ContextDep, principal: ItemOperator, kind: FeedbackKind, item_id: RowIdPath, body: AssignIn
) -> InboxItem:
    """Put an account on the item (422 `assignee` unless it is one of `/assignees`), or
    nobody. A received ticket moves to under review; the worker never sees the name."""
    now = ctx.clock()
    name = body.assignee.strip().lower() if body.assignee else None
    with ctx.engine.begin() as conn:
        item = _item(conn, kind, item_id)
        if name is not None and name not in _assignable(conn, item):
            raise HTTPException(
                422, f"assignee: {name!r} is not an enabled operator or admin who sees this item"
            )
        inbox.assign(conn, kind, item_id, name, now)
        audit(conn, principal, "feedback.assign", f"{kind}:{item_id}", {"assignee": name}, at=now)
        return _item(conn, kind, item_id)


@router.post("/feedback/{kind}/{item_id}/reply", response_model=InboxItem)
def reply_feedback(
    ctx: ContextDep, principal: ItemOperator, kind: FeedbackKind, item_id: RowIdPath, body: ReplyIn
) -> InboxItem:
    """Reply to the worker (plain text, at most 1000 characters): the ticket page shows it
    as the union's reply. A newer reply replaces it; a received ticket moves to under review."""
    now = ctx.clock()
    with ctx.engine.begin() as conn:
        _item(conn, kind, item_id)
        inbox.reply(conn, kind, item_id, body.text, now)
        detail = {"chars": len(body.text)}
        audit(conn, principal, "feedback.reply", f"{kind}:{item_id}", detail, at=now)
        return _item(conn, kind, item_id)


@router.post("/feedback/{kind}/{item_id}/close", response_model=InboxItem)
def close_feedback(
    ctx: ContextDep, principal: ItemOperator, kind: FeedbackKind, item_id: RowIdPath, body: CloseIn
) -> InboxItem:
    """Close it: a report `resolved` or `declined`; a suggestion `built` (with `station_id`,
    a registered station), `declined` or `closed`. A note is replied to the worker. 409 when
    it is closed already (the first closing stands)."""
    if body.outcome not in inbox.OUTCOMES[kind]:
        raise HTTPException(422, f"outcome: a {kind} is closed {' or '.join(inbox.OUTCOMES[kind])}")
    if body.outcome == "built" and not body.station_id:
        raise HTTPException(422, "station_id: `built` needs the station that was built")
    now = ctx.clock()
    with ctx.engine.begin() as conn:
        item = _item(conn, kind, item_id)
        if body.outcome == "built":
            known = conn.execute(select(STATION.c.id).where(STATION.c.id == body.station_id))
            if known.first() is None:
                raise HTTPException(422, f"station_id: {body.station_id!r} is not registered")
        done = inbox.close(
            conn, kind, item_id, outcome=body.outcome, by=principal.username, note=body.note,
            now=now, built_station_id=body.station_id,
        )  # fmt: skip
        if not done:
            raise HTTPException(409, f"{kind} {item_id} is already {item.state}")
        detail = {"outcome": body.outcome, "station": item.station_id or body.station_id}
        audit(conn, principal, "feedback.close", f"{kind}:{item_id}", detail, at=now)
        if kind == "report" and item.station_id:
            locked.on_resolve(conn, item.station_id, item.category, now)
        after = _item(conn, kind, item_id)
    if kind == "report" and item.station_id:
        ctx.live.forget(item.station_id)  # the map shows the flag gone at once
    return after
