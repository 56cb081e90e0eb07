"""The server-to-server API for a union's app backend (`cloud.api.union_app`), on SQLite and
PostgreSQL: signed requests (ES256 over the request, timestamp, nonce), scopes, the per-client
rate, the audit log; and the admin PUT that sets flags and the membership's end.

The API client is registered with the real command (`members api-client add`) where the
key handling matters; the rest registers it directly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher, profiles
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import Session
from typer.testing import CliRunner

from cloud.api import union_app
from cloud.auth import Role, create_user, issue_token, passwords
from cloud.auth.models import AuditEntry
from cloud.credentials import apiclients as A  # noqa: N812
from cloud.credentials import issuer as I  # noqa: N812
from cloud.credentials.context import CredentialContext, CredentialSettings
from cloud.credentials.keys import Passphrase
from cloud.db import init_db, make_engine, session
from cloud.main import create_app
from cloud.settings import Settings
from firmware_sim.wallet import enrollment_request, new_device_key, renewal_request
from protocol.credential import Flag, Reason, parse_certificate, verify
from protocol.trust import RevocationList, TrustList, unb64u
from waystation.cli import app as cli_app

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
CLIENT = "qilu-app"


class _Clock:
    def __call__(self) -> datetime:
        return NOW


@pytest.fixture(autouse=True)
def _cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))


class Signed:
    """A union backend: every request signed with its key, like docs/integration.md shows."""

    def __init__(self, http: TestClient, client_id: str, key: ec.EllipticCurvePrivateKey) -> None:
        self.http, self.client_id, self.key = http, client_id, key

    def headers(self, method: str, target: str, body: bytes, at: datetime = NOW) -> dict[str, str]:
        return A.sign_request(
            self.key, client_id=self.client_id, method=method, target=target, body=body,
            timestamp=int(at.timestamp()),
        )  # fmt: skip

    def __call__(self, method: str, target: str, payload: Any = None, at: datetime = NOW) -> Any:
        body = b"" if payload is None else json.dumps(payload).encode()
        headers = self.headers(method, target, body, at)
        if payload is not None:
            headers["Content-Type"] = "application/json"
        return self.http.request(method, target, content=body, headers=headers)


def _engine_with_issuer(db_url: str) -> tuple[Engine, I.KeyVault]:
    engine = make_engine(db_url)
    init_db(engine)
    vault = I.KeyVault(Passphrase("union app test passphrase"))
    with session(engine) as s:
        I.create_issuer(s, vault, kid="app-1", now=NOW)
    return engine, vault


def _client(engine: Engine, client_id: str, scopes: str, rate: int = 600) -> Any:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with session(engine) as s:
        A.add_client(
            s, client_id=client_id, scopes=scopes, now=NOW, public_key=pem, rate_per_min=rate
        )
    return key


@pytest.fixture
def world(db_url: str) -> Iterator[tuple[TestClient, Engine, Any]]:
    engine, vault = _engine_with_issuer(db_url)
    key = _client(engine, CLIENT, "members,enroll,revoke,status")
    app = create_app(Settings(db=db_url), clock=_Clock())
    app.state.credentials = CredentialContext(CredentialSettings(), vault)
    with TestClient(app) as http:
        yield http, engine, Signed(http, CLIENT, key)
    engine.dispose()


def _audit(engine: Engine) -> list[AuditEntry]:
    with Session(engine) as s:
        return list(s.scalars(select(AuditEntry).order_by(AuditEntry.id)).all())  # type: ignore[arg-type]


def _lists(http: TestClient) -> tuple[TrustList, RevocationList]:
    return (
        TrustList.model_validate_json(http.get("/api/v1/trust/keys").content),
        RevocationList.model_validate_json(http.get("/api/v1/trust/revocations").content),
    )


def test_an_app_backend_creates_a_member_whose_wallet_enrols_and_opens_doors(world: Any) -> None:
    http, engine, call = world
    until = NOW.date() + timedelta(days=10)
    res = call(
        "PUT", "/api/v1/app/members/u-1001",
        {"branch": "jn-rencheng", "staff": True, "valid_until": until.isoformat()},
    )  # fmt: skip
    assert res.status_code == 200, res.text
    assert res.json() == {
        "member_id": "u-1001", "branch": "jn-rencheng", "status": "active", "staff": True,
        "mother_baby": False, "valid_until": until.isoformat(),
    }  # fmt: skip
    res = call("POST", "/api/v1/app/members/u-1001/enrol-code", {"ttl_min": 10})
    assert res.status_code == 200, res.text
    issued = res.json()
    assert res.headers["cache-control"] == "no-store"
    assert issued["link"] == f"http://testserver/member/#member=u-1001&code={issued['code']}"
    assert datetime.fromisoformat(issued["expires_at"]) == NOW + timedelta(minutes=10)

    # The wallet in the app's page enrols the phone's own key with the code.
    device = new_device_key()
    res = http.post(
        "/api/v1/members/enroll", json=enrollment_request("u-1001", issued["code"], device)
    )
    assert res.status_code == 200, res.text
    cert = parse_certificate(unb64u(res.json()["certificate"]))
    assert cert.flags == Flag.STAFF
    assert cert.valid_until == until  # the membership's end caps the certificate

    status = call("GET", "/api/v1/app/members/u-1001")
    assert status.status_code == 200, status.text
    body = status.json()
    assert [(d["serial"], d["status"]) for d in body["devices"]] == [(cert.serial.hex(), "valid")]
    assert body["enrol_code_expires"] is None  # spent
    assert body["server_time_ms"] == int(NOW.timestamp() * 1000)

    trust, revs = _lists(http)
    from firmware_sim.wallet import Wallet

    wallet = Wallet("u-1001", device, unb64u(res.json()["certificate"]))
    text = wallet.present(int(NOW.timestamp()))
    decision = verify(text, issuers=trust.issuers(), revoked=revs.revoked(), now=NOW)
    assert decision.reason is Reason.GRANTED

    # The app revokes (a lost phone): the served list carries the serial.
    res = call("POST", f"/api/v1/app/certificates/{cert.serial.hex()}/revoke")
    assert res.status_code == 200, res.text
    assert res.json()["revoked"] == [cert.serial.hex()]
    _, revs = _lists(http)
    assert verify(text, issuers=trust.issuers(), revoked=revs.revoked(), now=NOW).reason is (
        Reason.REVOKED
    )
    assert call("POST", "/api/v1/app/members/nobody/revoke").status_code == 404
    devices = call("GET", "/api/v1/app/members/u-1001").json()["devices"]
    assert [d["status"] for d in devices] == ["revoked"]

    # Audited as the client, never with the code.
    rows = [(r.username, r.role, r.action, r.target) for r in _audit(engine)]
    assert rows == [
        ("app:qilu-app", "app", "member.put", "member:u-1001"),
        ("app:qilu-app", "app", "member.enrol_code", "member:u-1001"),
        ("app:qilu-app", "app", "member.status", "member:u-1001"),
        ("app:qilu-app", "app", "certificate.revoke", f"certificate:{cert.serial.hex()}"),
        ("app:qilu-app", "app", "member.status", "member:u-1001"),
    ]
    assert issued["code"] not in json.dumps([r.detail for r in _audit(engine)])


def test_signed_requests_refuse_replay_staleness_forgery_and_missing_scopes(world: Any) -> None:
    http, engine, call = world
    target, body = "/api/v1/app/members/u-2", json.dumps({"branch": "x"}).encode()
    json_type = {"Content-Type": "application/json"}

    def put(headers: dict[str, str], content: bytes = body) -> Any:
        return http.put(target, content=content, headers={**headers, **json_type})

    def refused(res: Any) -> tuple[int, str]:
        return res.status_code, res.json().get("reason")

    assert refused(put({})) == (401, "unsigned")
    headers = call.headers("PUT", target, body)
    assert put(headers).status_code == 200
    assert refused(put(headers)) == (401, "replayed")  # the same request again
    stale = call.headers("PUT", target, body, at=NOW - timedelta(seconds=A.SKEW_S + 1))
    assert refused(put(stale)) == (401, "stale_timestamp")
    ahead = call.headers("PUT", target, body, at=NOW + timedelta(seconds=A.SKEW_S + 1))
    assert refused(put(ahead)) == (401, "stale_timestamp")
    fresh = call.headers("PUT", target, body)
    assert refused(put(fresh, json.dumps({"branch": "y"}).encode())) == (401, "bad_signature")
    other = call.headers("PUT", "/api/v1/app/members/u-3", body)
    assert refused(put(other)) == (401, "bad_signature")  # signed for another target
    stranger = Signed(http, CLIENT, ec.generate_private_key(ec.SECP256R1()))
    assert refused(stranger("PUT", target, {"branch": "x"})) == (401, "bad_signature")
    assert refused(Signed(http, "nobody-app", call.key)("GET", target)) == (
        401, "unknown_client",
    )  # fmt: skip
    # A DER signature (Java's and Node's default encoding) is as good as raw r||s.
    der = call.headers("PUT", target, body)
    message = A.canonical_request(
        client_id=CLIENT, method="PUT", target=target, timestamp=der["X-WS-Timestamp"],
        nonce=der["X-WS-Nonce"], body=body,
    )  # fmt: skip
    from protocol.trust import b64u

    der["X-WS-Signature"] = b64u(call.key.sign(message, ec.ECDSA(hashes.SHA256())))
    assert put(der).status_code == 200

    # Least privilege: a status-only client may read but not change or enrol.
    reader = Signed(http, "reader-app", _client(engine, "reader-app", "status"))
    assert reader("GET", target).status_code == 200
    for method, path in (
        ("PUT", target),
        ("POST", f"{target}/enrol-code"),
        ("POST", f"{target}/revoke"),
    ):
        res = reader(method, path, {} if method == "PUT" else None)
        assert refused(res) == (403, "scope"), (method, path)
    # A disabled client is refused at once.
    with session(engine) as s:
        A.disable_client(s, client_id="reader-app", now=NOW)
    assert refused(reader("GET", target)) == (401, "unknown_client")
    assert not [r for r in _audit(engine) if r.username == "app:reader-app" and r.action != (
        "member.status"
    )]  # fmt: skip


def test_bad_input_names_the_field(world: Any) -> None:
    _http, _engine, call = world
    res = call("PUT", "/api/v1/app/members/u-4", {"staff": "maybe"})
    assert res.status_code == 422
    assert [e["loc"][-1] for e in res.json()["detail"]] == ["staff"]
    res = call("PUT", "/api/v1/app/members/u-4", {"valid_until": "2026-02-30"})
    assert [e["loc"][-1] for e in res.json()["detail"]] == ["valid_until"]
    res = call("PUT", "/api/v1/app/members/u-4", {"nickname": "x"})
    assert [e["loc"][-1] for e in res.json()["detail"]] == ["nickname"]
    res = call("PUT", "/api/v1/app/members/13800138000%20x", {})
    assert res.status_code == 422
    assert "member_id" in res.json()["detail"]
    assert call("PUT", "/api/v1/app/members/u-4", {}).status_code == 200
    res = call("POST", "/api/v1/app/members/u-4/enrol-code", {"ttl_min": 0})
    assert [e["loc"][-1] for e in res.json()["detail"]] == ["ttl_min"]
    assert call("POST", "/api/v1/app/members/nobody/enrol-code").status_code == 404
    assert call("GET", "/api/v1/app/members/nobody").status_code == 404
    assert call("POST", "/api/v1/app/certificates/zz/revoke").status_code == 422
    call("PUT", "/api/v1/app/members/u-4", {"status": "suspended"})
    res = call("POST", "/api/v1/app/members/u-4/enrol-code")
    assert res.status_code == 409
    assert "suspended" in res.json()["detail"]


def test_each_client_has_its_own_rate(db_url: str) -> None:
    """Story: one app backend in a retry loop must not take the API from the others."""
    engine, vault = _engine_with_issuer(db_url)
    slow = _client(engine, "slow-app", "status", rate=6)  # burst 5, then one every 10 s
    fast = _client(engine, "fast-app", "status")
    app = create_app(Settings(db=db_url), clock=_Clock())
    app.state.credentials = CredentialContext(CredentialSettings(), vault)
    try:
        with TestClient(app) as http:
            call = Signed(http, "slow-app", slow)
            codes = [call("GET", "/api/v1/app/members/x").status_code for _ in range(6)]
            assert codes == [404] * 5 + [429]
            res = call("GET", "/api/v1/app/members/x")
            assert res.status_code == 429
            assert 1 <= int(res.headers["retry-after"]) <= 10
            assert Signed(http, "fast-app", fast)("GET", "/api/v1/app/members/x").status_code == 404
    finally:
        engine.dispose()


def test_the_admin_put_sets_flags_and_the_membership_end(world: Any) -> None:
    """Story: PUT /api/v1/members/{id} could set only branch and status, so a member made
    staff (or given an end date) over the API never got it."""
    http, engine, _call = world
    create_user(engine, "root", Role.ADMIN, "correct horse battery")
    admin = {"Authorization": f"Bearer {issue_token(engine, 'root')}"}
    end = date(2026, 12, 31)
    res = http.put(
        "/api/v1/members/m-9",
        json={"branch": "bj", "mother_baby": True, "staff": True, "valid_until": end.isoformat()},
        headers=admin,
    )
    assert res.status_code == 200, res.text
    assert res.json() == {
        "member_id": "m-9", "branch": "bj", "status": "active", "staff": True,
        "mother_baby": True, "valid_until": "2026-12-31",
    }  # fmt: skip
    # Fields left out keep their value; an explicit null removes the end.
    res = http.put("/api/v1/members/m-9", json={"staff": False}, headers=admin).json()
    assert (res["branch"], res["staff"], res["mother_baby"], res["valid_until"]) == (
        "bj", False, True, "2026-12-31",
    )  # fmt: skip
    res = http.put("/api/v1/members/m-9", json={"valid_until": None}, headers=admin).json()
    assert res["valid_until"] is None
    assert http.put("/api/v1/members/m-9", json={"staff": 3}, headers=admin).status_code == 422
    code = http.post("/api/v1/members/m-9/enrol-code", headers=admin).json()["code"]
    device = new_device_key()
    enrolled = http.post("/api/v1/members/enroll", json=enrollment_request("m-9", code, device))
    cert = parse_certificate(unb64u(enrolled.json()["certificate"]))
    assert cert.flags == Flag.MOTHER_BABY
    puts = [r.detail for r in _audit(engine) if r.action == "member.put"]
    assert puts[0] == {
        "branch": "bj", "mother_baby": True, "staff": True, "valid_until": "2026-12-31",
        "created": True,
    }  # fmt: skip
    assert puts[1] == {"staff": False, "created": False}


def test_the_api_client_command_keeps_only_the_public_key(db_url: str, tmp_path: Path) -> None:
    engine, vault = _engine_with_issuer(db_url)
    cli = CliRunner()
    key_out = tmp_path / "qilu.pem"
    args = ["members", "api-client", "add", "cli-app", "--scope", "enroll,status", "--db", db_url]
    res = cli.invoke(cli_app, [*args, "--key-out", str(key_out)])
    assert res.exit_code == 0, res.output
    assert key_out.stat().st_mode & 0o777 == 0o600
    out = json.loads(res.stdout)
    assert out["scopes"] == ["enroll", "status"]
    pem = key_out.read_text()
    key = serialization.load_pem_private_key(pem.encode(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    with Session(engine) as s:
        row = s.get(A.ApiClientRow, "cli-app")
        assert row is not None
        stored = json.dumps(row.model_dump(mode="json"))
    secret = key.private_numbers().private_value
    assert format(secret, "x") not in stored
    assert "PRIVATE" not in stored
    again = cli.invoke(cli_app, [*args, "--key-out", str(tmp_path / "other.pem")])
    assert again.exit_code == 2
    assert "exists already" in again.output
    res = cli.invoke(cli_app, [*args[:3], "bad-scope", "--scope", "all", "--db", db_url,
                               "--key-out", str(tmp_path / "x.pem")])  # fmt: skip
    assert res.exit_code == 2
    assert "scopes must be some of" in res.output
    assert not (tmp_path / "x.pem").exists()

    app = create_app(Settings(db=db_url), clock=_Clock())
    app.state.credentials = CredentialContext(CredentialSettings(), vault)
    with TestClient(app) as http:
        call = Signed(http, "cli-app", key)
        assert call("GET", "/api/v1/app/members/x").status_code == 404
        res = cli.invoke(cli_app, ["members", "api-client", "disable", "cli-app", "--db", db_url])
        assert res.exit_code == 0, res.output
        assert call("GET", "/api/v1/app/members/x").json()["reason"] == "unknown_client"
    listed = cli.invoke(cli_app, ["members", "api-client", "list", "--db", db_url])
    assert json.loads(listed.stdout.splitlines()[0])["disabled_at"] is not None
    actions = [(r.action, r.username.startswith("cli:")) for r in _audit(engine)]
    assert actions == [("api_client.add", True), ("api_client.disable", True)]
    engine.dispose()
    assert union_app.PREFIX == "/api/v1/app"


class _MovingClock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def test_the_change_feed_pages_enrolments_revocations_and_refusals(db_url: str) -> None:
    """Story: an app backend had to poll every member's status to learn that a phone enrolled
    or was locked out; the feed answers "what changed since my cursor" in one call."""
    engine, vault = _engine_with_issuer(db_url)
    key = _client(engine, CLIENT, "members,enroll,revoke,status")
    clock = _MovingClock()
    app = create_app(Settings(db=db_url), clock=clock)
    app.state.credentials = CredentialContext(CredentialSettings(), vault)

    def feed(call: Signed, cursor: str, limit: int = 100) -> Any:
        res = call("GET", f"/api/v1/app/changes?cursor={cursor}&limit={limit}", at=clock.now)
        assert res.status_code == 200, res.text
        return res.json()

    def kinds(page: Any) -> list[tuple[str, str]]:
        return [(c["kind"], c["member_id"]) for c in page["changes"]]

    try:
        with TestClient(app) as http:
            call = Signed(http, CLIENT, key)
            phones: dict[str, tuple[Any, bytes]] = {}
            for i, member in enumerate(("u-1", "u-2", "u-3")):
                clock.now = NOW + timedelta(seconds=i)
                assert call("PUT", f"/api/v1/app/members/{member}", {}, at=clock.now).is_success
                code = call("POST", f"/api/v1/app/members/{member}/enrol-code", at=clock.now)
                device = new_device_key()
                body = enrollment_request(member, code.json()["code"], device)
                res = http.post("/api/v1/members/enroll", json=body)
                phones[member] = (device, unb64u(res.json()["certificate"]))
            first = feed(call, "0")
            assert first["changes"] == []  # younger than the settling time: not yet
            clock.now = NOW + timedelta(seconds=40)
            page = feed(call, first["next_cursor"], limit=2)
            assert kinds(page) == [("enrolled", "u-1"), ("enrolled", "u-2")]
            assert page["more"] is True
            page = feed(call, page["next_cursor"], limit=2)
            assert kinds(page) == [("enrolled", "u-3")]
            assert page["more"] is False
            cursor = page["next_cursor"]
            assert feed(call, cursor)["changes"] == []

            # u-1 is revoked; u-1's phone then asks to renew and is refused (recorded).
            revoked = call("POST", "/api/v1/app/members/u-1/revoke", at=clock.now).json()
            device, held = phones["u-1"]
            clock.now += timedelta(seconds=1)
            t_ms = int(clock.now.timestamp() * 1000)
            res = http.post("/api/v1/members/renew", json=renewal_request(held, device, t_ms))
            assert res.status_code == 403
            clock.now += timedelta(seconds=40)
            page = feed(call, cursor)
            assert kinds(page) == [("revoked", "u-1"), ("renewal_refused", "u-1")]
            assert [page["changes"][0]["serial"]] == revoked["revoked"]
            assert "revoked" in page["changes"][1]["detail"]
            res = call("GET", "/api/v1/app/changes?cursor=abc", at=clock.now)
            assert res.status_code == 422
            assert res.json()["detail"][0]["loc"] == ["query", "cursor"]
    finally:
        engine.dispose()
