"""Send a command and close it with the station's answer.

Sending: the row (and the audit entry) is committed first, then the command is published
(outside the transaction: no lock is held across the network), then marked `sent` — or
`error` if the broker never took it. The station's `cmd_result` may arrive before the `sent`
update; that update only moves a `pending` row, so the answer is never overwritten.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, Engine, insert, select, update

from cloud.auth import Principal, audit
from cloud.commands.models import ERROR, EXPIRED, FAILED, OK, SENT, Command
from cloud.models import table
from cloud.mqttpub import PublishError
from protocol import topics
from protocol.messages import CmdResultPayload, CommandPayload

COMMAND = table(Command)
PENDING = "pending"
Name = Literal["unlock", "rebirth", "sync", "reboot"]
# After expiry the station refuses the command; a little longer covers its answer in flight.
ANSWER_GRACE = timedelta(seconds=10)
Publish = Callable[[list[tuple[str, bytes, bool]]], None]


class CommandView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    cmd_id: str
    station_id: str
    name: str
    args: dict[str, Any]
    state: str
    detail: str | None
    requested_by: str
    requested_at: datetime
    expires_at: datetime
    result_at: datetime | None


def view(row: Any, now: datetime) -> CommandView:
    """A row as ops see it: unanswered past its expiry (and grace) it is `expired`."""
    out = CommandView.model_validate(row)
    if out.state in (PENDING, SENT) and now > out.expires_at + ANSWER_GRACE:
        out.state = EXPIRED
    return out


def send(
    engine: Engine,
    publish: Publish,
    principal: Principal,
    sid: str,
    name: Name,
    args: dict[str, Any],
    *,
    ttl_s: float,
    now: datetime,
) -> CommandView:
    """Record, audit, publish; raises PublishError (after marking the row `error`)."""
    cmd_id = f"ops-{secrets.token_hex(12)}"
    expires_at = now + timedelta(seconds=ttl_s)
    row = {
        "cmd_id": cmd_id,
        "station_id": sid,
        "name": name,
        "args": args,
        "state": PENDING,
        "requested_by": principal.username,
        "requested_at": now,
        "expires_at": expires_at,
    }
    with engine.begin() as conn:
        conn.execute(insert(COMMAND).values(row))
        detail = {"command": name, "cmd_id": cmd_id, "args": args, "ttl_s": ttl_s}
        audit(conn, principal, f"command.{name}", f"station:{sid}", detail, at=now)
    payload = CommandPayload(cmd_id=cmd_id, expires_at=expires_at, args=args, ts=now)
    try:
        publish([(topics.cmd(sid, name), payload.to_bytes(), False)])
    except PublishError as exc:
        _move(engine, cmd_id, PENDING, {"state": ERROR, "detail": str(exc)[:200]})
        raise
    _move(engine, cmd_id, PENDING, {"state": SENT})
    found = get(engine, cmd_id, now)
    assert found is not None
    return found


def _move(engine: Engine, cmd_id: str, from_state: str, values: dict[str, Any]) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(COMMAND)
            .where(COMMAND.c.cmd_id == cmd_id, COMMAND.c.state == from_state)
            .values(values)
        )


def get(engine: Engine, cmd_id: str, now: datetime) -> CommandView | None:
    with engine.connect() as conn:
        row = conn.execute(select(COMMAND).where(COMMAND.c.cmd_id == cmd_id)).first()
    return view(row, now) if row is not None else None


def recent(engine: Engine, sid: str, now: datetime, limit: int = 20) -> list[CommandView]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(COMMAND)
            .where(COMMAND.c.station_id == sid)
            .order_by(COMMAND.c.requested_at.desc(), COMMAND.c.id.desc())
            .limit(limit)
        )
        return [view(r, now) for r in rows]


def apply_result(conn: Connection, sid: str, result: CmdResultPayload, at: datetime) -> bool:
    """The station's answer (ingest, inside its transaction); False when the cmd_id is not an
    open ops command of that station (a config answer `config-<v>`, a repeat, a stranger)."""
    done = conn.execute(
        update(COMMAND)
        .where(
            COMMAND.c.cmd_id == result.cmd_id,
            COMMAND.c.station_id == sid,
            COMMAND.c.state.in_((PENDING, SENT)),
        )
        .values(
            state=OK if result.ok else FAILED,
            detail=(result.detail or "")[:200] or None,
            result_at=at,
        )
    )
    return bool(done.rowcount)
