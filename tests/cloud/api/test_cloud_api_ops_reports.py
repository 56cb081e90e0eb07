"""`GET /api/v1/ops/reports/monthly`: JSON and CSV of the hand-built November
(tests.support.monthdata), viewer login required, scope-filtered (partner 甲 never sees
partner 乙's station), a bad month or grouping is a 422 naming the field."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.auth import Role, issue_token
from cloud.auth.scope import make_scope
from cloud.auth.users import add_user
from tests.support import monthdata as m

URL = "/api/v1/ops/reports/monthly"


def _partner(engine: Engine, operator: str) -> dict[str, str]:
    with Session(engine) as s:
        add_user(s, "partner", Role.VIEWER, "correct horse battery", now=m.NOW,
                 scope=make_scope([operator]))  # fmt: skip
        s.commit()
    return {"Authorization": f"Bearer {issue_token(engine, 'partner')}"}


def test_json_by_city(client: TestClient, engine: Engine, clock: Any, as_role: Any) -> None:
    m.build(engine)
    clock.now = m.NOW
    assert client.get(URL, params={"month": m.MONTH}).status_code == 401
    r = client.get(URL, params={"month": m.MONTH, "by": "city"}, headers=as_role(Role.VIEWER))
    assert r.status_code == 200, r.text
    body = r.json()
    rows = {row["key"]: row for row in body["rows"]}
    assert rows["深圳"]["uptime_pct"] == round(100 * 1075 / 1080, 3)
    assert rows["深圳"]["denied_by_reason"] == {"expired": 1, "revoked": 2}
    assert rows["广州"]["uptime_pct"] is None
    assert [s["id"] for s in body["no_agent"]] == [m.C]
    assert body["complete"] is True


def test_a_partner_sees_only_its_stations(client: TestClient, engine: Engine, clock: Any) -> None:
    m.build(engine)
    clock.now = m.NOW
    headers = _partner(engine, m.P1)
    r = client.get(URL, params={"month": m.MONTH, "by": "station"}, headers=headers)
    assert r.status_code == 200, r.text
    assert sorted(row["key"] for row in r.json()["rows"]) == sorted([m.A, m.C])
    r = client.get(URL, params={"month": m.MONTH, "by": "operator", "format": "csv"},
                   headers=headers)  # fmt: skip
    assert m.P2 not in r.content.decode("utf-8")


def test_csv_has_a_bom_and_parses(
    client: TestClient, engine: Engine, clock: Any, as_role: Any
) -> None:
    m.build(engine)
    clock.now = m.NOW
    headers = as_role(Role.VIEWER)
    r = client.get(URL, params={"month": m.MONTH, "by": "operator", "format": "csv"},
                   headers=headers)  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][0] == "运营方"
    assert [row[0] for row in rows[1:4]] == [*sorted([m.P1, m.P2]), "合计"]
    en = client.get(URL, params={"month": m.MONTH, "format": "csv", "lang": "en"},
                    headers=headers)  # fmt: skip
    assert en.content.decode("utf-8-sig").startswith("city,stations,")


def test_bad_input_names_the_field(client: TestClient, clock: Any, as_role: Any) -> None:
    clock.now = m.NOW
    headers = as_role(Role.VIEWER)
    for params, field in (
        ({"month": "2026-13"}, "month"),
        ({"month": "2027-01"}, "month"),
        ({}, "month"),
        ({"month": m.MONTH, "by": "planet"}, "by"),
        ({"month": m.MONTH, "format": "pdf"}, "format"),
    ):
        r = client.get(URL, params=params, headers=headers)
        assert r.status_code == 422, (params, r.text)
        assert field in r.text, r.text
