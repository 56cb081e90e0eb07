"""An API client on the test database, with the fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

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
