"""Sensor thresholds over HTTP, on SQLite and PostgreSQL: viewers read a station's effective
thresholds, admins set, reset and set them fleet-wide (preview, then apply), within their
scope; every write is audited with before and after; bad limits answer 422 naming the field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import Session

from cloud.auth import Role, issue_token
from cloud.auth.models import AuditEntry
from cloud.auth.scope import make_scope
from cloud.auth.users import add_user
from cloud.clock import utcnow
from cloud.models import Station, table

OPS = "/api/v1/ops"
AUDIT = table(AuditEntry)
COLD = {"raise_above": 5.0, "clear_below": 4.0, "raise_after_s": 60}


@pytest.fixture(autouse=True)
def world(add_station: Callable[..., Station]) -> None:
    for sid, operator, city in (
        ("a-1", "甲", "上海"),
        ("a-2", "甲", "北京"),
        ("b-1", "乙", "上海"),
    ):
        add_station(sid, operator=operator, city=city)


@pytest.fixture
def account(engine: Engine) -> Callable[..., dict[str, str]]:
    def make(role: Role, operators: tuple[str, ...] = ()) -> dict[str, str]:
        name = f"{role.value}-{uuid4().hex[:6]}"
        with Session(engine) as s:
            add_user(s, name, role, "correct horse battery", now=utcnow(),
                     scope=make_scope(operators, ()))  # fmt: skip
            s.commit()
        return {"Authorization": f"Bearer {issue_token(engine, name)}"}

    return make


def rules(client: TestClient, sid: str, headers: dict[str, str]) -> dict[str, Any]:
    r = client.get(f"{OPS}/stations/{sid}/thresholds", headers=headers)
    assert r.status_code == 200, r.text
    return {rule["rule"]: rule for rule in r.json()["rules"]}


def audits(engine: Engine, action: str) -> list[Any]:
    with engine.connect() as conn:
        query = select(AUDIT).where(AUDIT.c.action == action).order_by(AUDIT.c.id)
        return list(conn.execute(query))


def test_an_admin_sets_and_resets_a_station_threshold_and_each_write_is_audited(
    client: TestClient, engine: Engine, account: Callable[..., dict[str, str]]
) -> None:
    admin, viewer = account(Role.ADMIN), account(Role.VIEWER)
    url = f"{OPS}/stations/a-1/thresholds"
    fridge = rules(client, "a-1", viewer)["fridge_warm"]
    assert fridge["override"] is None
    assert fridge["effective"]["raise_above"] == fridge["default"]["raise_above"] == 8.0
    r = client.put(url, json={"rules": {"fridge_warm": COLD}}, headers=admin)
    assert r.status_code == 200, r.text
    fridge = rules(client, "a-1", viewer)["fridge_warm"]
    assert fridge["effective"] == {
        "raise_above": 5.0, "clear_below": 4.0, "raise_after_s": 60.0, "clear_after_s": 300.0,
    }  # fmt: skip
    assert fridge["set_by"].startswith("admin-")
    assert rules(client, "a-2", viewer)["fridge_warm"]["override"] is None
    assert client.put(url, json={"rules": {}}, headers=viewer).status_code == 403
    assert client.put(url, json={"rules": {}}, headers=account(Role.OPERATOR)).status_code == 403
    (entry,) = audits(engine, "thresholds.set")
    assert entry.target == "station:a-1"
    assert entry.detail["before"] == {}
    assert entry.detail["after"]["fridge_warm"]["raise_above"] == 5.0

    r = client.delete(url, params={"rule": "fridge_warm"}, headers=admin)
    assert r.status_code == 200, r.text
    assert rules(client, "a-1", viewer)["fridge_warm"]["override"] is None
    (reset,) = audits(engine, "thresholds.reset")
    assert reset.detail["before"]["fridge_warm"]["clear_below"] == 4.0
    assert reset.detail["after"] == {}
    listed = client.get(f"{OPS}/thresholds", headers=viewer).json()
    assert [r["rule"] for r in listed] == list(rules(client, "a-1", viewer))
    missing = client.get(f"{OPS}/stations/nope/thresholds", headers=admin)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"fridge_warm": {"raise_above": 5, "clear_below": 6}}, "rules.fridge_warm.clear_below"),
        ({"disk_full": {"raise_above": 120}}, "rules.disk_full.raise_above"),
        ({"station_offline": {"raise_above": 60}}, "rules.station_offline"),
    ],
)
def test_bad_limits_are_a_422_naming_the_field(
    client: TestClient, account: Callable[..., dict[str, str]], body: Any, field: str
) -> None:
    admin = account(Role.ADMIN)
    r = client.put(f"{OPS}/stations/a-1/thresholds", json={"rules": body}, headers=admin)
    assert r.status_code == 422
    assert r.json()["detail"].startswith(field + ":"), r.text
    long = {"fridge_warm": {"raise_after_s": 90_000}}
    r = client.put(f"{OPS}/stations/a-1/thresholds", json={"rules": long}, headers=admin)
    assert r.status_code == 422
    assert "raise_after_s" in r.json()["detail"][0]["loc"]


def test_fleet_wide_previews_then_applies_to_the_selected_stations(
    client: TestClient, engine: Engine, account: Callable[..., dict[str, str]]
) -> None:
    admin = account(Role.ADMIN)
    body = {"city": "上海", "rules": {"fridge_warm": COLD}}
    preview = client.post(f"{OPS}/thresholds/bulk", json=body, headers=admin)
    assert preview.status_code == 200, preview.text
    assert preview.json() == {"matched": 2, "station_ids": ["a-1", "b-1"], "applied": False}
    assert rules(client, "a-1", admin)["fridge_warm"]["override"] is None  # nothing written
    bad = {"city": "上海", "rules": {"fridge_warm": {"clear_below": 9}}}
    r = client.post(f"{OPS}/thresholds/bulk", json=bad, headers=admin)
    assert r.status_code == 422
    assert "rules.fridge_warm.clear_below" in r.json()["detail"]
    done = client.post(f"{OPS}/thresholds/bulk", json=body | {"apply": True}, headers=admin)
    assert done.json()["applied"] is True
    assert rules(client, "b-1", admin)["fridge_warm"]["effective"]["raise_above"] == 5.0
    assert rules(client, "a-2", admin)["fridge_warm"]["override"] is None
    (entry,) = audits(engine, "thresholds.bulk")
    assert entry.detail["stations"] == 2
    assert entry.detail["filters"] == {"city": "上海"}
    back = {"stations": ["b-1"], "rules": {"fridge_warm": None}, "apply": True}
    assert client.post(f"{OPS}/thresholds/bulk", json=back, headers=admin).status_code == 200
    assert rules(client, "b-1", admin)["fridge_warm"]["override"] is None
    assert rules(client, "a-1", admin)["fridge_warm"]["override"] is not None
    none = client.post(f"{OPS}/thresholds/bulk", json={"rules": {"disk_full": None}},
                       headers=admin)  # fmt: skip
    assert none.status_code == 422


def test_a_scoped_viewer_reads_only_its_stations(
    client: TestClient, account: Callable[..., dict[str, str]]
) -> None:
    viewer = account(Role.VIEWER, ("甲",))
    assert client.get(f"{OPS}/stations/a-1/thresholds", headers=viewer).status_code == 200
    assert client.get(f"{OPS}/stations/b-1/thresholds", headers=viewer).status_code == 404
    operator = account(Role.OPERATOR, ("甲",))
    body = {"stations": ["a-1"], "rules": {"fridge_warm": COLD}}
    assert client.post(f"{OPS}/thresholds/bulk", json=body, headers=operator).status_code == 403
