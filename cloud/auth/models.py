"""Database tables of ops authentication: accounts and their scopes, browser sessions, API
tokens, login throttling and the audit log.

No secret is stored in the clear: passwords are Argon2id hashes, session ids and API tokens
SHA-256 hex of 32 random bytes (a database leak gives no usable cookie or token). The CSRF
token of a session is not a credential on its own (it only works with the session cookie).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Table, Text
from sqlmodel import Field, SQLModel

from cloud.clock import utcnow
from cloud.models import BigId
from cloud.sql.types import UTCDateTime

USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._@-]{0,63}$"


class OpsUser(SQLModel, table=True):
    """An ops account. Usernames are stored lower-case; `disabled` locks it out at once."""

    __tablename__ = "ops_user"

    username: str = Field(primary_key=True, max_length=64)
    role: str = Field(max_length=16, description="viewer | operator | admin")
    password_hash: str = Field(sa_type=Text, description="Argon2id PHC string")
    disabled: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OpsUserScope(SQLModel, table=True):
    """One limit of an account's scope (`cloud.auth.scope`): an operator/partner or a city
    whose stations it may see. An account without rows belongs to the union (all stations)."""

    __tablename__ = "ops_user_scope"

    username: str = Field(foreign_key="ops_user.username", primary_key=True, max_length=64)
    kind: str = Field(primary_key=True, max_length=16, description="operator | city")
    value: str = Field(primary_key=True, max_length=120, description="as in the registry")


class OpsSession(SQLModel, table=True):
    """A browser session: the cookie's SHA-256, its CSRF token and both expiries."""

    __tablename__ = "ops_session"
    __table_args__ = (Index("ix_ops_session_username", "username"),)

    id_hash: str = Field(primary_key=True, max_length=64, description="SHA-256 hex of the id")
    username: str = Field(foreign_key="ops_user.username", max_length=64)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, description="absolute end")
    last_seen_at: datetime = Field(sa_type=UTCDateTime, description="idle expiry counts from")
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=255)


class ApiToken(SQLModel, table=True):
    """A bearer token for scripts; `revoked_at` or `expires_at` in the past ends it."""

    __tablename__ = "api_token"
    __table_args__ = (Index("ix_api_token_username", "username"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    token_hash: str = Field(max_length=64, unique=True, description="SHA-256 hex")
    name: str = Field(max_length=64)
    username: str = Field(foreign_key="ops_user.username", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LoginThrottle(SQLModel, table=True):
    """Recent failed logins per username+IP (key: SHA-256 of both), shared by all replicas."""

    __tablename__ = "login_throttle"

    key: str = Field(primary_key=True, max_length=64)
    failures: int = 0
    last_failure_at: datetime = Field(sa_type=UTCDateTime)
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuditEntry(SQLModel, table=True):
    """One ops action: who (name and role at the time), what, on what, from where."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    username: str = Field(max_length=64)
    role: str = Field(max_length=16)
    action: str = Field(max_length=64, description="e.g. alarm.ack, door.unlock, user.create")
    target: str = Field(default="", max_length=255)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    ip: str | None = Field(default=None, max_length=64)


def _table(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined, no-any-return]


TABLES: list[Table] = [
    _table(m) for m in (OpsUser, OpsUserScope, OpsSession, ApiToken, LoginThrottle, AuditEntry)
]
