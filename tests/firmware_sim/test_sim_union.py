from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from edge.access.replay import ReplayCache
from edge.access.trustfiles import TrustStore
from firmware_sim.union import SimUnion
from protocol.credential import Reason, verify

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def private_value(key: ec.EllipticCurvePrivateKey) -> int:
    return key.private_numbers().private_value


def test_keys_follow_the_seed() -> None:
    a, b, c = SimUnion.create(1, now=NOW), SimUnion.create(1, now=NOW), SimUnion.create(2, now=NOW)
    assert private_value(a.anchor) == private_value(b.anchor)
    assert private_value(a.issuer) == private_value(b.issuer)
    assert private_value(a.anchor) != private_value(c.anchor)
    assert a.enroll("m").serial == b.enroll("m").serial
    assert a.trust.version == 1
    assert a.revocations.version == 1
    assert a.trust.verify(a.anchor_public)
    assert a.revocations.verify(a.anchor_public)


def test_enrolled_wallet_verifies_and_expired_does_not() -> None:
    union = SimUnion.create(1, now=NOW)
    t = int(NOW.timestamp())
    ok = verify(
        union.enroll("m").present(t), issuers=union.trust.issuers(), revoked=set(), now=NOW,
        replay=ReplayCache(monotonic=lambda: 0.0, floor=NOW.timestamp),
    )  # fmt: skip
    assert ok.granted
    assert ok.kid == "sim-2026"
    old = verify(
        union.enroll_expired("x").present(t), issuers=union.trust.issuers(), revoked=set(),
        now=NOW,
    )  # fmt: skip
    assert old.reason is Reason.EXPIRED


def test_revoke_bumps_the_signed_list() -> None:
    union = SimUnion.create(1, now=NOW)
    wallet = union.enroll("m")
    revocations = union.revoke(wallet.serial)
    assert revocations.version == 2
    assert revocations.serials == [wallet.serial]
    assert revocations.verify(union.anchor_public)


def test_trust_dir_is_what_the_station_reads(tmp_path: Path) -> None:
    union = SimUnion.create(1, now=NOW)
    directory = union.write_trust_dir(tmp_path / "t")
    assert sorted(p.name for p in directory.iterdir()) == [
        "anchor.pem",
        "revocations.json",
        "trust.json",
    ]
    store = TrustStore(directory)
    anchor = store.load_anchor()
    assert anchor is not None
    assert anchor.public_numbers() == union.anchor_public.public_numbers()
    trust = store.load_trust(anchor)
    assert trust is not None
    assert trust.keys[0].kid == union.kid
