"""Ops API of alarm notifications (`cloud.notify`): channels, routing rules, daily digests,
test messages and the delivery log. Admin only: a channel can send fleet facts anywhere.

Secrets are write-only: answers say `has_secret`, never the secret, and a robot URL's key is
shown cut. `PUT` of a channel without `secret` keeps the stored one. Every change is audited
(without secrets or URLs).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel

from cloud.api.deps import Before, ContextDep, RowId
from cloud.auth import Principal, Role, audit, require_role
from cloud.notify import service
from cloud.notify.service import NotifyError

Admin = Annotated[Principal, Depends(require_role(Role.ADMIN))]
Status = Literal["pending", "sending", "sent", "failed", "dropped"]

router = APIRouter(prefix="/api/v1/ops/notify", tags=["ops", "notify"])


class Queued(BaseModel):
    event_id: int


def _refused(exc: NotifyError) -> HTTPException:
    return HTTPException(404 if str(exc).startswith("no ") else 409, str(exc))


@router.get("/channels", response_model=list[service.ChannelView])
def list_channels(ctx: ContextDep, _: Admin) -> list[service.ChannelView]:
    with ctx.engine.connect() as conn:
        return service.channels(conn)


@router.post("/channels", status_code=201, response_model=service.ChannelView)
def add_channel(ctx: ContextDep, principal: Admin, body: service.ChannelIn) -> service.ChannelView:
    now = ctx.clock()
    try:
        with ctx.engine.begin() as conn:
            view = service.add_channel(conn, body, now)
            detail = {"name": view.name, "kind": view.kind}
            audit(conn, principal, "notify.channel.add", f"channel:{view.id}", detail, at=now)
    except NotifyError as exc:
        raise _refused(exc) from exc
    return view


@router.put("/channels/{channel_id}", response_model=service.ChannelView)
def change_channel(
    ctx: ContextDep, principal: Admin, channel_id: RowId, body: service.ChannelIn
) -> service.ChannelView:
    now = ctx.clock()
    keep = "secret" not in body.model_fields_set
    try:
        with ctx.engine.begin() as conn:
            view = service.change_channel(conn, channel_id, body, keep_secret=keep)
            detail = {"name": view.name, "kind": view.kind, "secret_changed": not keep}
            audit(conn, principal, "notify.channel.change", f"channel:{channel_id}", detail, at=now)
    except NotifyError as exc:
        raise _refused(exc) from exc
    return view


@router.delete("/channels/{channel_id}", status_code=204)
def remove_channel(ctx: ContextDep, principal: Admin, channel_id: RowId) -> Response:
    now = ctx.clock()
    try:
        with ctx.engine.begin() as conn:
            service.remove_channel(conn, channel_id)
            audit(conn, principal, "notify.channel.remove", f"channel:{channel_id}", at=now)
    except NotifyError as exc:
        raise _refused(exc) from exc
    return Response(status_code=204)


@router.post("/channels/{channel_id}/test", status_code=202, response_model=Queued)
def test_channel(ctx: ContextDep, principal: Admin, channel_id: RowId) -> Queued:
    """Queue a test message; follow it in the delivery log (`?event_id=`)."""
    now = ctx.clock()
    try:
        with ctx.engine.begin() as conn:
            event_id = service.test_send(conn, channel_id, principal.username, now)
            audit(conn, principal, "notify.channel.test", f"channel:{channel_id}", at=now)
    except NotifyError as exc:
        raise _refused(exc) from exc
    return Queued(event_id=event_id)


@router.get("/rules", response_model=list[service.RuleView])
def list_rules(ctx: ContextDep, _: Admin) -> list[service.RuleView]:
    with ctx.engine.connect() as conn:
        return service.rules(conn)


@router.post("/rules", status_code=201, response_model=service.RuleView)
def add_rule(ctx: ContextDep, principal: Admin, body: service.RuleIn) -> service.RuleView:
    now = ctx.clock()
    try:
        with ctx.engine.begin() as conn:
            view = service.add_rule(conn, body, now)
            detail = body.model_dump(mode="json")
            audit(conn, principal, "notify.rule.add", f"notify_rule:{view.id}", detail, at=now)
    except NotifyError as exc:
        raise _refused(exc) from exc
    return view


@router.put("/rules/{rule_id}", response_model=service.RuleView)
def change_rule(
    ctx: ContextDep, principal: Admin, rule_id: RowId, body: service.RuleIn
) -> service.RuleView:
    now = ctx.clock()
    try:
        with ctx.engine.begin() as conn:
            before = service.rule(conn, rule_id).model_dump(mode="json")
            view = service.change_rule(conn, rule_id, body)
            detail = {"before": before, "after": view.model_dump(mode="json")}
            audit(conn, principal, "notify.rule.change", f"notify_rule:{rule_id}", detail, at=now)
    except NotifyError as exc:
        raise _refused(exc) from exc
    return view


@router.delete("/rules/{rule_id}", status_code=204)
def remove_rule(ctx: ContextDep, principal: Admin, rule_id: RowId) -> Response:
    now = ctx.clock()
    try:
        with ctx.engine.begin() as conn:
            service.remove_rule(conn, rule_id)
            audit(conn, principal, "notify.rule.remove", f"notify_rule:{rule_id}", at=now)
    except NotifyError as exc:
        raise _refused(exc) from exc
    return Response(status_code=204)


@router.get("/digests", response_model=list[service.DigestView])
def list_digests(ctx: ContextDep, _: Admin) -> list[service.DigestView]:
    with ctx.engine.connect() as conn:
        return service.digests(conn)


@router.post("/digests", status_code=201, response_model=service.DigestView)
def add_digest(ctx: ContextDep, principal: Admin, body: service.DigestIn) -> service.DigestView:
    now = ctx.clock()
    try:
        with ctx.engine.begin() as conn:
            view = service.add_digest(conn, body, now)
            detail = body.model_dump(mode="json")
            audit(conn, principal, "notify.digest.add", f"notify_digest:{view.id}", detail, at=now)
    except NotifyError as exc:
        raise _refused(exc) from exc
    return view


@router.delete("/digests/{digest_id}", status_code=204)
def remove_digest(ctx: ContextDep, principal: Admin, digest_id: RowId) -> Response:
    now = ctx.clock()
    try:
        with ctx.engine.begin() as conn:
            service.remove_digest(conn, digest_id)
            audit(conn, principal, "notify.digest.remove", f"notify_digest:{digest_id}", at=now)
    except NotifyError as exc:
        raise _refused(exc) from exc
    return Response(status_code=204)


@router.get("/deliveries", response_model=list[service.DeliveryView])
def deliveries(
    ctx: ContextDep,
    _: Admin,
    channel_id: Annotated[int | None, Query(ge=1)] = None,
    event_id: Annotated[int | None, Query(ge=1)] = None,
    status: Status | None = None,
    before: Before = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[service.DeliveryView]:
    """The delivery log, newest first: each delivery with every try (time, status code or
    SMTP reply, error, milliseconds). Page with `before` = the last id seen."""
    with ctx.engine.connect() as conn:
        return service.deliveries(
            conn, channel_id=channel_id, event_id=event_id, status=status,
            before=before, limit=limit,
        )  # fmt: skip
