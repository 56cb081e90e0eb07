"""Build and sign the trust list and the revocation list (`protocol.trust`) from issuer state.

Versions only go up: the next list is always `held + 1`, and a station refuses any list whose
version is not above the one it holds, so a replayed old list cannot un-revoke a member.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from cryptography.hazmat.primitives.asymmetric import ec

from cloud.credentials.keys import KeyInfo, trusted
from protocol.trust import RevocationList, TrustList

MAX_TRUSTED_KEYS = 64  # protocol.trust.TrustList's limit; a rotation a year never comes close


def next_version(held: int | None) -> int:
    return 1 if held is None else held + 1


def build_trust_list(
    keys: list[KeyInfo], *, anchor: ec.EllipticCurvePrivateKey, held: int | None, now: datetime
) -> TrustList:
    """The signed trust list of every key still trusted at `now`, version `held + 1`."""
    items = [k.trusted_key() for k in trusted(keys, now)][-MAX_TRUSTED_KEYS:]
    return TrustList(version=next_version(held), issued_at=now, keys=items).sign(anchor)


def build_revocation_list(
    serials: Iterable[str],
    *,
    anchor: ec.EllipticCurvePrivateKey,
    held: int | None,
    now: datetime,
) -> RevocationList:
    """The signed list of revoked serials (hex), sorted and without duplicates."""
    unique = sorted({s.lower() for s in serials})
    return RevocationList(version=next_version(held), issued_at=now, serials=unique).sign(anchor)


def still_listed(valid_until: date, today: date) -> bool:
    """A revoked certificate stays on the list until it has expired: after that every station
    refuses it as `expired` anyway, so the list (carried to every station) stays small."""
    return valid_until >= today
