"""Ops footfall API: viewer login required, series and busiest hours, 404/422 on bad asks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher, profiles
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from cloud.api import ops_footfall
from cloud.auth import Role, create_user, issue_token, passwords
from cloud.db import session
from cloud.main import create_app
from cloud.models import FootfallInterval
from cloud.settings import Settings

D0 = datetime(2025, 6, 1, tzinfo=UTC)
BASE = "/api/v1/ops/footfall"


@pytest.fixture
def api(
    db_url: str, engine: Engine, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))
    app = create_app(Settings(db=db_url, index_refresh_s=0), clock=clock)
    if not any(getattr(r, "path", "").startswith(BASE) for r in app.routes):
        app.include_router(ops_footfall.router)  # until cloud.main includes it
    with TestClient(app) as c:
        yield c


@pytest.fixture
def token(engine: Engine) -> str:
    create_user(engine, "watcher", Role.VIEWER, "correct horse battery")
    return issue_token(engine, "watcher")


@pytest.fixture
def data(engine: Engine, add_station: Callable[..., Any], clock: Any) -> None:
    add_station("sz-1", city="深圳市")
    add_station("sz-2", city="深圳市")
    clock.now = D0 + timedelta(days=1)
    with session(engine) as s:
        for sid, n in (("sz-1", 2), ("sz-2", 3)):
            for i in range(24):
                at = D0 + timedelta(hours=i)
                s.add(
                    FootfallInterval(
                        station_id=sid,
                        interval_start=at,
                        seconds=300,
                        entries=n * (i == 4) + 1,
                        exits=1,
                        occupancy=0,
                        seq=i + 1,
                        received_at=at,
                    )
                )


def test_login_is_required(api: TestClient, data: None) -> None:
    assert api.get(f"{BASE}/stations/sz-1").status_code == 401
    r = api.get(f"{BASE}/stations/sz-1", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401


def test_station_and_city_series(api: TestClient, data: None, token: str) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    r = api.get(f"{BASE}/stations/sz-1", headers=auth)  # default: hours of the last day
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["resolution"] == "hour"
    assert len(body["points"]) == 24
    assert body["entries"] == 24 + 2
    r = api.get(
        f"{BASE}/cities/深圳市",
        params={"resolution": "day", "start": "2025-06-01T00:00:00+08:00"},
        headers=auth,
    )
    assert r.status_code == 200, r.text
    days = r.json()["points"]
    assert [d["start"] for d in days] == ["2025-06-01T00:00:00+08:00", "2025-06-02T00:00:00+08:00"]
    assert sum(d["entries"] for d in days) == 48 + 5


def test_busiest_hours(api: TestClient, data: None, token: str) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    r = api.get(f"{BASE}/stations/sz-2/busiest-hours", params={"days": 7}, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["busiest"][0] == 12  # 04:00 UTC is noon in Shanghai
    r = api.get(f"{BASE}/cities/深圳市/busiest-hours", headers=auth)
    assert r.json()["busiest"][0] == 12


def test_bad_requests(api: TestClient, data: None, token: str) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    assert api.get(f"{BASE}/stations/nope", headers=auth).status_code == 404
    assert api.get(f"{BASE}/cities/火星", headers=auth).status_code == 404
    r = api.get(
        f"{BASE}/stations/sz-1",
        params={"resolution": "interval", "start": "2025-05-01T00:00:00Z"},
        headers=auth,
    )
    assert r.status_code == 422
    assert "at most 7 days" in r.text
    r = api.get(f"{BASE}/stations/sz-1", params={"resolution": "week"}, headers=auth)
    assert r.status_code == 422
    r = api.get(f"{BASE}/stations/sz-1/busiest-hours", params={"days": 0}, headers=auth)
    assert r.status_code == 422
