"""Ops commands over HTTP: send one to a station, follow its outcome.

`unlock`, `rebirth` and `sync` need `operator`; `reboot` (the door stops for a minute) needs
`admin`. A command is answered 202: the broker has it, the station's answer comes later
(`GET /api/v1/ops/commands/{cmd_id}`); 503 when the broker did not take it. Only stations in
the caller's scope (`cloud.api.scoping`): others answer 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from cloud.api.deps import ContextDep
from cloud.api.scoping import command_access, station_access
from cloud.auth import Principal, Role
from cloud.commands import service
from cloud.models import Station, table
from cloud.mqttpub import PublishError, publish_once
from protocol.broker import BrokerUrl

StationViewer = Annotated[Principal, Depends(station_access(Role.VIEWER))]
StationOperator = Annotated[Principal, Depends(station_access(Role.OPERATOR))]
CommandViewer = Annotated[Principal, Depends(command_access(Role.VIEWER))]
STATION = table(Station)
NEEDS = {"unlock": Role.OPERATOR, "rebirth": Role.OPERATOR, "sync": Role.OPERATOR}
NEEDS["reboot"] = Role.ADMIN

router = APIRouter(prefix="/api/v1/ops", tags=["ops"])


class CommandRequest(BaseModel):
    name: service.Name
    args: dict[str, Any] = Field(default_factory=dict, max_length=16)
    ttl_s: float = Field(default=30, ge=5, le=3600, description="the station refuses it after")


def publisher(request: Request) -> service.Publish:
    """How this app reaches the broker: `app.state.publish` if a test or the demo set one,
    else a short connection to `settings.broker` per command."""
    custom: service.Publish | None = getattr(request.app.state, "publish", None)
    if custom is not None:
        return custom
    ctx = request.app.state.ctx
    broker = BrokerUrl.parse(ctx.settings.broker)
    return lambda messages: publish_once(broker, messages, client_id="")


@router.post("/stations/{sid}/commands", status_code=202, response_model=service.CommandView)
def send_command(
    ctx: ContextDep,
    principal: StationOperator,
    sid: str,
    body: CommandRequest,
    publish: Annotated[service.Publish, Depends(publisher)],
) -> service.CommandView:
    if not principal.role.at_least(NEEDS[body.name]):
        raise HTTPException(403, f"{body.name} needs role {NEEDS[body.name].value}")
    with ctx.engine.connect() as conn:
        if conn.execute(select(STATION.c.id).where(STATION.c.id == sid)).first() is None:
            raise HTTPException(404, f"no station {sid!r}")
    try:
        return service.send(
            ctx.engine, publish, principal, sid, body.name, body.args,
            ttl_s=body.ttl_s, now=ctx.clock(),
        )  # fmt: skip
    except PublishError as exc:
        raise HTTPException(503, f"the broker did not take the command: {exc}") from exc


@router.get("/stations/{sid}/commands", response_model=list[service.CommandView])
def station_commands(
    ctx: ContextDep, _: StationViewer, sid: str, limit: Annotated[int, Query(ge=1, le=200)] = 20
) -> list[service.CommandView]:
    """The station's recent commands, newest first."""
    return service.recent(ctx.engine, sid, ctx.clock(), limit)


@router.get("/commands/{cmd_id}", response_model=service.CommandView)
def command(ctx: ContextDep, _: CommandViewer, cmd_id: str) -> service.CommandView:
    found = service.get(ctx.engine, cmd_id, ctx.clock())
    if found is None:
        raise HTTPException(404, f"no command {cmd_id!r}")
    return found
