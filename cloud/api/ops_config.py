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

from cloud.api.deps import ContextDep
from cloud.api.ops_commands import publisher
from cloud.api.scoping import station_access
from cloud.auth import Principal, Role, audit
from cloud.commands import service
from cloud.mqttpub import PublishError
from cloud.stations import desired_config

Operator = Annotated[Principal, Depends(station_access(Role.OPERATOR))]
Admin = Annotated[Principal, Depends(station_access(Role.ADMIN))]

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
