"""`cloud.credentials.lists`: signed trust and revocation lists whose versions only go up."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from cloud.credentials.keys import KeyInfo, key_info
from cloud.credentials.lists import (
    MAX_TRUSTED_KEYS,
    build_revocation_list,
    build_trust_list,
    next_version,
    still_listed,
)
from protocol.trust import ListError, RevocationList, TrustList

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ANCHOR = ec.derive_private_key(7, ec.SECP256R1())


def key(kid: str, *, age_days: int, lifetime_days: int = 365) -> KeyInfo:
    private = ec.derive_private_key(100 + len(kid) + age_days, ec.SECP256R1())
    return key_info(kid, private, NOW - timedelta(days=age_days), timedelta(days=lifetime_days))


def test_versions_start_at_one_and_only_go_up() -> None:
    assert next_version(None) == 1
    assert next_version(1) == 2
    assert next_version(41) == 42


def test_the_trust_list_carries_the_still_trusted_keys_oldest_first_signed() -> None:
    old, new = key("k-old", age_days=300), key("k-new", age_days=10)
    expired = key("k-gone", age_days=800)
    retired = key("k-ret", age_days=20).model_copy(update={"retired_at": NOW})
    trust = build_trust_list([new, expired, retired, old], anchor=ANCHOR, held=4, now=NOW)
    assert [k.kid for k in trust.keys] == ["k-old", "k-new"]
    assert trust.version == 5
    assert trust.issued_at == NOW
    # what a station does with it: the signature verifies, and a replay of v4 is refused
    assert TrustList.accept(trust.to_bytes(), ANCHOR.public_key(), 4).version == 5
    with pytest.raises(ListError, match="version"):
        TrustList.accept(trust.to_bytes(), ANCHOR.public_key(), 5)


def test_the_trust_list_keeps_at_most_the_newest_keys_the_protocol_allows() -> None:
    keys = [key(f"k{i:03d}", age_days=i + 1) for i in range(MAX_TRUSTED_KEYS + 3)]
    trust = build_trust_list(keys, anchor=ANCHOR, held=None, now=NOW)
    assert len(trust.keys) == MAX_TRUSTED_KEYS
    assert "k000" in {k.kid for k in trust.keys}  # the newest (1 day old) stays
    assert f"k{MAX_TRUSTED_KEYS + 2:03d}" not in {k.kid for k in trust.keys}  # the oldest goes


def test_the_revocation_list_is_sorted_lowercase_without_duplicates() -> None:
    serials = ["BBBB" * 6, "aaaa" * 6, "bbbb" * 6]
    revoked = build_revocation_list(serials, anchor=ANCHOR, held=None, now=NOW)
    assert revoked.serials == ["aaaa" * 6, "bbbb" * 6]
    assert revoked.version == 1
    assert RevocationList.accept(revoked.to_bytes(), ANCHOR.public_key(), None) == revoked


def test_an_empty_revocation_list_is_still_a_signed_new_version() -> None:
    revoked = build_revocation_list([], anchor=ANCHOR, held=2, now=NOW)
    assert (revoked.serials, revoked.version) == ([], 3)
    other = ec.derive_private_key(8, ec.SECP256R1()).public_key()
    with pytest.raises(ListError, match="signature"):
        RevocationList.accept(revoked.to_bytes(), other, None)


def test_a_revoked_certificate_is_listed_until_it_has_expired() -> None:
    today = date(2026, 3, 1)
    assert still_listed(date(2026, 3, 2), today)
    assert still_listed(today, today)  # valid through its last day
    assert not still_listed(date(2026, 2, 28), today)
