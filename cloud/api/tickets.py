"""Feedback tickets over HTTP: anyone with a ticket number reads its state; operators move
it (under review, resolved, built with the station, declined) with a reply the worker sees.

The public lookup is read-only and rate-limited with the other public reads; a malformed
number is a 404 like an unknown one (no oracle for the format beyond the docs). Moving a
ticket needs `operator` and is audited; resolving or declining a `locked`/`closed`/`broken`
report this way clears the station's `reported_locked` flag, as the ops resolve endpoint does.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field, field_validator

from cloud.api.deps import ContextDep
from cloud.api.scoping import ticket_access
from cloud.auth import Principal, Role, audit
from cloud.feedback import locked, tickets
from cloud.feedback.models import TEXT_MAX
from cloud.feedback.text import clean

# Within the caller's scope (cloud.api.scoping): a report's ticket by its station.
Operator = Annotated[Principal, Depends(ticket_access(Role.OPERATOR))]
router = APIRouter(prefix="/api/v1", tags=["feedback"])
ops_router = APIRouter(prefix="/api/v1/ops", tags=["ops"])


class StateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["under_review", "resolved", "built", "declined", "closed"]
    note: str = Field(default="", max_length=4 * TEXT_MAX, description="reply, plain text")
    station_id: str | None = Field(default=None, max_length=40, description="for `built`")

    @field_validator("note")
    @classmethod
    def _clean_note(cls, value: str) -> str:
        return clean(value, max_chars=TEXT_MAX)


@router.get("/tickets/{ticket}", response_model=tickets.TicketView)
def ticket_status(ctx: ContextDep, ticket: str) -> tickets.TicketView:
    """A report's or suggestion's public state by its ticket number (`R-…`, `S-…`; case,
    spaces and a missing dash do not matter)."""
    code = tickets.normalise(ticket[:40])
    view = None
    if code is not None:
        with ctx.engine.connect() as conn:
            view = tickets.lookup(conn, code)
    if view is None:
        raise HTTPException(404, "no such ticket")
    return view


@ops_router.post("/tickets/{ticket}/state", response_model=tickets.TicketView)
def set_ticket_state(
    ctx: ContextDep, principal: Operator, ticket: str, body: StateIn
) -> tickets.TicketView:
    """Move a ticket on: `under_review`; for a report `resolved` or `declined`; for a
    suggestion `built` (with `station_id`), `declined` or `closed`. 409 when it is already
    final."""
    code = tickets.normalise(ticket[:40])
    if code is None:
        raise HTTPException(404, "no such ticket")
    now = ctx.clock()
    with ctx.engine.begin() as conn:
        try:
            after = tickets.set_state(
                conn, code, body.state, by=principal.username, note=body.note, now=now,
                station_id=body.station_id,
            )  # fmt: skip
        except LookupError:
            raise HTTPException(404, "no such ticket") from None
        except tickets.TicketError as exc:
            final = "already" in str(exc)
            raise HTTPException(409 if final else 422, str(exc)) from None
        detail = {"state": body.state, "station": body.station_id}
        audit(conn, principal, "ticket.state", f"ticket:{code}", detail, at=now)
        if after.kind == "report" and body.state != "under_review" and after.station_id:
            locked.on_resolve(conn, after.station_id, after.subject, now)
    if after.kind == "report" and after.station_id:
        ctx.live.forget(after.station_id)
    return after
