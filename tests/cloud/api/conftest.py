"""An API client on the test database, with the fake clock; ops accounts by role."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from uuid import uuid4

import pytest
from argon2 import PasswordHasher, profiles
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from cloud.auth import Role, create_user, issue_token, passwords
from cloud.main import create_app
from cloud.settings import Settings


@pytest.fixture
def client(db_url: str, engine: Engine, clock: Any) -> Iterator[TestClient]:
    """The app makes its own engine from the URL (as in production) on the test database,
    which the `engine` fixture has already created for the factories."""
    app = create_app(
        Settings(db=db_url, index_refresh_s=0, live_state_ttl_s=0, rate_limit_burst=1_000),
        clock=clock,
    )
    with TestClient(app) as c:
        yield c


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2's cheapest profile: tests make many accounts (the real cost is tested in
    tests/cloud/auth)."""
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))


@pytest.fixture
def as_role(engine: Engine) -> Callable[[Role], dict[str, str]]:
    """Make an ops account with a role; its bearer-token headers."""

    def headers(role: Role) -> dict[str, str]:
        name = f"{role.value}-{uuid4().hex[:6]}"
        create_user(engine, name, role, "correct horse battery")
        return {"Authorization": f"Bearer {issue_token(engine, name)}"}

    return headers
