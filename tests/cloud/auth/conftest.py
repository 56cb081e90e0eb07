"""Ops-auth fixtures: a cheap Argon2 profile (tests hash many passwords), an API client with
the fake clock and plain-http cookies, and helpers to log in and to make accounts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any

import pytest
from argon2 import PasswordHasher, profiles
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from cloud.auth import Principal, Role, create_user, optional_principal, passwords, require_role
from cloud.main import create_app
from cloud.settings import Settings

PASSWORD = "correct horse battery"
Operator = Annotated[Principal, Depends(require_role(Role.OPERATOR))]
IDLE_S = 600
MAX_S = 3600


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> PasswordHasher:
    hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
    monkeypatch.setattr(passwords, "HASHER", hasher)
    return hasher


def _with_operator_route(app: FastAPI) -> FastAPI:
    """An operator-only action, as the ops API will have (remote unlock, acknowledge), and a
    page-like route that works with or without a login."""

    def act(principal: Operator) -> dict[str, str]:
        return {"by": principal.username, "via": principal.via}

    def whoami(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Any:
        return principal and {"by": principal.username, "via": principal.via}

    app.add_api_route("/api/v1/ops/test/act", act, methods=["POST", "GET"])
    app.add_api_route("/api/v1/ops/test/whoami", whoami, methods=["GET"])
    return app


@pytest.fixture
def app(db_url: str, engine: Engine, clock: Any) -> FastAPI:
    settings = Settings(
        db=db_url,
        index_refresh_s=0,
        cookie_secure=False,
        session_idle_s=IDLE_S,
        session_max_s=MAX_S,
    )
    return _with_operator_route(create_app(settings, clock=clock))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def users(engine: Engine) -> dict[Role, str]:
    """One account per role, named after it."""
    for role in Role:
        create_user(engine, role.value, role, PASSWORD)
    return {role: role.value for role in Role}


@pytest.fixture
def login(app: FastAPI, client: TestClient) -> Iterator[Callable[..., tuple[TestClient, str]]]:
    """A fresh client (its own cookie jar) logged in as `username`; returns it and the CSRF
    token."""
    opened: list[TestClient] = []

    def do(username: str, password: str = PASSWORD) -> tuple[TestClient, str]:
        c = TestClient(app)
        opened.append(c)
        r = c.post("/api/v1/ops/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        return c, r.json()["csrf_token"]

    yield do
    for c in opened:
        c.close()
