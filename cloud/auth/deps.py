"""FastAPI dependencies that authenticate ops requests and check the role.

Two ways in:
- `Authorization: Bearer wst_…` (scripts): an API token; no CSRF token needed, since a
  browser never attaches it on its own.
- the `ws_session` cookie (browsers, HttpOnly, SameSite=Strict). Unsafe methods (anything
  but GET/HEAD/OPTIONS) must also send the session's CSRF token in `X-CSRF-Token`
  (double submit: login and `GET /api/v1/ops/auth/me` return it), and when the browser
  sends an `Origin` header it must be this server's.

No or bad credentials: 401 with `WWW-Authenticate`. Valid but too low a role, or a CSRF
failure: 403. The account is read on every request, so disabling it or changing its role
or scope takes effect at once. Which stations a caller may touch is not checked here but by
the scope dependencies of `cloud.api.scoping`, which build on `require_role`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from sqlmodel import Session

from cloud.auth import sessions, tokens
from cloud.auth.roles import Principal, Role
from cloud.auth.scope import load_scope

SESSION_COOKIE = "ws_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="waystation-ops"'}


def unauthorized(detail: str = "login required") -> HTTPException:
    return HTTPException(401, detail, headers=CHALLENGE)


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _ctx(request: Request) -> Any:
    return request.app.state.ctx  # cloud.api.deps.AppContext: settings, engine, clock


def authenticate(request: Request) -> Principal | None:
    """The caller, or None when it sent no credentials at all. Bad credentials raise 401,
    a cookie request failing the CSRF check raises 403. Remembers the session on
    `request.state` (logout needs it)."""
    cached: Principal | None = getattr(request.state, "ops_principal", None)
    if cached is not None:
        return cached
    ctx = _ctx(request)
    now = ctx.clock()
    ip = client_ip(request)
    authorization = request.headers.get("authorization")
    cookie = request.cookies.get(SESSION_COOKIE)
    with Session(ctx.engine) as s:
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer":
                raise unauthorized("use a Bearer token or the session cookie")
            user = sessions.resolve_token(s, token.strip(), now=now)
            s.commit()
            if user is None:
                raise unauthorized("invalid, expired or revoked token")
            scope = load_scope(s, user.username)
            principal = Principal(user.username, Role(user.role), "token", ip, scope)
        elif cookie:
            idle = timedelta(seconds=ctx.settings.session_idle_s)
            found = sessions.resolve_session(s, cookie, now=now, idle=idle)
            s.commit()
            if found is None:
                raise unauthorized("session expired or ended; log in again")
            user, row = found
            if request.method not in SAFE_METHODS:
                _check_csrf(request, row.csrf_token)
            scope = load_scope(s, user.username)
            principal = Principal(user.username, Role(user.role), "session", ip, scope)
            request.state.ops_session = (row.id_hash, row.csrf_token)
        else:
            return None
    request.state.ops_principal = principal
    return principal


def _check_csrf(request: Request, expected: str) -> None:
    sent = request.headers.get(CSRF_HEADER.lower(), "")
    if not sent or not tokens.same(sent, expected):
        raise HTTPException(403, f"CSRF check failed: send the session's {CSRF_HEADER} header")
    check_origin(request)


def check_origin(request: Request) -> None:
    """403 when the browser says the request comes from another site (or an opaque origin).
    No `Origin` header (scripts, older browsers on same-origin GETs) passes."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    host = request.headers.get("host", "").lower()
    if origin == "null" or urlsplit(origin).netloc.lower() != host:
        raise HTTPException(403, "CSRF check failed: cross-origin request")


def require_role(role: Role) -> Callable[[Request], Principal]:
    """A dependency admitting callers with at least `role`; returns the Principal.

    `Depends(require_role(Role.OPERATOR))` as a parameter, or in `dependencies=[…]`.
    """
    need = Role(role)

    def dependency(request: Request) -> Principal:
        principal = authenticate(request)
        if principal is None:
            raise unauthorized()
        if principal.role < need:
            raise HTTPException(403, f"needs role {need.value}; you are {principal.role.value}")
        return principal

    dependency.__name__ = f"require_{need.value}"
    if need == Role.ADMIN:
        # admins are union-wide (cloud.auth.scope): an admin-only route needs no scope check
        dependency.scope_rule = "admin"  # type: ignore[attr-defined]
    return dependency


def optional_principal(request: Request) -> Principal | None:
    """The caller or None (no credentials): for pages that redirect to a login form instead
    of answering 401. Bad credentials still raise 401."""
    return authenticate(request)
