"""Browser sessions and bearer tokens: open, resolve (with expiry and the account's state
checked on every request), close.

The cookie holds 32 random bytes; the database only their SHA-256. A session ends after
`session_idle_s` without requests or `session_max_s` after login, at logout, when its user
is disabled or gets a new password. A token ends when revoked or past `expires_at`; a
disabled user's tokens stop at once (the account is read on every request).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from cloud.auth import tokens
from cloud.auth.models import ApiToken, OpsSession, OpsUser

# last_seen / last_used are written at most this often per session or token: a dashboard
# polling every second must not turn every read into a write.
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class OpenedSession:
    cookie: str  # the value for the client; never stored
    csrf_token: str
    expires_at: datetime


def open_session(
    s: Session,
    user: OpsUser,
    *,
    now: datetime,
    max_age: timedelta,
    ip: str | None,
    user_agent: str | None,
) -> OpenedSession:
    cookie = tokens.new_secret()
    row = OpsSession(
        id_hash=tokens.digest(cookie),
        username=user.username,
        csrf_token=tokens.new_secret(),
        created_at=now,
        expires_at=now + max_age,
        last_seen_at=now,
        ip=ip[:64] if ip else None,
        user_agent=user_agent[:255] if user_agent else None,
    )
    s.add(row)
    s.flush()
    return OpenedSession(cookie=cookie, csrf_token=row.csrf_token, expires_at=row.expires_at)


def resolve_session(
    s: Session, cookie: str, *, now: datetime, idle: timedelta
) -> tuple[OpsUser, OpsSession] | None:
    """The live session behind `cookie` and its (enabled) user, or None. Expired sessions
    are deleted on sight."""
    if not cookie or len(cookie) > 128:
        return None
    row = s.get(OpsSession, tokens.digest(cookie))
    if row is None:
        return None
    if now >= row.expires_at or now >= row.last_seen_at + idle:
        s.delete(row)
        s.flush()
        return None
    user = s.get(OpsUser, row.username)
    if user is None or user.disabled:
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
        s.add(row)
        s.flush()
    return user, row


def close_session(s: Session, id_hash: str) -> None:
    s.exec(delete(OpsSession).where(col(OpsSession.id_hash) == id_hash))  # type: ignore[call-overload]


def purge_expired(s: Session, *, now: datetime, idle: timedelta) -> int:
    """Delete sessions past either expiry; run at each login, so the table stays small."""
    result = s.exec(  # type: ignore[call-overload]
        delete(OpsSession).where(
            (col(OpsSession.expires_at) <= now) | (col(OpsSession.last_seen_at) <= now - idle)
        )
    )
    return int(result.rowcount or 0)


def resolve_token(s: Session, token: str, *, now: datetime) -> OpsUser | None:
    """The enabled user behind a live API token, or None."""
    if not token.startswith(tokens.TOKEN_PREFIX) or len(token) > 128:
        return None
    wanted = tokens.digest(token)
    row = s.exec(select(ApiToken).where(col(ApiToken.token_hash) == wanted)).first()
    if row is None or not tokens.same(row.token_hash, wanted):
        return None
    if row.revoked_at is not None or (row.expires_at is not None and now >= row.expires_at):
        return None
    user = s.get(OpsUser, row.username)
    if user is None or user.disabled:
        return None
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
        s.exec(  # type: ignore[call-overload]
            update(ApiToken).where(col(ApiToken.id) == row.id).values(last_used_at=now)
        )
    return user
