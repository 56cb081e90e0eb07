"""Signed lists: verification, tamper detection, rollback refusal."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from protocol.trust import ListError, RevocationList, TrustList

from .conftest import NOW, Kit


def test_signed_trust_list_is_accepted_and_gives_issuers(kit: Kit) -> None:
    got = TrustList.accept(kit.trust.to_bytes(), kit.anchor.public_key(), held_version=None)
    issuers = got.issuers()
    assert set(issuers) == {"union-26"}
    assert issuers["union-26"].valid_at(NOW)
    assert not issuers["union-26"].valid_at(NOW + timedelta(days=366))


def test_signature_survives_reserialisation(kit: Kit) -> None:
    pretty = json.dumps(json.loads(kit.trust.to_bytes()), indent=2)
    assert TrustList.accept(pretty, kit.anchor.public_key(), None) == kit.trust


def test_tampered_list_is_refused(kit: Kit) -> None:
    data = json.loads(kit.trust.to_bytes())
    data["keys"][0]["not_after"] = "2099-01-01T00:00:00Z"
    with pytest.raises(ListError, match="signature"):
        TrustList.accept(json.dumps(data), kit.anchor.public_key(), None)


def test_list_signed_by_another_key_is_refused(kit: Kit) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(ListError, match="signature"):
        TrustList.accept(kit.trust.sign(other).to_bytes(), kit.anchor.public_key(), None)


def test_unsigned_and_garbage_lists_are_refused(kit: Kit) -> None:
    unsigned = kit.trust.model_copy(update={"sig": None})
    with pytest.raises(ListError):
        TrustList.accept(unsigned.to_bytes(), kit.anchor.public_key(), None)
    with pytest.raises(ListError, match="not a TrustList"):
        TrustList.accept(b"{}", kit.anchor.public_key(), None)


def test_rollback_to_an_older_or_equal_version_is_refused(
    kit: Kit, revocations: RevocationList
) -> None:
    raw = revocations.to_bytes()
    assert RevocationList.accept(raw, kit.anchor.public_key(), held_version=0).version == 1
    with pytest.raises(ListError, match="held 1"):
        RevocationList.accept(raw, kit.anchor.public_key(), held_version=1)
    with pytest.raises(ListError, match="held 5"):
        RevocationList.accept(raw, kit.anchor.public_key(), held_version=5)


def test_revocation_serials_must_be_hex(kit: Kit) -> None:
    with pytest.raises(ValueError, match="serials"):
        RevocationList(version=1, issued_at=NOW, serials=["not-hex"])
