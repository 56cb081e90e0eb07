"""`/readyz`: 200 only when the database answers, the schema is at head and the nearby index
is loaded; otherwise 503 naming each failing check. `/healthz` stays about the database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from cloud import migrate
from cloud.main import create_app
from cloud.settings import Settings


def test_ready_when_migrated_and_indexed(client: TestClient, add_station: Any) -> None:
    add_station("st-1")
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["failing"] == []
    assert body["checks"]["migrations"] == {"ok": True, "detail": f"at head {migrate.head()}"}
    assert body["checks"]["nearby_index"]["ok"] is True
    assert response.headers["cache-control"] == "no-store"


def test_a_schema_behind_head_is_not_ready(client: TestClient, engine: Engine) -> None:
    # Story: a replica of the new version started against a database not yet migrated.
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0006'"))
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["migrations"]
    assert body["checks"]["migrations"]["detail"] == f"database at 0006, head is {migrate.head()}"
    assert client.get("/healthz").status_code == 200  # alive, just not ready


def test_not_ready_before_the_index_is_loaded(db_url: str, engine: Engine) -> None:
    app = create_app(Settings(db=db_url))
    try:
        # no `with`: startup (which loads the index) has not run
        response = TestClient(app).get("/readyz")
    finally:
        app.state.ctx.engine.dispose()  # shutdown (which would) does not run either
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["nearby_index"]
    assert body["checks"]["nearby_index"] == {"ok": False, "detail": "not loaded yet"}


def test_without_a_database_every_check_fails_by_name(tmp_path: Path) -> None:
    app = create_app(Settings(db=f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}"))
    try:
        response = TestClient(app).get("/readyz")
    finally:
        app.state.ctx.engine.dispose()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["failing"] == ["database", "migrations", "nearby_index"]
    assert body["checks"]["database"] == {"ok": False, "detail": "OperationalError"}
