"""Ops API for maintenance windows (`cloud.stations.maintenance`): a station's windows, start
one now or plan one, end an active one, cancel a planned one; and the fleet's active and
planned windows. Reading needs `viewer`, changing `operator` (admins everywhere, operators
within their scope: `cloud.api.scoping`); every change is audited with the window.

A bad request answers 422 naming the field (`reason` too long or empty, `ends_at` before
`starts_at`, a time without a zone), a clash with another window 409.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field, field_validator

from cloud.api.deps import ContextDep, RowId
from cloud.api.scoping import scoped, station_access
from cloud.auth import Principal, Role
from cloud.feedback.text import clean
from cloud.stations import maintenance
from cloud.stations.maintenance import REASON_MAX, MaintenanceError, WindowView

Viewer = Annotated[Principal, Depends(scoped(Role.VIEWER))]
StationViewer = Annotated[Principal, Depends(station_access(Role.VIEWER))]
StationOperator = Annotated[Principal, Depends(station_access(Role.OPERATOR))]

router = APIRouter(prefix="/api/v1/ops", tags=["ops"])


class WindowRequest(BaseModel):
    """Leave `starts_at` out to start now; leave `ends_at` out for "until ended"."""

    reason: str = Field(min_length=1, max_length=REASON_MAX * 2, description="shown to workers")
    starts_at: datetime | None = Field(default=None, description="with a zone; None: now")
    ends_at: datetime | None = Field(default=None, description="expected end, with a zone")

    @field_validator("reason")
    @classmethod
    def _clean(cls, value: str) -> str:
        text = clean(value, max_chars=REASON_MAX)
        if not text:
            raise ValueError("must not be empty")
        return text

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("needs a time zone (e.g. +08:00 or Z)")
        return value


def _answer(exc: MaintenanceError) -> HTTPException:
    if exc.status == 422:  # the shape FastAPI gives its own validation errors
        detail = [{"loc": ["body", exc.field], "msg": exc.message, "type": "value_error"}]
        return HTTPException(422, detail)
    return HTTPException(exc.status, f"{exc.field}: {exc.message}")


@router.get("/stations/{sid}/maintenance", response_model=list[WindowView])
def station_windows(
    ctx: ContextDep, _: StationViewer, sid: str, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[WindowView]:
    """The station's windows, latest start first, each with its state now."""
    with ctx.engine.connect() as conn:
        return maintenance.station_list(conn, sid, ctx.clock(), limit)


@router.post("/stations/{sid}/maintenance", status_code=201, response_model=WindowView)
def create_window(
    ctx: ContextDep, principal: StationOperator, sid: str, body: WindowRequest
) -> WindowView:
    """Start maintenance now (no `starts_at`) or plan it; the station leaves the open map
    while the window is active."""
    try:
        return maintenance.create(
            ctx.engine, principal, sid, reason=body.reason, starts_at=body.starts_at,
            ends_at=body.ends_at, now=ctx.clock(),
        )  # fmt: skip
    except MaintenanceError as exc:
        raise _answer(exc) from exc


@router.post("/stations/{sid}/maintenance/{window_id}/end", response_model=WindowView)
def end_window(
    ctx: ContextDep, principal: StationOperator, sid: str, window_id: RowId
) -> WindowView:
    """End an active window now: the station is judged as usual again."""
    try:
        return maintenance.end(ctx.engine, principal, sid, window_id, ctx.clock())
    except MaintenanceError as exc:
        raise _answer(exc) from exc


@router.post("/stations/{sid}/maintenance/{window_id}/cancel", response_model=WindowView)
def cancel_window(
    ctx: ContextDep, principal: StationOperator, sid: str, window_id: RowId
) -> WindowView:
    """Cancel a window that has not started yet."""
    try:
        return maintenance.cancel(ctx.engine, principal, sid, window_id, ctx.clock())
    except MaintenanceError as exc:
        raise _answer(exc) from exc


@router.get("/maintenance", response_model=list[WindowView])
def fleet_windows(
    ctx: ContextDep, principal: Viewer, limit: Annotated[int, Query(ge=1, le=1000)] = 500
) -> list[WindowView]:
    """Active and planned windows of the caller's stations, soonest start first."""
    with ctx.engine.connect() as conn:
        return maintenance.fleet_list(
            conn, ctx.clock(), within=principal.scope.where(), limit=limit
        )
