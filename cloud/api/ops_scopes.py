"""Account scopes over HTTP (admin): which operators/partners and cities an ops account is
limited to (`cloud.auth.scope`). `PUT` replaces the whole scope (empty lists: the union) and
is audited as `user.scope` with the scope before and after; it takes effect on the account's
next request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from cloud.api.scoping import accounts_only
from cloud.auth import audit, require_role, users
from cloud.auth.roles import Principal, Role
from cloud.auth.scope import MAX_VALUE, Scope, ScopeError, load_scopes, make_scope

Admin = Annotated[Principal, Depends(require_role(Role.ADMIN))]
Values = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=MAX_VALUE)]], Field(max_length=200)
]

router = APIRouter(
    prefix="/api/v1/ops/auth", tags=["ops auth"], dependencies=[Depends(accounts_only)]
)


class ScopeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operators: Values = Field(default_factory=list, description="station.operator values")
    cities: Values = Field(default_factory=list, description="station.city values")


class ScopeOut(BaseModel):
    username: str
    everything: bool = Field(description="union-wide: every station")
    operators: list[str]
    cities: list[str]

    @classmethod
    def of(cls, username: str, scope: Scope) -> ScopeOut:
        return cls(username=username, **scope.as_dict())


def _refuse(exc: Exception) -> HTTPException:
    return HTTPException(404 if isinstance(exc, users.NoSuchUserError) else 422, str(exc))


@router.get("/scopes", response_model=list[ScopeOut])
def get_scopes(request: Request, _admin: Admin) -> list[ScopeOut]:
    """The scoped accounts (every other account is union-wide)."""
    with Session(request.app.state.ctx.engine) as s:
        return [ScopeOut.of(name, scope) for name, scope in sorted(load_scopes(s).items())]


@router.get("/users/{username}/scope", response_model=ScopeOut)
def get_scope(request: Request, username: str, _admin: Admin) -> ScopeOut:
    with Session(request.app.state.ctx.engine) as s:
        try:
            user = users.get_user(s, username)
        except users.AccountError as exc:
            raise _refuse(exc) from exc
        return ScopeOut.of(user.username, users.scope_of(s, user.username))


@router.put("/users/{username}/scope", response_model=ScopeOut)
def put_scope(request: Request, username: str, body: ScopeIn, admin: Admin) -> ScopeOut:
    """Set the account's scope; 422 for an admin (admins are union-wide) or an empty value."""
    ctx = request.app.state.ctx
    with Session(ctx.engine, expire_on_commit=False) as s:
        try:
            scope = make_scope(body.operators, body.cities)
            before, user = users.set_scope(s, username, scope)
        except (users.AccountError, ScopeError) as exc:
            raise _refuse(exc) from exc
        if before != scope:
            detail = {"from": before.describe(), "to": scope.describe()}
            audit(s, admin, "user.scope", user.username, detail, at=ctx.clock())
        s.commit()
        return ScopeOut.of(user.username, scope)
