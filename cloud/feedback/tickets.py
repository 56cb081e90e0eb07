"""Feedback tickets: the number a worker gets for a report or a suggestion, and its public
state, so the loop closes ("received" → "under review" → built / declined / resolved).

A ticket is `R-` (report) or `S-` (suggestion) and 8 characters of an alphabet without the
look-alikes 0/O/1/I, random (40 bits): knowing one ticket tells nothing about another, so the
public lookup needs no login and lists nothing. What the lookup shows is what the worker
sent about a station (kind, place name) and the operators' reply; never who sent it (nothing
identifying is stored) and never another ticket's content.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import Connection, select, update

from cloud.feedback.models import REPORT_STATES, SUGGESTION_STATES
from cloud.feedback.records import REPORT, STATION, SUGGESTION

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # 32 symbols, no 0/O/1/I
TICKET_RE = re.compile(r"^[RS]-[2-9A-HJ-NP-Z]{8}$")
Kind = Literal["report", "suggestion"]


def new_ticket(kind: Kind) -> str:
    prefix = "R" if kind == "report" else "S"
    return f"{prefix}-" + "".join(secrets.choice(ALPHABET) for _ in range(8))


def normalise(text: str) -> str | None:
    """`s-7k3m 9qxa` → `S-7K3M9QXA` (what a worker copies or types); None if not a ticket."""
    t = re.sub(r"[\s_]", "", text).upper()
    if len(t) == 9 and t[0] in "RS" and t[1] != "-":
        t = f"{t[0]}-{t[1:]}"
    return t if TICKET_RE.match(t) else None


class TicketView(BaseModel):
    """A ticket as anyone holding its number sees it."""

    ticket: str
    kind: Kind
    state: str = Field(
        description="report: received, under_review, resolved; suggestion: received, "
        "under_review, built, declined, closed"
    )
    created_at: datetime
    state_at: datetime | None = Field(description="when the state last changed")
    subject: str = Field(description="report: its kind (locked, broken …); suggestion: the name")
    station_id: str | None = Field(
        description="report: the station; suggestion: the station built from it, once built"
    )
    station_name: str | None = None
    reply: str = Field(
        description="the union's reply, plain text (show as text); never who wrote it"
    )


def lookup(conn: Connection, ticket: str) -> TicketView | None:
    if ticket.startswith("R-"):
        row = conn.execute(
            select(
                REPORT.c.ticket, REPORT.c.state, REPORT.c.created_at, REPORT.c.state_at,
                REPORT.c.kind, REPORT.c.station_id, STATION.c.name, REPORT.c.resolution,
            )
            .join(STATION, STATION.c.id == REPORT.c.station_id)
            .where(REPORT.c.ticket == ticket)
        ).first()  # fmt: skip
        kind: Kind = "report"
    else:
        row = conn.execute(
            select(
                SUGGESTION.c.ticket, SUGGESTION.c.state, SUGGESTION.c.created_at,
                SUGGESTION.c.state_at, SUGGESTION.c.name, SUGGESTION.c.built_station_id,
                STATION.c.name, SUGGESTION.c.resolution,
            )
            .outerjoin(STATION, STATION.c.id == SUGGESTION.c.built_station_id)
            .where(SUGGESTION.c.ticket == ticket)
        ).first()  # fmt: skip
        kind = "suggestion"
    if row is None:
        return None
    code, state, created, state_at, subject, sid, sname, reply = row
    return TicketView(
        ticket=code, kind=kind, state=state, created_at=created, state_at=state_at,
        subject=subject, station_id=sid, station_name=sname, reply=reply or "",
    )  # fmt: skip


class TicketError(ValueError):
    """A state change that cannot be: the message says why (the API answers 409/422 with it)."""


def set_state(
    conn: Connection,
    ticket: str,
    state: str,
    *,
    by: str,
    note: str,
    now: datetime,
    station_id: str | None = None,
) -> TicketView:
    """Move a ticket to `state`; a final state (resolved, built, declined, closed) also
    resolves it as the ops resolve endpoints do. `built` needs `station_id`, a registered
    station. LookupError: no such ticket; TicketError: not a state of its kind, or the
    ticket is already final."""
    current = lookup(conn, ticket)
    if current is None:
        raise LookupError(ticket)
    allowed = REPORT_STATES if current.kind == "report" else SUGGESTION_STATES
    if state not in allowed or state == "received":
        raise TicketError(f"a {current.kind} ticket can be set to {', '.join(allowed[1:])}")
    if current.state not in ("received", "under_review"):
        raise TicketError(f"ticket {ticket} is already {current.state}")
    if state == "built":
        if not station_id:
            raise TicketError("state built needs station_id, the station that was built")
        known = conn.execute(select(STATION.c.id).where(STATION.c.id == station_id)).first()
        if known is None:
            raise TicketError(f"station {station_id!r} is not registered")
    t = REPORT if current.kind == "report" else SUGGESTION
    values: dict[str, object] = {"state": state, "state_at": now}
    if note:
        values |= {"resolution": note, "replied_at": now}
    if state != "under_review":
        values |= {"resolved_at": now, "resolved_by": by}
    if state == "built":
        values["built_station_id"] = station_id
    conn.execute(update(t).where(t.c.ticket == ticket).values(**values))
    after = lookup(conn, ticket)
    assert after is not None
    return after
