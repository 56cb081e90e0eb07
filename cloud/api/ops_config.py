"""A station's desired config over HTTP: read it, set its override, publish it.

`GET` needs `operator`; `PUT` needs `admin` (the override sets door timings and free-entry
hours: who may walk in without a code). A `PUT` body is the station's whole override — what
it does not name is removed, so one screen always shows and sets all of it. The cloud merges
in the sections it owns (cloud.stations.desired_config) and publishes the document retained on
`ws/v1/{sid}/config` under the next `config_version`. The new version is stored and audited
before publishing; 503 if the broker did not take it (`waystation stations push-config`
publishes it again later). Only stations in the caller's scope (`cloud.api.scoping`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from cloud.api.deps import ContextDep
from cloud.api.ops_commands import publisher
from cloud.api.scoping import scoped, station_access
from cloud.auth import Principal, Role, audit
from cloud.commands import service
from cloud.mqttpub import PublishError
from cloud.stations import desired_config

Operator = Annotated[Principal, Depends(station_access(Role.OPERATOR))]
Admin = Annotated[Principal, Depends(station_access(Role.ADMIN))]
# Many stations at once: the selection is filtered by the caller's scope (admins, the only
# role allowed, are union-wide today; the filter keeps it right if that changes).
FleetAdmin = Annotated[Principal, Depends(scoped(Role.ADMIN))]

router = APIRouter(prefix="/api/v1/ops", tags=["ops"])


class ConfigIn(BaseModel):
    override: dict[str, Any] = Field(
        max_length=8, description="the whole override: door, schedule (free), access, …"
    )


class ConfigView(BaseModel):
    station_id: str
    config_version: int = Field(description="of the desired document")
    applied_version: int | None = Field(description="as the station last reported")
    override: dict[str, Any]
    document: dict[str, Any] = Field(description="what is published: override + cloud sections")
    set_by: str
    changed_at: datetime
    published_at: datetime | None


def _read(ctx: Any, sid: str) -> ConfigView:
    with ctx.engine.connect() as conn:
        found = desired_config.view(conn, sid)
    if found is None:
        raise HTTPException(404, f"no desired config for station {sid!r}")
    return ConfigView.model_validate(found)


@router.get("/stations/{sid}/config", response_model=ConfigView)
def station_config(ctx: ContextDep, _: Operator, sid: str) -> ConfigView:
    return _read(ctx, sid)


@router.put("/stations/{sid}/config", response_model=ConfigView)
def set_station_config(
    ctx: ContextDep,
    principal: Admin,
    sid: str,
    body: ConfigIn,
    publish: Annotated[service.Publish, Depends(publisher)],
) -> ConfigView:
    now = ctx.clock()
    with ctx.engine.begin() as conn:
        try:
            message = desired_config.set_override(
                conn, sid, body.override, by=principal.username, now=now
            )
        except desired_config.OverrideError as exc:
            raise HTTPException(422, f"override.{exc}") from exc
        if message is None:
            raise HTTPException(404, f"no station {sid!r}")
        detail = {"override": body.override, "config_version": desired_config.version_of(message)}
        audit(conn, principal, "config.set", f"station:{sid}", detail, at=now)
    try:
        publish([message])
    except PublishError as exc:
        raise HTTPException(503, f"stored, but the broker did not take it: {exc}") from exc
    desired_config.mark_published(ctx.engine, [sid], now)
    return _read(ctx, sid)


# Stations one fleet-wide change may touch; past it, narrow the filter or use the CLI.
MAX_BULK = 20_000


class BulkTarget(BaseModel):
    """The stations a fleet-wide change is for: every station matching all the filters
    given, within the caller's scope (`bulk_stations`)."""

    city: str | None = Field(default=None, max_length=60)
    operator: str | None = Field(default=None, max_length=120)
    stations: list[str] | None = Field(default=None, max_length=MAX_BULK)


def bulk_stations(conn: Connection, body: BulkTarget, principal: Principal) -> list[str]:
    """The ids `body` selects in `principal`'s scope; 422 when it names no filter or selects
    more than MAX_BULK stations (for the config and the thresholds bulk routes)."""
    if body.city is None and body.operator is None and body.stations is None:
        raise HTTPException(422, "city, operator or stations: name the stations to change")
    sids = desired_config.select_stations(
        conn,
        city=body.city,
        operator=body.operator,
        ids=body.stations,
        within=principal.scope.where(),
    )
    if len(sids) > MAX_BULK:
        raise HTTPException(422, f"stations: {len(sids)} match, at most {MAX_BULK} at once")
    return sids


class BulkConfigIn(BulkTarget):
    """A change laid over the override of every station matching all the filters given.
    `sections` as in `desired_config.merged`: `{"door": {"pulse_s": 3}}` sets one timing and
    keeps the rest; a null value removes a key. `apply: false` previews only."""

    sections: dict[str, Any] = Field(min_length=1, max_length=8)
    apply: bool = False


class BulkConfigOut(BaseModel):
    matched: int = Field(description="stations the filters select")
    station_ids: list[str] = Field(description="the first 50 of them")
    applied: bool
    published: int = Field(description="messages the broker took (0 in a preview)")


@router.post("/config/bulk", response_model=BulkConfigOut)
def set_fleet_config(
    ctx: ContextDep,
    principal: FleetAdmin,
    body: BulkConfigIn,
    publish: Annotated[service.Publish, Depends(publisher)],
) -> BulkConfigOut:
    """Preview (`apply: false`, the default) or apply one change to many stations' desired
    configs: all stored and audited in one transaction, then published."""
    now = ctx.clock()
    with ctx.engine.begin() as conn:
        sids = bulk_stations(conn, body, principal)
        if not body.apply:
            try:
                desired_config.check_override(
                    {k: v for k, v in body.sections.items() if v is not None}
                )
            except desired_config.OverrideError as exc:
                raise HTTPException(422, f"sections.{exc}") from exc
            return BulkConfigOut(
                matched=len(sids), station_ids=sids[:50], applied=False, published=0
            )
        try:
            messages = desired_config.set_sections(
                conn, sids, body.sections, by=principal.username, now=now
            )
        except desired_config.OverrideError as exc:
            raise HTTPException(422, f"sections.{exc}") from exc
        filters = body.model_dump(include={"city", "operator"}, exclude_none=True)
        detail = {"filters": filters, "sections": body.sections, "stations": len(sids)}
        audit(conn, principal, "config.bulk", f"stations:{len(sids)}", detail, at=now)
    try:
        publish(messages)
    except PublishError as exc:
        raise HTTPException(503, f"stored, but the broker did not take it: {exc}") from exc
    desired_config.mark_published(ctx.engine, sids, now)
    return BulkConfigOut(
        matched=len(sids), station_ids=sids[:50], applied=True, published=len(messages)
    )
