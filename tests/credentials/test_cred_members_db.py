"""The cloud's member registry and issuing on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.credentials import issuer as I  # noqa: N812
from cloud.credentials import members as M  # noqa: N812
from cloud.credentials.keys import Passphrase
from cloud.credentials.kit import Kit
from cloud.credentials.models import IssuerKeyRow, MemberRow
from cloud.db import init_db, make_engine, session
from firmware_sim.wallet import Wallet, enrollment_request, new_device_key
from protocol.credential import Reason, verify
from protocol.trust import RevocationList, TrustList, unb64u

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
T = int(NOW.timestamp())


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    init_db(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def vault() -> I.KeyVault:
    return I.KeyVault(Passphrase("db test passphrase"))


@pytest.fixture
def issuer(engine: Engine, vault: I.KeyVault) -> TrustList:
    with session(engine) as s:
        trust = I.create_issuer(s, vault, kid="cloud-1", now=NOW)
        M.upsert_member(s, member_id="m-1", branch="sz-nanshan")
    return trust


def _enrol(engine: Engine, vault: I.KeyVault, member: str = "m-1") -> Wallet:
    with session(engine) as s:
        code = M.new_enrol_code(s, member_id=member, now=NOW)
    device = new_device_key()
    body = enrollment_request(member, code, device)
    with session(engine) as s:
        cert = M.enroll(
            s, vault, member_id=member, code=code, device_public=unb64u(body["device_public"]),
            proof=unb64u(body["proof"]), now=NOW,
        )  # fmt: skip
    return Wallet(member, device, cert)


def _lists(engine: Engine) -> tuple[TrustList, RevocationList]:
    with Session(engine) as s:
        trust, revs = I.signed_list(s, I.TRUST), I.signed_list(s, I.REVOCATIONS)
        assert trust is not None
        assert revs is not None
        return TrustList.model_validate_json(trust.body), RevocationList.model_validate_json(
            revs.body
        )


def _decide(engine: Engine, text: str) -> Reason:
    trust, revs = _lists(engine)
    return verify(text, issuers=trust.issuers(), revoked=revs.revoked(), now=NOW).reason


def test_enrolled_device_is_granted_and_the_code_is_spent(
    engine: Engine, vault: I.KeyVault, issuer: TrustList
) -> None:
    wallet = _enrol(engine, vault)
    assert wallet.cert.kid == "cloud-1"
    assert _decide(engine, wallet.present(T)) is Reason.GRANTED
    with Session(engine) as s:
        member = s.get(MemberRow, "m-1")
        assert member is not None
        assert member.enrol_code_hash is None
        assert [c.serial for c in M.certificates(s, member_id="m-1")] == [wallet.serial]


def test_enrolment_refuses_wrong_code_spent_code_bad_proof_and_suspended(
    engine: Engine, vault: I.KeyVault, issuer: TrustList
) -> None:
    device = new_device_key()
    with session(engine) as s:
        code = M.new_enrol_code(s, member_id="m-1", now=NOW)

    def attempt(code_given: str, *, proof_code: str | None = None, at: datetime = NOW) -> None:
        body = enrollment_request("m-1", proof_code or code_given, device)
        with session(engine) as s:
            M.enroll(
                s, vault, member_id="m-1", code=code_given,
                device_public=unb64u(body["device_public"]), proof=unb64u(body["proof"]), now=at,
            )  # fmt: skip

    with pytest.raises(I.CredentialError, match="enrolment code") as wrong:
        attempt("AAAAAAAAAA")
    assert wrong.value.status == 403
    with pytest.raises(I.CredentialError, match="proof"):
        attempt(code, proof_code="SOMETHINGELSE")  # signed another message
    with pytest.raises(I.CredentialError, match="expired"):
        attempt(code, at=NOW + timedelta(days=8))
    attempt(code)
    with pytest.raises(I.CredentialError, match="enrolment code"):
        attempt(code)  # one-time
    with session(engine) as s:
        code2 = M.new_enrol_code(s, member_id="m-1", now=NOW)
        M.upsert_member(s, member_id="m-1", status="suspended")
    with pytest.raises(I.CredentialError, match="suspended"):
        attempt(code2)


def test_revoke_by_serial_and_member_bumps_the_signed_list(
    engine: Engine, vault: I.KeyVault, issuer: TrustList
) -> None:
    a, b = _enrol(engine, vault), _enrol(engine, vault)
    with session(engine) as s:
        newly, item = M.revoke(s, vault, serial=a.serial, now=NOW)
    assert newly == [a.serial]
    assert item.version == 2
    with session(engine) as s:
        newly, item = M.revoke(s, vault, member_id="m-1", now=NOW)
    assert newly == [b.serial]
    assert item.version == 3
    assert _decide(engine, a.present(T)) is Reason.REVOKED
    assert _decide(engine, b.present(T)) is Reason.REVOKED
    with session(engine) as s, pytest.raises(I.CredentialError):
        M.revoke(s, vault, serial="00" * 12, now=NOW)


def test_rotation_in_the_database_keeps_old_certificates_during_overlap(
    engine: Engine, vault: I.KeyVault, issuer: TrustList
) -> None:
    old = _enrol(engine, vault)
    with session(engine) as s:
        trust = I.rotate_key(s, vault, kid="cloud-2", now=NOW, overlap=timedelta(days=30))
    assert trust.version == 2
    assert [k.kid for k in trust.keys] == ["cloud-1", "cloud-2"]
    new = _enrol(engine, vault)
    assert new.cert.kid == "cloud-2"
    assert _decide(engine, old.present(T)) is Reason.GRANTED


def test_ws2_token_batch_for_a_member(engine: Engine, vault: I.KeyVault, issuer: TrustList) -> None:
    wallet = _enrol(engine, vault)
    with Session(engine) as s:
        serial, tokens = M.tokens(s, vault, member_id="m-1", now=NOW, days=3)
    assert serial == wallet.serial
    assert len(tokens) == 3 * 24 * 12
    assert _decide(engine, tokens[0]) is Reason.GRANTED


def test_import_kit_moves_keys_still_sealed_and_lists_as_signed(
    engine: Engine, vault: I.KeyVault, tmp_path: Path
) -> None:
    passphrase = Passphrase("db test passphrase")
    kit = Kit.init(tmp_path / "kit", kid="kit-1", passphrase=passphrase, now=NOW)
    device = new_device_key()
    kit_wallet = Wallet("m-k", device, kit.enroll("m-k", device.public_key(), now=NOW))
    kit.revoke(serial=kit_wallet.serial, now=NOW)
    with session(engine) as s:
        assert I.import_kit(s, kit) == (1, 1)
    with Session(engine) as s:
        row = s.get(IssuerKeyRow, "kit-1")
        assert row is not None
        assert '"kdf": "scrypt"' in row.sealed
    trust, revs = _lists(engine)
    assert trust.version == kit.trust().version
    assert kit_wallet.serial in revs.serials
    # The cloud now issues with the kit's key, and the next revocation list follows on.
    with session(engine) as s:
        M.upsert_member(s, member_id="m-1")
    wallet = _enrol(engine, vault)
    assert wallet.cert.kid == "kit-1"
    assert _decide(engine, wallet.present(T)) is Reason.GRANTED
    with session(engine) as s:
        _, item = M.revoke(s, vault, serial=wallet.serial, now=NOW)
    assert item.version == kit.revocations().version + 1
    assert set(item.serials) == {kit_wallet.serial, wallet.serial}
