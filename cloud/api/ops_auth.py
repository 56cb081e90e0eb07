"""Ops accounts over HTTP: login/logout/me for everyone with an account, user and token
management for admins, and the audit log (admin). Every change is audited in the same
transaction as the change.

Login takes JSON or an HTML form (`application/x-www-form-urlencoded`) and sets the
`ws_session` cookie; the CSRF token it returns goes into `X-CSRF-Token` on every later
unsafe request made with that cookie (see `cloud.auth.deps`).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from cloud.api.deps import MAX_ROW_ID, RowId
from cloud.api.scoping import accounts_only
from cloud.auth import audit, passwords, require_role, users
from cloud.auth.deps import SESSION_COOKIE, _ctx, check_origin, client_ip
from cloud.auth.login import LoginRefusedError, LoginThrottledError, login
from cloud.auth.models import ApiToken, AuditEntry, OpsUser
from cloud.auth.roles import Principal, Role
from cloud.auth.sessions import close_session

MAX_LOGIN_BODY = 4096
ACCOUNTS = [Depends(accounts_only)]  # no station data here (cloud.api.scoping)
router = APIRouter(prefix="/api/v1/ops/auth", tags=["ops auth"], dependencies=ACCOUNTS)
audit_router = APIRouter(prefix="/api/v1/ops", tags=["ops auth"])

Viewer = Annotated[Principal, Depends(require_role(Role.VIEWER))]
Admin = Annotated[Principal, Depends(require_role(Role.ADMIN))]


# --- models ----------------------------------------------------------------------------------


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=passwords.MAX_LENGTH)


class LoginOut(BaseModel):
    username: str
    role: Role
    csrf_token: str


class MeOut(BaseModel):
    username: str
    role: Role
    via: str
    csrf_token: str | None = Field(description="for X-CSRF-Token; only with a session")
    scope: dict[str, Any] = Field(description="everything (the union), or operators/cities")


class UserOut(BaseModel):
    username: str
    role: Role
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, u: OpsUser) -> UserOut:
        return cls(
            username=u.username,
            role=Role(u.role),
            disabled=u.disabled,
            created_at=u.created_at,
            last_login_at=u.last_login_at,
        )


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    role: Role
    password: str = Field(min_length=1, max_length=passwords.MAX_LENGTH)


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    disabled: bool | None = None


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=1, max_length=passwords.MAX_LENGTH)


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=64, pattern=r"^[\w .@-]+$")
    expires_days: float | None = Field(default=None, gt=0, le=3660)


class TokenOut(BaseModel):
    id: int
    name: str
    username: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, t: ApiToken) -> TokenOut:
        assert t.id is not None
        return cls(
            id=t.id,
            name=t.name,
            username=t.username,
            created_at=t.created_at,
            last_used_at=t.last_used_at,
            expires_at=t.expires_at,
            revoked_at=t.revoked_at,
        )


class NewTokenOut(TokenOut):
    token: str = Field(description="the bearer token; shown this once, never again")


class AuditOut(BaseModel):
    id: int
    at: datetime
    username: str
    role: str
    action: str
    target: str
    detail: dict[str, Any]
    ip: str | None


class AuditPage(BaseModel):
    items: list[AuditOut]
    next_before: int | None = Field(description="pass as ?before= for the next (older) page")


# --- helpers ---------------------------------------------------------------------------------


def _refuse(exc: users.AccountError) -> HTTPException:
    if isinstance(exc, users.NoSuchUserError):
        return HTTPException(404, str(exc))
    if isinstance(exc, users.UserExistsError | users.LastAdminError):
        return HTTPException(409, str(exc))
    return HTTPException(422, str(exc))


def _strong(password: str, username: str) -> None:
    reason = passwords.weakness(password, username)
    if reason:
        raise HTTPException(422, reason)


async def _login_body(request: Request) -> LoginIn:
    body = await request.body()
    if len(body) > MAX_LOGIN_BODY:
        raise HTTPException(413, "login body too large")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if kind == "application/x-www-form-urlencoded":
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
            return LoginIn(
                username=form.get("username", [""])[0], password=form.get("password", [""])[0]
            )
        if kind in ("application/json", ""):
            return LoginIn.model_validate(json.loads(body or b"null"))
    except (ValueError, ValidationError) as exc:  # JSONDecodeError and bad UTF-8 are ValueErrors
        raise HTTPException(422, "send username and password") from exc
    raise HTTPException(415, "send JSON or an urlencoded form")


# --- login, logout, me -----------------------------------------------------------------------


@router.post("/login", response_model=LoginOut)
async def post_login(request: Request, response: Response) -> LoginOut:
    """Password login; sets the session cookie. 401 for any wrong username/password pair;
    429 with Retry-After after repeated failures from one address for one username, after
    many failures from one address for any usernames, or when one address tries too often
    (`cloud.api.ratelimit.AuthLimits`, before the body is read); 503 with Retry-After when
    the server is already computing as many password hashes as it allows at once. A
    cross-site login form is refused (403: login CSRF would sign a victim into our account).
    The password check runs in the thread pool, never on the event loop."""
    check_origin(request)
    creds = await _login_body(request)
    ctx = _ctx(request)
    settings = ctx.settings
    try:
        # the hashing slot first, on the event loop: when all are taken, 503 (HashingBusyError)
        # at once, without a worker thread or a database read; the thread inherits the slot
        with passwords.GATE.slot():
            done = await run_in_threadpool(
                login,
                ctx.engine,
                creds.username,
                creds.password,
                now=ctx.clock(),
                ip=client_ip(request),
                user_agent=request.headers.get("user-agent"),
                idle=timedelta(seconds=settings.session_idle_s),
                max_age=timedelta(seconds=settings.session_max_s),
            )
    except LoginThrottledError as exc:
        raise HTTPException(429, str(exc), {"Retry-After": str(exc.retry_after)}) from exc
    except LoginRefusedError as exc:
        raise HTTPException(401, str(exc), {"WWW-Authenticate": "Bearer"}) from exc
    response.set_cookie(
        SESSION_COOKIE,
        done.session.cookie,
        max_age=int(settings.session_max_s),
        path="/",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="strict",
    )
    response.headers["Cache-Control"] = "no-store"
    p = done.principal
    return LoginOut(username=p.username, role=p.role, csrf_token=done.session.csrf_token)


@router.post("/logout", status_code=204)
def post_logout(request: Request, principal: Viewer) -> Response:
    """End this browser session (a bearer token is not ended: revoke it instead)."""
    response = Response(status_code=204)
    found = getattr(request.state, "ops_session", None)
    if found is not None:
        with Session(_ctx(request).engine) as s:
            close_session(s, found[0])
            audit(s, principal, "auth.logout", principal.username, {})
            s.commit()
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=_ctx(request).settings.cookie_secure, httponly=True,
        samesite="strict",
    )  # fmt: skip
    return response


@router.get("/me", response_model=MeOut)
def get_me(request: Request, principal: Viewer, response: Response) -> MeOut:
    found = getattr(request.state, "ops_session", None)
    response.headers["Cache-Control"] = "no-store"
    return MeOut(
        username=principal.username,
        role=principal.role,
        via=principal.via,
        csrf_token=found[1] if found else None,
        scope=principal.scope.as_dict(),
    )


# --- users (admin) ---------------------------------------------------------------------------


@router.get("/users", response_model=list[UserOut])
def get_users(request: Request, _admin: Admin) -> list[UserOut]:
    with Session(_ctx(request).engine) as s:
        return [UserOut.of(u) for u in users.list_users(s)]


@router.post("/users", response_model=UserOut, status_code=201)
def post_user(request: Request, body: UserIn, admin: Admin) -> UserOut:
    _strong(body.password, body.username)
    ctx = _ctx(request)
    with Session(ctx.engine, expire_on_commit=False) as s:
        try:
            user = users.add_user(s, body.username, body.role, body.password, now=ctx.clock())
        except users.AccountError as exc:
            raise _refuse(exc) from exc
        audit(s, admin, "user.create", user.username, {"role": user.role}, at=ctx.clock())
        s.commit()
        return UserOut.of(user)


@router.patch("/users/{username}", response_model=UserOut)
def patch_user(request: Request, username: str, body: UserPatch, admin: Admin) -> UserOut:
    """Change a user's role and/or disable or re-enable the account (its sessions end at
    once). Refused (409) when it would leave no enabled admin."""
    ctx = _ctx(request)
    with Session(ctx.engine, expire_on_commit=False) as s:
        try:
            user = users.get_user(s, username)
            if body.role is not None and body.role.value != user.role:
                before = user.role
                users.set_role(s, username, body.role)
                detail = {"from": before, "to": body.role.value}
                audit(s, admin, "user.role", user.username, detail, at=ctx.clock())
            if body.disabled is not None and body.disabled != user.disabled:
                users.set_disabled(s, username, body.disabled)
                action = "user.disable" if body.disabled else "user.enable"
                audit(s, admin, action, user.username, {}, at=ctx.clock())
        except users.AccountError as exc:
            raise _refuse(exc) from exc
        s.commit()
        return UserOut.of(user)


@router.post("/users/{username}/password", status_code=204)
def post_password(request: Request, username: str, body: PasswordIn, admin: Admin) -> Response:
    """Set a new password (admin reset); the user's sessions end."""
    ctx = _ctx(request)
    with Session(ctx.engine) as s:
        try:
            user = users.get_user(s, username)
            _strong(body.password, user.username)
            users.set_password(s, user.username, body.password)
        except users.AccountError as exc:
            raise _refuse(exc) from exc
        audit(s, admin, "user.password", user.username, {}, at=ctx.clock())
        s.commit()
    return Response(status_code=204)


# --- API tokens (admin) ----------------------------------------------------------------------


@router.get("/tokens", response_model=list[TokenOut])
def get_tokens(
    request: Request, _admin: Admin, username: Annotated[str | None, Query()] = None
) -> list[TokenOut]:
    with Session(_ctx(request).engine) as s:
        try:
            return [TokenOut.of(t) for t in users.list_tokens(s, username)]
        except users.AccountError as exc:
            raise _refuse(exc) from exc


@router.post("/tokens", response_model=NewTokenOut, status_code=201)
def post_token(request: Request, body: TokenIn, admin: Admin, response: Response) -> NewTokenOut:
    """Issue a bearer token for a user; the response is the only place it ever appears."""
    ctx = _ctx(request)
    now = ctx.clock()
    expires = now + timedelta(days=body.expires_days) if body.expires_days else None
    with Session(ctx.engine, expire_on_commit=False) as s:
        try:
            row, plain = users.add_token(s, body.username, body.name, now=now, expires_at=expires)
        except users.AccountError as exc:
            raise _refuse(exc) from exc
        detail = {"id": row.id, "name": row.name}
        audit(s, admin, "token.create", row.username, detail, at=now)
        s.commit()
    response.headers["Cache-Control"] = "no-store"
    return NewTokenOut(**TokenOut.of(row).model_dump(), token=plain)


@router.post("/tokens/{token_id}/revoke", response_model=TokenOut)
def post_revoke(request: Request, token_id: RowId, admin: Admin) -> TokenOut:
    ctx = _ctx(request)
    with Session(ctx.engine, expire_on_commit=False) as s:
        row = s.get(ApiToken, token_id)
        if row is None:
            raise HTTPException(404, f"no token {token_id}")
        if row.revoked_at is None:
            users.revoke_token(s, token_id, now=ctx.clock())
            detail = {"id": token_id, "name": row.name}
            audit(s, admin, "token.revoke", row.username, detail, at=ctx.clock())
        s.commit()
        return TokenOut.of(row)


# --- audit log (admin) -----------------------------------------------------------------------


@audit_router.get("/audit", response_model=AuditPage)
def get_audit(
    request: Request,
    _admin: Admin,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ROW_ID, description="entries older than this id")
    ] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> AuditPage:
    """The audit log, newest first, a page at a time."""
    query = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit + 1)
    if before is not None:
        query = query.where(col(AuditEntry.id) < before)
    if action:
        query = query.where(col(AuditEntry.action) == action)
    with Session(_ctx(request).engine) as s:
        rows = list(s.exec(query))
    page = rows[:limit]
    items = [AuditOut.model_validate(r, from_attributes=True) for r in page]
    return AuditPage(items=items, next_before=page[-1].id if len(rows) > limit else None)
