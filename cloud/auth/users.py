"""Ops accounts and API tokens: create, change (role, scope), disable, issue, revoke.

Functions taking a `Session` work inside the caller's transaction (the API audits in the
same one); `create_user` and `issue_token` take an engine and commit, for the CLI and tests.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import Engine, delete, func
from sqlmodel import Session, col, select

from cloud.auth import passwords, tokens
from cloud.auth.models import USERNAME_PATTERN, ApiToken, OpsSession, OpsUser
from cloud.auth.roles import Role
from cloud.auth.scope import ALL, Scope, load_scope, store_scope
from cloud.clock import utcnow


class AccountError(ValueError):
    """A refused account change; the message is safe to show the admin."""


class NoSuchUserError(AccountError):
    pass


class UserExistsError(AccountError):
    pass


class AdminScopeError(AccountError):
    """An admin is union-wide: it manages accounts, so a scoped admin could widen its own."""


class LastAdminError(AccountError):
    """The change would leave no enabled admin (nobody could manage accounts any more)."""


def normalize_username(username: str) -> str:
    name = username.strip().lower()
    if not re.fullmatch(USERNAME_PATTERN, name):
        raise AccountError(
            "username must be 1-64 of a-z 0-9 . _ @ - and start with a letter or digit"
        )
    return name


def get_user(s: Session, username: str) -> OpsUser:
    user = s.get(OpsUser, normalize_username(username))
    if user is None:
        raise NoSuchUserError(f"no user {username!r}")
    return user


def add_user(
    s: Session, username: str, role: Role, password: str, *, now: datetime, scope: Scope = ALL
) -> OpsUser:
    """Create an account, union-wide unless `scope` limits it. Password strength is the
    caller's rule to apply (`weakness`); only an empty password is refused here."""
    name = normalize_username(username)
    _scope_fits(Role(role), scope)
    if not password:
        raise AccountError("empty password")
    if s.get(OpsUser, name) is not None:
        raise UserExistsError(f"user {name!r} exists")
    user = OpsUser(
        username=name,
        role=Role(role).value,
        password_hash=passwords.hash_password(password),
        created_at=now,
    )
    s.add(user)
    s.flush()
    if not scope.everything:
        store_scope(s, name, scope)
    return user


def _scope_fits(role: Role, scope: Scope) -> None:
    if role == Role.ADMIN and not scope.everything:
        raise AdminScopeError("an admin is always union-wide: give a scope to a viewer or operator")


def set_scope(s: Session, username: str, scope: Scope) -> tuple[Scope, OpsUser]:
    """Replace the account's scope (ALL: the whole union); the previous scope and the user.
    Takes effect on the account's next request (the scope is read on every request)."""
    user = get_user(s, username)
    _scope_fits(Role(user.role), scope)
    before = load_scope(s, user.username)
    store_scope(s, user.username, scope)
    return before, user


def scope_of(s: Session, username: str) -> Scope:
    return load_scope(s, normalize_username(username))


def list_users(s: Session) -> list[OpsUser]:
    return list(s.exec(select(OpsUser).order_by(col(OpsUser.username))))


def _enabled_admins(s: Session) -> int:
    query = select(func.count()).where(
        col(OpsUser.role) == Role.ADMIN.value, col(OpsUser.disabled).is_(False)
    )
    return int(s.exec(query).one())


def _keep_an_admin(s: Session, user: OpsUser) -> None:
    if user.role == Role.ADMIN.value and not user.disabled and _enabled_admins(s) <= 1:
        raise LastAdminError(f"{user.username!r} is the last enabled admin")


def set_role(s: Session, username: str, role: Role) -> OpsUser:
    user = get_user(s, username)
    if Role(role) != Role.ADMIN:
        _keep_an_admin(s, user)
    else:
        _scope_fits(Role.ADMIN, load_scope(s, user.username))
    user.role = Role(role).value
    s.add(user)
    s.flush()
    return user


def set_disabled(s: Session, username: str, disabled: bool) -> OpsUser:
    """Disabling also ends the user's sessions; its tokens stop working (checked per request)
    and work again if the account is re-enabled, unless revoked."""
    user = get_user(s, username)
    if disabled:
        _keep_an_admin(s, user)
        s.exec(delete(OpsSession).where(col(OpsSession.username) == user.username))  # type: ignore[call-overload]
    user.disabled = disabled
    s.add(user)
    s.flush()
    return user


def set_password(s: Session, username: str, password: str) -> OpsUser:
    """New password; every session of the user ends (tokens stay: they are separate keys)."""
    user = get_user(s, username)
    if not password:
        raise AccountError("empty password")
    user.password_hash = passwords.hash_password(password)
    s.exec(delete(OpsSession).where(col(OpsSession.username) == user.username))  # type: ignore[call-overload]
    s.add(user)
    s.flush()
    return user


def add_token(
    s: Session, username: str, name: str, *, now: datetime, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """A new API token for `username`: the row and the plaintext (shown once, never stored)."""
    user = get_user(s, username)
    plain = tokens.new_api_token()
    row = ApiToken(
        token_hash=tokens.digest(plain),
        name=name,
        username=user.username,
        created_at=now,
        expires_at=expires_at,
    )
    s.add(row)
    s.flush()
    return row, plain


def list_tokens(s: Session, username: str | None = None) -> list[ApiToken]:
    query = select(ApiToken).order_by(col(ApiToken.id))
    if username is not None:
        query = query.where(col(ApiToken.username) == normalize_username(username))
    return list(s.exec(query))


def revoke_token(s: Session, token_id: int, *, now: datetime) -> ApiToken:
    row = s.get(ApiToken, token_id)
    if row is None:
        raise AccountError(f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = now
        s.add(row)
        s.flush()
    return row


def create_user(engine: Engine, username: str, role: Role, password: str) -> None:
    """Create an account and commit (CLI bootstrap and tests)."""
    with Session(engine) as s:
        add_user(s, username, role, password, now=utcnow())
        s.commit()


def issue_token(
    engine: Engine, username: str, *, name: str = "test", expires_at: datetime | None = None
) -> str:
    """Issue an API token for an existing user, commit, and return its plaintext (only now)."""
    with Session(engine) as s:
        _row, plain = add_token(s, username, name, now=utcnow(), expires_at=expires_at)
        s.commit()
    return plain
