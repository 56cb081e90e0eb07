"""Workers' feedback over HTTP: public "report a problem" and "suggest a station here", and
the ops side that lists and resolves them.

The public POSTs need no login. They are limited per client IP (a token bucket stricter than
the read API's: `FEEDBACK_BURST` at once, then one per `1 / FEEDBACK_RATE_PER_S` seconds) and
by size: the body is read up to `MAX_BODY_BYTES` and refused past it, before any parsing.
Bad input is a 4xx whose `detail` says what is wrong. Reading needs `viewer`; resolving needs
`operator` and is written to the audit log in the same transaction.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.concurrency import run_in_threadpool

from cloud.api.deps import Before, ContextDep, RowId
from cloud.api.ratelimit import TokenBuckets
from cloud.api.scoping import report_access, scoped, suggestion_access
from cloud.auth import Principal, Role, audit
from cloud.client_address import address_key
from cloud.feedback import locked, records, tickets
from cloud.feedback.models import NAME_MAX, REPORT_KINDS, TEXT_MAX
from cloud.feedback.text import clean
from cloud.stations import gcj02

Viewer = Annotated[Principal, Depends(scoped(Role.VIEWER))]
ReportOperator = Annotated[Principal, Depends(report_access(Role.OPERATOR))]
SuggestionOperator = Annotated[Principal, Depends(suggestion_access(Role.OPERATOR))]

MAX_BODY_BYTES = 8_192  # 500 CJK characters are 1.5 kB of UTF-8; JSON escapes can triple it
FEEDBACK_RATE_PER_S = 1 / 30  # sustained: two a minute per client IP
FEEDBACK_BURST = 5  # at once, e.g. a report and a suggestion and a retry or two

router = APIRouter(prefix="/api/v1", tags=["feedback"])
ops_router = APIRouter(prefix="/api/v1/ops", tags=["ops"])

ReportKind = Literal["locked", "closed", "broken", "dirty", "other"]
assert set(REPORT_KINDS) == set(ReportKind.__args__)  # type: ignore[attr-defined]


class ReportIn(BaseModel):
    """A problem at a station, as the finder sends it."""

    model_config = ConfigDict(extra="forbid")

    station_id: str = Field(min_length=1, max_length=40)
    kind: ReportKind
    text: str = Field(default="", max_length=4 * TEXT_MAX, description="optional, plain text")

    @field_validator("text")
    @classmethod
    def _clean_text(cls, value: str) -> str:
        return clean(value, max_chars=TEXT_MAX)


class SuggestionIn(BaseModel):
    """ "Put a station here". `coord` says the datum of lat/lon (stored as WGS-84)."""

    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    name: str = Field(max_length=4 * NAME_MAX)
    note: str = Field(default="", max_length=4 * TEXT_MAX, description="optional, plain text")
    coord: Literal["wgs84", "gcj02"] = "wgs84"

    @field_validator("name")
    @classmethod
    def _clean_name(cls, value: str) -> str:
        name = clean(value, max_chars=NAME_MAX)
        if not name or "\n" in name:
            raise ValueError("name must be one line of text")
        return name

    @field_validator("note")
    @classmethod
    def _clean_note(cls, value: str) -> str:
        return clean(value, max_chars=TEXT_MAX)


class Created(BaseModel):
    id: int
    status: Literal["received"] = "received"
    ticket: str = Field(description="public ticket number: GET /api/v1/tickets/{ticket}")
    url: str = Field(description="the finder's page for the ticket (relative)")


def _created(new_id: int, ticket: str) -> Created:
    return Created(id=new_id, ticket=ticket, url=f"/#/ticket/{ticket}")


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=4 * TEXT_MAX)

    @field_validator("note")
    @classmethod
    def _clean_note(cls, value: str) -> str:
        return clean(value, max_chars=TEXT_MAX)


def _buckets(request: Request) -> TokenBuckets:
    buckets: TokenBuckets | None = getattr(request.app.state, "feedback_buckets", None)
    if buckets is None:  # one per app (tests run several apps in one process)
        buckets = request.app.state.feedback_buckets = TokenBuckets(
            FEEDBACK_RATE_PER_S, FEEDBACK_BURST
        )
    return buckets


async def _limited_body(request: Request) -> bytes:
    """The body, at most MAX_BODY_BYTES (413 past it, read no further); 429 when this client
    has sent too much feedback lately. The rate is checked first, so a flood costs no reads."""
    # Counted as every limit counts clients: an IPv6 client by its /64, so a phone cannot
    # dodge the limit (or flag stations) by hopping addresses within its own prefix.
    client = address_key(request.client.host if request.client else None)
    wait = _buckets(request).take(client)
    if wait > 0:
        retry = str(max(1, math.ceil(wait)))
        raise HTTPException(
            429, "too many reports from here; try again later", {"Retry-After": retry}
        )
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != "application/json":  # also keeps plain cross-site HTML forms out
        raise HTTPException(415, "send the body as application/json")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise HTTPException(413, f"request body over {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(413, f"request body over {MAX_BODY_BYTES} bytes")
    return bytes(body)


M = TypeVar("M", bound=BaseModel)


def _parse(model: type[M], body: bytes) -> M:
    """422 naming each bad field in plain words (the finder shows `detail` as is)."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False, include_input=False):
            where = ".".join(str(p) for p in err["loc"]) or "body"
            problems.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
        raise HTTPException(422, "; ".join(problems)) from None


def _json_body(model: type[BaseModel]) -> dict[str, object]:
    """OpenAPI for a body read by hand (so its size is bounded before parsing)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


@router.post(
    "/reports", status_code=201, response_model=Created, openapi_extra=_json_body(ReportIn)
)
async def report_problem(
    ctx: ContextDep, body: Annotated[bytes, Depends(_limited_body)]
) -> Created:
    """Report a problem at a station: `locked`, `closed`, `broken`, `dirty` or `other`, with
    optional text (plain text, at most 500 characters). 404 when the station is unknown or
    retired.
    The answer carries a ticket number to follow it (`GET /api/v1/tickets/{ticket}`).
    `locked`, `closed` and `broken` mark the station `reported_locked` (not open now) unless
    its door admitted a member in the last 15 minutes: see `cloud.feedback.locked`."""
    report = _parse(ReportIn, body)
    ticket = tickets.new_ticket("report")

    def write() -> int:
        now = ctx.clock()
        with ctx.engine.begin() as conn:
            new_id = records.add_report(
                conn,
                station_id=report.station_id,
                kind=report.kind,
                text=report.text,
                now=now,
                ticket=ticket,
            )
            flagged = locked.on_report(conn, report.station_id, report.kind, now)
        if flagged:  # the next search shows it, not one a second later
            ctx.live.forget(report.station_id)
        return new_id

    try:
        new_id = await run_in_threadpool(write)
    except records.UnknownStationError:
        raise HTTPException(404, f"station {report.station_id!r} not found") from None
    return _created(new_id, ticket)


@router.post(
    "/suggestions",
    status_code=201,
    response_model=Created,
    openapi_extra=_json_body(SuggestionIn),
)
async def suggest_station(
    ctx: ContextDep, body: Annotated[bytes, Depends(_limited_body)]
) -> Created:
    """Suggest a station at a point (WGS-84, or GCJ-02 with `coord`), with a name (one line,
    at most 120 characters) and an optional note (at most 500)."""
    s = _parse(SuggestionIn, body)
    lat, lon = gcj02.gcj02_to_wgs84(s.lat, s.lon) if s.coord == "gcj02" else (s.lat, s.lon)
    ticket = tickets.new_ticket("suggestion")

    def write() -> int:
        with ctx.engine.begin() as conn:
            return records.add_suggestion(
                conn, lat=lat, lon=lon, name=s.name, note=s.note, now=ctx.clock(), ticket=ticket
            )

    return _created(await run_in_threadpool(write), ticket)


@ops_router.get("/reports", response_model=records.ReportPage)
def list_reports(
    ctx: ContextDep,
    principal: Viewer,
    status: records.StatusFilter = "open",
    station: Annotated[str | None, Query(max_length=40)] = None,
    before: Before = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> records.ReportPage:
    """Problem reports about stations in the caller's scope, newest first; `text` is plain
    text (show it as text, never as HTML)."""
    within = principal.scope.where()
    with ctx.engine.connect() as conn:
        return records.reports(
            conn, status=status, station=station, before=before, limit=limit, within=within
        )


@ops_router.get("/suggestions", response_model=records.SuggestionPage)
def list_suggestions(
    ctx: ContextDep,
    principal: Viewer,
    status: records.StatusFilter = "open",
    before: Before = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> records.SuggestionPage:
    """Suggested stations (WGS-84), newest first; `name` and `note` are plain text. A
    scoped account sees those in its cities (`city`, cloud.feedback.city); one limited to
    operators/partners sees none (a suggestion belongs to no partner yet)."""
    within = principal.scope.places(records.SUGGESTION.c.city)
    with ctx.engine.connect() as conn:
        return records.suggestions(conn, status=status, before=before, limit=limit, within=within)


ResolveBody = Annotated[ResolveIn | None, Body()]


@ops_router.post("/reports/{report_id}/resolve", response_model=records.ReportView)
def resolve_report(
    ctx: ContextDep, principal: ReportOperator, report_id: RowId, body: ResolveBody = None
) -> records.ReportView:
    """Close a report with an optional note; the first resolution stands (repeating it
    changes nothing and is not audited again). Resolving a `locked`, `closed` or `broken`
    report clears the station's `reported_locked` flag and its alarm."""
    note = body.note if body else ""
    now = ctx.clock()
    with ctx.engine.begin() as conn:
        before = records.get_report(conn, report_id)
        if before is None:
            raise HTTPException(404, f"no report {report_id}")
        if records.resolve_report(conn, report_id, by=principal.username, note=note, now=now):
            detail = {"station": before.station_id, "kind": before.kind}
            audit(conn, principal, "report.resolve", f"report:{report_id}", detail, at=now)
            locked.on_resolve(conn, before.station_id, before.kind, now)
        after = records.get_report(conn, report_id)
    assert after is not None
    ctx.live.forget(before.station_id)
    return after


@ops_router.post("/suggestions/{suggestion_id}/resolve", response_model=records.SuggestionView)
def resolve_suggestion(
    ctx: ContextDep, principal: SuggestionOperator, suggestion_id: RowId, body: ResolveBody = None
) -> records.SuggestionView:
    """Close a suggestion (built, declined, duplicate: say so in the note)."""
    note = body.note if body else ""
    now = ctx.clock()
    with ctx.engine.begin() as conn:
        if records.get_suggestion(conn, suggestion_id) is None:
            raise HTTPException(404, f"no suggestion {suggestion_id}")
        if records.resolve_suggestion(
            conn, suggestion_id, by=principal.username, note=note, now=now
        ):
            target = f"suggestion:{suggestion_id}"
            audit(conn, principal, "suggestion.resolve", target, {}, at=now)
        after = records.get_suggestion(conn, suggestion_id)
    assert after is not None
    return after
