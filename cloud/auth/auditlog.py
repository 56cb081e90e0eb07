"""The audit log of ops actions: who did what to what, appended in the caller's transaction
so an action and its record commit (or roll back) together."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert
from sqlalchemy.orm import Session

from cloud.auth.models import AuditEntry
from cloud.auth.roles import Principal
from cloud.clock import utcnow

_AUDIT = AuditEntry.__table__  # type: ignore[attr-defined]


def audit(
    db: Connection | Session | Engine,
    principal: Principal,
    action: str,
    target: str,
    detail: dict[str, Any] | None = None,
    *,
    at: datetime | None = None,
) -> None:
    """Append one entry. With a Connection or Session it joins that transaction (the caller
    commits); with an Engine it commits on its own. `detail` must be JSON-serialisable and
    hold no secrets (no passwords, tokens or member personal data)."""
    values = {
        "at": at or utcnow(),
        "username": principal.username,
        "role": principal.role.value,
        "action": action[:64],
        "target": target[:255],
        "detail": detail or {},
        "ip": principal.ip,
    }
    statement = insert(_AUDIT).values(**values)
    if isinstance(db, Engine):
        with db.begin() as conn:
            conn.execute(statement)
        return
    db.execute(statement)
