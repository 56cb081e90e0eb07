"""A simulated union: trust anchor, one issuer key, signed lists, and member enrolment.

Keys are derived from the seed, so one seed gives the same anchor, issuer and member keys
(and the same certificates: the issuer signature is the only random part, and ECDSA's
nonce makes it differ while it still verifies). Never use these keys for anything real.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from edge.access.trustfiles import TrustStore
from firmware_sim.wallet import Wallet
from protocol.credential import SERIAL_LEN, Flag, issue_certificate
from protocol.trust import RevocationList, TrustedKey, TrustList
from protocol.trustdir import anchor_pem

DEFAULT_KID = "sim-2026"
# The order of the P-256 group: private scalars live in [1, N − 1].
_P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def derive_key(rng: random.Random) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key from seeded randomness (simulation only)."""
    return ec.derive_private_key(1 + rng.getrandbits(256) % (_P256_N - 1), ec.SECP256R1())


@dataclass
class SimUnion:
    anchor: ec.EllipticCurvePrivateKey
    issuer: ec.EllipticCurvePrivateKey
    kid: str
    trust: TrustList
    revocations: RevocationList
    rng: random.Random = field(repr=False)
    today: date = field(default_factory=lambda: datetime.now(UTC).date())

    @classmethod
    def create(
        cls, seed: int = 0, *, kid: str = DEFAULT_KID, now: datetime | None = None
    ) -> SimUnion:
        """A union whose keys follow from `seed`; lists are version 1, none revoked."""
        now = (now or datetime.now(UTC)).astimezone(UTC)
        rng = random.Random(f"waystation-union-{seed}")
        anchor, issuer = derive_key(rng), derive_key(rng)
        trust = TrustList(
            version=1,
            issued_at=now,
            keys=[
                TrustedKey.of(
                    kid,
                    issuer.public_key(),
                    now - timedelta(days=365),
                    now + timedelta(days=5 * 365),
                )
            ],
        ).sign(anchor)
        revocations = RevocationList(version=1, issued_at=now, serials=[]).sign(anchor)
        return cls(anchor, issuer, kid, trust, revocations, rng, now.date())

    @property
    def anchor_public(self) -> ec.EllipticCurvePublicKey:
        return self.anchor.public_key()

    def enroll(
        self,
        member_id: str,
        *,
        valid_from: date | None = None,
        valid_until: date | None = None,
        flags: Flag = Flag.NONE,
    ) -> Wallet:
        """Issue a device key and certificate; default validity: yesterday to +28 days."""
        valid_from = valid_from or self.today - timedelta(days=1)
        valid_until = valid_until or self.today + timedelta(days=28)
        device = derive_key(self.rng)
        certificate = issue_certificate(
            self.issuer,
            kid=self.kid,
            serial=self.rng.randbytes(SERIAL_LEN),
            device_public=device.public_key(),
            valid_from=valid_from,
            valid_until=valid_until,
            flags=flags,
        )
        return Wallet(member_id, device, certificate)

    def enroll_expired(self, member_id: str) -> Wallet:
        """A wallet whose certificate ran out last week (for denial traffic)."""
        return self.enroll(
            member_id,
            valid_from=self.today - timedelta(days=40),
            valid_until=self.today - timedelta(days=7),
        )

    def revoke(self, *serials: str) -> RevocationList:
        """Add serials (hex) to a new, signed revocation list version and return it."""
        held = set(self.revocations.serials) | set(serials)
        self.revocations = RevocationList(
            version=self.revocations.version + 1,
            issued_at=datetime.now(UTC),
            serials=sorted(held),
        ).sign(self.anchor)
        return self.revocations

    def anchor_pem(self) -> bytes:
        return anchor_pem(self.anchor_public)

    def write_trust_dir(self, path: Path | str) -> Path:
        """Write anchor.pem, trust.json and revocations.json the way a station keeps them."""
        store = TrustStore(Path(path))
        store.save_anchor(self.anchor_public)
        store.save_trust(self.trust.to_bytes())
        store.save_revocations(self.revocations.to_bytes())
        return store.directory
