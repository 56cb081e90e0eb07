"""`cloud.api.member_admin`: the dashboard's member page finds members by pseudonym, draws an
issued code's enrolment link as a QR code (the code in the fragment), and counts the stations
that hold the latest revocation list — all for admins only, the search audited."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import segno
from argon2 import PasswordHasher, profiles
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import Session

from cloud.auth import Role, create_user, issue_token, passwords
from cloud.auth.models import AuditEntry
from cloud.credentials import issuer as I  # noqa: N812
from cloud.credentials import members as M  # noqa: N812
from cloud.credentials.context import CredentialContext, CredentialSettings
from cloud.credentials.keys import Passphrase
from cloud.db import init_db, make_engine, session
from cloud.main import create_app
from cloud.models import StationState, table
from cloud.settings import Settings
from cloud.stations.registry import import_csv
from firmware_sim.cities import make_records, write_registry_csv
from firmware_sim.wallet import enrollment_request, new_device_key

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
PASSPHRASE = "member admin test passphrase"
STATE = table(StationState)


@pytest.fixture(autouse=True)
def _cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    init_db(eng)
    with session(eng) as s:
        I.create_issuer(s, I.KeyVault(Passphrase(PASSPHRASE)), kid="adm-1", now=NOW)
        for mid in ("m-alpha", "m-Beta", "x-gamma", "m_100%"):
            M.upsert_member(s, member_id=mid, branch="sz")
    for role in (Role.OPERATOR, Role.ADMIN):
        create_user(eng, role.value, role, "correct horse battery")
    yield eng
    eng.dispose()


@pytest.fixture
def client(engine: Engine, db_url: str) -> TestClient:
    app = create_app(Settings(db=db_url), engine=engine, clock=lambda: NOW)
    vault = I.KeyVault(Passphrase(PASSPHRASE))
    app.state.credentials = CredentialContext(CredentialSettings(publish_lists=False), vault)
    return TestClient(app)


def _as(engine: Engine, username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(engine, username)}"}


def test_a_search_by_pseudonym_finds_parts_of_ids_and_is_audited(
    client: TestClient, engine: Engine
) -> None:
    admin = _as(engine, "admin")
    found = client.get("/api/v1/members", params={"q": "M-"}, headers=admin).json()
    # by id in the database's collation (C: upper case first; a locale: alphabetical)
    assert sorted(m["member_id"] for m in found["members"]) == ["m-Beta", "m-alpha"]
    assert found["total"] == 2
    assert client.get("/api/v1/members", params={"q": "beta"}, headers=admin).json()["total"] == 1
    # `%` and `_` are the text they are, not patterns
    percent = client.get("/api/v1/members", params={"q": "_100%"}, headers=admin).json()
    assert [m["member_id"] for m in percent["members"]] == ["m_100%"]
    one = client.get("/api/v1/members", params={"limit": 1}, headers=admin).json()
    assert (len(one["members"]), one["total"]) == (1, 4)
    with Session(engine) as s:
        rows = s.execute(select(AuditEntry).where(AuditEntry.action == "member.search")).scalars()  # type: ignore[arg-type]
        assert [r.detail["q"] for r in rows] == ["M-", "beta", "_100%", ""]
    too_long = client.get("/api/v1/members", params={"q": "x" * 41}, headers=admin)
    assert too_long.status_code == 422
    assert [e["loc"] for e in too_long.json()["detail"]] == [["query", "q"]]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/members?q=m"),
        ("POST", "/api/v1/members/m-alpha/enrol-qr"),
        ("GET", "/api/v1/ops/members/revocation-reach"),
    ],
)
def test_only_admins_may(client: TestClient, engine: Engine, method: str, path: str) -> None:
    body = {"code": "ABCDEFGHJK"} if method == "POST" else None
    assert client.request(method, path, json=body).status_code == 401
    operator = client.request(method, path, json=body, headers=_as(engine, "operator"))
    assert operator.status_code == 403


def test_the_qr_code_carries_the_enrolment_link_with_the_code_in_the_fragment(
    client: TestClient, engine: Engine
) -> None:
    admin = _as(engine, "admin")
    code = client.post("/api/v1/members/m-alpha/enrol-code", headers=admin).json()["code"]
    res = client.post("/api/v1/members/m-alpha/enrol-qr", json={"code": code}, headers=admin)
    assert res.status_code == 200
    assert res.headers["content-type"] == "image/svg+xml"
    assert res.headers["cache-control"] == "no-store"
    assert code.encode() not in res.content  # drawn, not written into the markup
    # the same bytes as segno draws for the link with the code in the fragment
    link = f"http://testserver/member/#member=m-alpha&code={code}"
    assert parse_qs(urlsplit(link).fragment) == {"member": ["m-alpha"], "code": [code]}
    expected = io.BytesIO()
    segno.make(link, error="m", micro=False).save(expected, kind="svg", scale=6, border=2)
    assert res.content == expected.getvalue()
    # lower case as typed is the same code; any other, or another member's, is not drawn
    lower = client.post(
        "/api/v1/members/m-alpha/enrol-qr", json={"code": code.lower()}, headers=admin
    )
    assert lower.status_code == 200
    for mid, other in (("m-alpha", "ABCDEFGHJK"), ("m-Beta", code), ("nobody", code)):
        refused = client.post(
            f"/api/v1/members/{mid}/enrol-qr", json={"code": other}, headers=admin
        )
        assert refused.status_code == 404
        assert "code" in refused.json()["detail"]


def test_an_expired_code_is_not_drawn(client: TestClient, engine: Engine) -> None:
    with session(engine) as s:
        code = M.new_enrol_code(s, member_id="m-alpha", now=NOW - M.DEFAULT_CODE_TTL)
    res = client.post(
        "/api/v1/members/m-alpha/enrol-qr", json={"code": code}, headers=_as(engine, "admin")
    )
    assert res.status_code == 404


def test_revocation_reach_counts_stations_on_the_latest_list(
    client: TestClient, engine: Engine, tmp_path: object
) -> None:
    admin = _as(engine, "admin")
    records = make_records(4, seed=3, city="shenzhen")
    import_csv(engine, write_registry_csv(records, tmp_path / "registry.csv"))  # type: ignore[operator]
    before = client.get("/api/v1/ops/members/revocation-reach", headers=admin).json()
    latest = before["latest_version"]
    assert isinstance(latest, int)
    assert before == {
        "latest_version": latest, "stations": 4, "on_latest": 0, "behind": 0, "unknown": 4
    }  # fmt: skip
    a, b, c, _ = (r.id for r in records)
    held = {
        a: {"telemetry": {"revocation_version": latest}},
        b: {"meta": {"revocation_version": latest}},
        c: {
            "telemetry": {"revocation_version": latest - 1},
            "meta": {"revocation_version": latest},
        },
    }
    with engine.begin() as conn:
        for sid, values in held.items():
            conn.execute(STATE.insert().values(station_id=sid, **values))
    reach = client.get("/api/v1/ops/members/revocation-reach", headers=admin).json()
    assert (reach["on_latest"], reach["behind"], reach["unknown"]) == (2, 1, 1)
    # a revocation signs the next list: nobody holds it yet
    code = client.post("/api/v1/members/m-alpha/enrol-code", headers=admin).json()["code"]
    enrol = enrollment_request("m-alpha", code, new_device_key())
    assert client.post("/api/v1/members/enroll", json=enrol).status_code == 200
    assert client.post("/api/v1/members/m-alpha/revoke", headers=admin).status_code == 200
    after = client.get("/api/v1/ops/members/revocation-reach", headers=admin).json()
    assert after["latest_version"] == latest + 1
    assert (after["on_latest"], after["behind"], after["unknown"]) == (0, 3, 1)
