"""Keys and a trust list shared by the protocol tests (fresh per test: keys are cheap)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from protocol import credential as c
from protocol.trust import RevocationList, TrustedKey, TrustList

NOW = datetime(2026, 11, 21, 3, 0, 0, tzinfo=UTC)  # 3 a.m., a worker at the door


@dataclass
class Kit:
    anchor: ec.EllipticCurvePrivateKey
    issuer: ec.EllipticCurvePrivateKey
    device: ec.EllipticCurvePrivateKey
    serial: bytes
    cert: bytes
    trust: TrustList

    def present(self, at: datetime = NOW) -> str:
        return c.present(self.cert, self.device, int(at.timestamp()))

    def verify(self, text: str, **kw: object) -> c.Decision:
        args: dict[str, object] = {
            "issuers": self.trust.issuers(),
            "revoked": frozenset(),
            "now": NOW,
        }
        args.update(kw)
        return c.verify(text, **args)  # type: ignore[arg-type]


def make_cert(
    kit_issuer: ec.EllipticCurvePrivateKey,
    device: ec.EllipticCurvePrivateKey,
    serial: bytes,
    *,
    days_from: int = -1,
    days_until: int = 30,
    kid: str = "union-26",
    flags: c.Flag = c.Flag.NONE,
) -> bytes:
    today = NOW.date()
    return c.issue_certificate(
        kit_issuer, kid=kid, serial=serial, device_public=device.public_key(),
        valid_from=today + timedelta(days=days_from),
        valid_until=today + timedelta(days=days_until),
        flags=flags,
    )  # fmt: skip


@pytest.fixture
def kit() -> Kit:
    anchor = ec.generate_private_key(ec.SECP256R1())
    issuer = ec.generate_private_key(ec.SECP256R1())
    device = ec.generate_private_key(ec.SECP256R1())
    serial = os.urandom(c.SERIAL_LEN)
    trust = TrustList(
        version=1,
        issued_at=NOW,
        keys=[
            TrustedKey.of(
                "union-26", issuer.public_key(), NOW - timedelta(days=30), NOW + timedelta(days=365)
            )
        ],
    ).sign(anchor)
    return Kit(anchor, issuer, device, serial, make_cert(issuer, device, serial), trust)


@pytest.fixture(name="make_cert")
def make_cert_fixture():
    return make_cert


@pytest.fixture
def revocations(kit: Kit) -> RevocationList:
    return RevocationList(version=1, issued_at=NOW, serials=[kit.serial.hex()]).sign(kit.anchor)
