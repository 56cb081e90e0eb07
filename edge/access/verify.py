"""The signed lists a station decides against, and its verify policy.

The decision itself is `edge.access.decide`; this module only holds what it checks against.
The lists are replaced whole when a newer signed one arrives (from MQTT, on the link thread)
while the door loop keeps deciding; each decision reads one consistent snapshot. A list with
a bad signature or an older version is refused and the held one stays: a replayed old
revocation list must never un-revoke a member.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric import ec

from protocol.credential import IssuerKey, VerifyPolicy
from protocol.trust import RevocationList, TrustList

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What one decision is checked against; swapped atomically on update."""

    trust: TrustList | None = None
    revocations: RevocationList | None = None
    issuers: dict[str, IssuerKey] = field(default_factory=dict)
    revoked: frozenset[bytes] = frozenset()


class AccessVerifier:
    """Holds the lists and the policy; a decision reads one `snapshot`."""

    def __init__(
        self,
        *,
        anchor: ec.EllipticCurvePublicKey | None,
        policy: VerifyPolicy,
        trust: TrustList | None = None,
        revocations: RevocationList | None = None,
    ) -> None:
        self.anchor = anchor
        self.policy = policy
        self._lock = threading.Lock()
        self._snap = Snapshot()
        self._install(trust, revocations)

    def _install(self, trust: TrustList | None, revocations: RevocationList | None) -> None:
        self._snap = Snapshot(
            trust,
            revocations,
            trust.issuers() if trust else {},
            revocations.revoked() if revocations else frozenset(),
        )

    def load(
        self,
        anchor: ec.EllipticCurvePublicKey | None,
        trust: TrustList | None,
        revocations: RevocationList | None,
    ) -> None:
        """Replace everything held, e.g. with what the trust directory had at start-up."""
        with self._lock:
            self.anchor = anchor
            self._install(trust, revocations)

    @property
    def trust_version(self) -> int | None:
        trust = self._snap.trust
        return trust.version if trust else None

    @property
    def revocation_version(self) -> int | None:
        revocations = self._snap.revocations
        return revocations.version if revocations else None

    def trust_age_s(self, now: datetime) -> float | None:
        """Seconds since the held trust list was issued (None: no list held)."""
        trust = self._snap.trust
        if trust is None:
            return None
        return round(max(0.0, (now - trust.issued_at).total_seconds()), 1)

    def revocation_age_s(self, now: datetime) -> float | None:
        """Seconds since the held revocation list was issued (None: no list held)."""
        revocations = self._snap.revocations
        if revocations is None:
            return None
        return round(max(0.0, (now - revocations.issued_at).total_seconds()), 1)

    @property
    def snapshot(self) -> Snapshot:
        """The lists in force now (one consistent set; replaced whole on update)."""
        return self._snap

    def update_trust(self, raw: bytes | str) -> TrustList | None:
        """Apply a received trust list; returns it, or None if it was refused (logged)."""
        if self.anchor is None:
            log.error("trust list refused: this station has no trust anchor")
            return None
        with self._lock:
            snap = self._snap
            try:
                trust = TrustList.accept(raw, self.anchor, self.trust_version)
                self._install(trust, snap.revocations)  # decodes the keys: may raise too
            except ValueError as exc:  # ListError, or a key that is not a P-256 point
                log.warning("trust list refused: %s", exc)
                return None
        log.info("trust list v%d applied (%d keys)", trust.version, len(trust.keys))
        return trust

    def update_revocations(self, raw: bytes | str) -> RevocationList | None:
        """Apply a received revocation list; returns it, or None if it was refused (logged)."""
        if self.anchor is None:
            log.error("revocation list refused: this station has no trust anchor")
            return None
        with self._lock:
            snap = self._snap
            try:
                revocations = RevocationList.accept(raw, self.anchor, self.revocation_version)
                self._install(snap.trust, revocations)
            except ValueError as exc:  # ListError, or a serial that is not hex
                log.warning("revocation list refused: %s", exc)
                return None
        log.info(
            "revocation list v%d applied (%d serials)",
            revocations.version,
            len(revocations.serials),
        )
        return revocations
