"""The members HTTP API: admin flow, enrolment by the app, signed lists, publication on MQTT.

Member administration is done by an ops account with the admin role (its API token here);
who may call it and what the audit log records is in test_cred_admin_auth.py.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from argon2 import PasswordHasher, profiles
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from cloud.auth import Role, create_user, issue_token, passwords
from cloud.credentials import issuer as I  # noqa: N812
from cloud.credentials.context import CredentialContext, CredentialSettings
from cloud.credentials.keys import Passphrase
from cloud.credentials.publisher import publish_lists
from cloud.db import init_db, make_engine, session
from cloud.main import create_app
from cloud.settings import Settings
from edge.access.verify import AccessVerifier
from firmware_sim.wallet import Wallet, enrollment_request, new_device_key
from protocol.broker import BrokerUrl
from protocol.credential import Reason, VerifyPolicy, load_public, verify
from protocol.topics import TRUST_KEYS, TRUST_REVOCATIONS
from protocol.trust import RevocationList, TrustList, unb64u
from waystation.mosquitto import MosquittoProcess

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
# The bearer header of the ops admin every `_app` creates; filled in by `_app`.
ADMIN: dict[str, str] = {}


class _Clock:
    def __call__(self) -> datetime:
        return NOW

    def now(self) -> datetime:
        return NOW

    def monotonic(self) -> float:
        return 0.0


@pytest.fixture(autouse=True)
def _cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))


def _app(db_url: str, publish: Any = None) -> tuple[Any, Any]:
    """The app with an issuer and an ops admin `root`, whose API token goes into ADMIN."""
    engine = make_engine(db_url)
    init_db(engine)
    vault = I.KeyVault(Passphrase("api test passphrase"))
    with session(engine) as s:
        I.create_issuer(s, vault, kid="api-1", now=NOW)
    create_user(engine, "root", Role.ADMIN, "correct horse battery")
    ADMIN["Authorization"] = f"Bearer {issue_token(engine, 'root')}"
    engine.dispose()
    app = create_app(Settings(db=db_url), clock=_Clock())
    app.state.credentials = CredentialContext(CredentialSettings(), vault, publish)
    return app, vault


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    app, _ = _app(db_url)
    with TestClient(app) as c:
        yield c


def _enrol(client: TestClient, member: str = "m-1") -> Wallet:
    assert client.put(f"/api/v1/members/{member}", json={"branch": "bj"}, headers=ADMIN).is_success
    code = client.post(f"/api/v1/members/{member}/enrol-code", headers=ADMIN).json()["code"]
    device = new_device_key()
    res = client.post("/api/v1/members/enroll", json=enrollment_request(member, code, device))
    assert res.status_code == 200, res.text
    return Wallet(member, device, unb64u(res.json()["certificate"]))


def _lists(client: TestClient) -> tuple[TrustList, RevocationList]:
    return (
        TrustList.model_validate_json(client.get("/api/v1/trust/keys").content),
        RevocationList.model_validate_json(client.get("/api/v1/trust/revocations").content),
    )


def test_admin_enrols_a_member_whose_code_the_served_lists_accept(client: TestClient) -> None:
    wallet = _enrol(client)
    trust, revs = _lists(client)
    assert verify(
        wallet.present(int(NOW.timestamp())), issuers=trust.issuers(), revoked=revs.revoked(),
        now=NOW,
    ).reason is Reason.GRANTED  # fmt: skip
    listed = client.get("/api/v1/members/m-1/certificates", headers=ADMIN).json()
    assert [(c["serial"], c["status"]) for c in listed] == [(wallet.serial, "valid")]
    assert client.get("/api/v1/trust/keys").headers["etag"] == '"1"'


def test_revocation_over_http_reaches_the_served_list(client: TestClient) -> None:
    a, b = _enrol(client), _enrol(client, "m-2")
    res = client.post(f"/api/v1/certificates/{a.serial}/revoke", headers=ADMIN).json()
    assert res == {"revoked": [a.serial], "revocation_version": 2, "published": False}
    res = client.post("/api/v1/members/m-2/revoke", headers=ADMIN).json()
    assert res["revoked"] == [b.serial]
    assert res["revocation_version"] == 3
    _, revs = _lists(client)
    assert set(revs.serials) == {a.serial, b.serial}
    cert = client.get(f"/api/v1/certificates/{a.serial}", headers=ADMIN).json()
    assert cert["status"] == "revoked"
    assert client.post("/api/v1/members/nobody/revoke", headers=ADMIN).status_code == 404


def test_admin_endpoints_need_an_ops_admin_and_nothing_serves_private_keys(
    client: TestClient,
) -> None:
    assert client.put("/api/v1/members/m-1", json={}).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.post("/api/v1/members/m-1/enrol-code", headers=wrong).status_code == 401
    spec = json.dumps(client.get("/openapi.json").json())
    assert "sealed" not in spec
    for path in ("/api/v1/trust/keys", "/api/v1/trust/revocations"):
        body = client.get(path).text
        assert "scrypt" not in body
        assert "PRIVATE" not in body


def test_bad_enrolment_bodies_are_clear_errors(client: TestClient) -> None:
    client.put("/api/v1/members/m-1", json={}, headers=ADMIN)
    code = client.post("/api/v1/members/m-1/enrol-code", headers=ADMIN).json()["code"]
    body = enrollment_request("m-1", code, new_device_key())
    bad_key = body | {"device_public": "AAAA"}
    assert client.post("/api/v1/members/enroll", json=bad_key).status_code == 422
    assert client.post("/api/v1/members/enroll", json=body | {"extra": 1}).status_code == 422
    assert client.post("/api/v1/members/enroll", json=body | {"code": "X" * 10}).status_code == 403
    # The failed attempts did not spend the code.
    assert client.post("/api/v1/members/enroll", json=body).status_code == 200


def test_ws2_token_batch_over_http(client: TestClient) -> None:
    wallet = _enrol(client)
    res = client.post("/api/v1/members/m-1/tokens?days=1", headers=ADMIN).json()
    assert res["serial"] == wallet.serial
    assert len(res["tokens"]) == 288
    assert client.post("/api/v1/members/m-1/tokens?days=30", headers=ADMIN).status_code == 422


def test_member_page_files_are_served_and_nothing_else(client: TestClient) -> None:
    page = client.get("/member/")
    assert page.status_code == 200
    assert "app.js" in page.text
    assert "qrcode" in client.get("/member/qrcode.js").text
    assert client.get("/member/../main.py").status_code == 404
    assert client.get("/member/LICENSE.qrcode-generator.txt").status_code == 404
    assert client.get("/member", follow_redirects=False).headers["location"] == "/member/"


@pytest.mark.integration
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_revocation_goes_out_retained_and_a_station_applies_it(
    db_url: str, mosquitto: MosquittoProcess
) -> None:
    broker = BrokerUrl("127.0.0.1", mosquitto.port)

    def publish(trust: bytes | None, revocations: bytes | None) -> None:
        publish_lists(broker, trust, revocations)

    app, _ = _app(db_url, publish)
    with TestClient(app) as client:
        wallet = _enrol(client)
        trust, revs = _lists(client)
        publish_lists(broker, trust.to_bytes(), revs.to_bytes())
        res = client.post(f"/api/v1/certificates/{wallet.serial}/revoke", headers=ADMIN).json()
        assert res["published"] is True

    # A station connecting afterwards gets both lists retained, and applies them.
    got: dict[str, bytes] = {}
    done = threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2)

    def on_message(_c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        got[message.topic] = message.payload
        if len(got) == 2:
            done.set()

    sub.on_message = on_message
    sub.on_connect = lambda c, *_: c.subscribe("ws/v1/trust/#", qos=1)
    sub.connect("127.0.0.1", mosquitto.port)
    sub.loop_start()
    try:
        assert done.wait(10)
    finally:
        sub.disconnect()
        sub.loop_stop()
    with TestClient(app) as client:
        served_trust = TrustList.model_validate_json(client.get("/api/v1/trust/keys").content)
    anchor = _anchor_of(db_url)
    verifier = AccessVerifier(anchor=anchor, policy=VerifyPolicy())
    assert verifier.update_trust(got[TRUST_KEYS]) is not None
    assert verifier.update_revocations(got[TRUST_REVOCATIONS]) is not None
    assert verifier.revocation_version == 2
    assert verifier.trust_version == served_trust.version
    held = verifier.snapshot  # what the station decides against
    text = wallet.present(int(NOW.timestamp()))
    decision = verify(text, issuers=held.issuers, revoked=held.revoked, now=NOW)
    assert decision.reason is Reason.REVOKED


def _anchor_of(db_url: str) -> Any:
    from cloud.credentials.models import IssuerKeyRow

    engine = make_engine(db_url)
    with session(engine) as s:
        row = s.get(IssuerKeyRow, "anchor")
        assert row is not None
        key = load_public(unb64u(row.public_key))
    engine.dispose()
    return key
