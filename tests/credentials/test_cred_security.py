"""Attacks on member codes, with real keys and signatures from a real issuing kit, judged by
a station that loaded the kit's trust directory as an edge does. Each gets its reason code."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import base45
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud.credentials.keys import Passphrase
from cloud.credentials.kit import Kit
from edge.access.replay import ReplayCache
from edge.access.trustfiles import TrustStore
from edge.access.verify import AccessVerifier
from firmware_sim.wallet import Wallet, new_device_key
from protocol.credential import (
    SERIAL_LEN,
    Decision,
    Reason,
    VerifyPolicy,
    issue_certificate,
    verify,
)
from protocol.trust import ListError, RevocationList, TrustList

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
T = int(NOW.timestamp())
Decide = Callable[..., Decision]
Station = Callable[[Path], Decide]


def _wallet(kit: Kit, member: str = "m-1", **kw: object) -> Wallet:
    device = new_device_key()
    return Wallet(member, device, kit.enroll(member, device.public_key(), now=NOW, **kw))  # type: ignore[arg-type]


def test_a_fresh_code_is_granted_and_its_replay_here_is_not(kit: Kit, station: Station) -> None:
    wallet = _wallet(kit)
    decide = station(kit.directory)
    text = wallet.present(T)
    assert decide(text).reason is Reason.GRANTED
    assert decide(text, NOW + timedelta(seconds=2)).reason is Reason.REPLAYED
    # Another station never saw it: the window, not a global cache, bounds that case.
    assert station(kit.directory)(text).reason is Reason.GRANTED


def test_forged_certificate_signed_by_another_key_under_the_same_kid(
    kit: Kit, station: Station
) -> None:
    device = new_device_key()
    forged = issue_certificate(
        new_device_key(),  # the attacker's own "issuer" key, claiming kid union-1
        kid="union-1",
        serial=secrets.token_bytes(SERIAL_LEN),
        device_public=device.public_key(),
        valid_from=NOW.date(),
        valid_until=NOW.date() + timedelta(days=30),
    )
    decision = station(kit.directory)(Wallet("x", device, forged).present(T))
    assert decision.reason is Reason.BAD_SIGNATURE
    assert "issuer signature" in decision.detail


def test_every_single_byte_tampered_is_refused(kit: Kit, station: Station) -> None:
    text = _wallet(kit).present(T)
    raw = base45.b45decode(text[4:])
    reasons = set()
    for i in range(len(raw)):
        mutated = bytearray(raw)
        mutated[i] ^= 0x01
        decision = station(kit.directory)("WS1:" + base45.b45encode(bytes(mutated)).decode())
        assert not decision.granted, f"byte {i} flipped was granted"
        reasons.add(decision.reason)
    assert Reason.BAD_SIGNATURE in reasons
    assert Reason.MALFORMED in reasons
    assert reasons <= {Reason.BAD_SIGNATURE, Reason.MALFORMED, Reason.UNKNOWN_ISSUER}


def test_a_code_from_another_union_is_an_unknown_or_bad_issuer(
    kit: Kit, station: Station, tmp_path: Path, passphrase: Passphrase
) -> None:
    other = Kit.init(tmp_path / "other", kid="other-1", passphrase=passphrase, now=NOW)
    same_kid = Kit.init(tmp_path / "same", kid="union-1", passphrase=passphrase, now=NOW)
    decide = station(kit.directory)
    assert decide(_wallet(other).present(T)).reason is Reason.UNKNOWN_ISSUER
    assert decide(_wallet(same_kid).present(T)).reason is Reason.BAD_SIGNATURE


def test_expired_and_not_yet_valid_certificates(kit: Kit, station: Station) -> None:
    wallet = _wallet(kit, valid_days=28)
    until = wallet.cert.valid_until
    after = datetime(until.year, until.month, until.day, tzinfo=UTC) + timedelta(days=1, hours=1)
    assert station(kit.directory)(wallet.present(int(after.timestamp())), after).reason is (
        Reason.EXPIRED
    )
    device = new_device_key()  # a certificate signed today that starts in 4 days
    later = Wallet("m-1", device, kit.enroll("m-1", device.public_key(), now=NOW + timedelta(5)))
    before = NOW + timedelta(days=2)
    assert station(kit.directory)(later.present(int(before.timestamp())), before).reason is (
        Reason.NOT_YET_VALID
    )


def test_revoked_serial_and_revoked_member(kit: Kit, station: Station) -> None:
    a, b, c = _wallet(kit, "m-a"), _wallet(kit, "m-b"), _wallet(kit, "m-b")
    kit.revoke(serial=a.serial, now=NOW)
    kit.revoke(member_id="m-b", now=NOW)
    decide = station(kit.directory)
    for wallet in (a, b, c):
        assert decide(wallet.present(T)).reason is Reason.REVOKED
    assert kit.revocations().version == 3
    assert set(kit.revocations().serials) == {a.serial, b.serial, c.serial}


def test_presentation_outside_the_window(kit: Kit, station: Station) -> None:
    wallet = _wallet(kit)
    decide = station(kit.directory)
    assert decide(wallet.present(T - 31)).reason is Reason.STALE_PRESENTATION
    assert decide(wallet.present(T + 31)).reason is Reason.STALE_PRESENTATION
    assert decide(wallet.present(T - 30)).reason is Reason.GRANTED


def test_ws2_tokens_grant_in_their_window_and_die_with_the_serial(
    kit: Kit, station: Station
) -> None:
    wallet = _wallet(kit)
    tokens = kit.tokens(wallet.serial, start=NOW, days=1)
    assert len(tokens) == 288
    with_tokens = Wallet(wallet.member_id, wallet.device_key, wallet.certificate, tuple(tokens))
    text = with_tokens.present(T + 3600, "ws2")
    assert len(text) < 150  # ~120 chars + the kid: QR version 6 instead of 10
    at = NOW + timedelta(hours=1)
    assert station(kit.directory)(text, at).reason is Reason.GRANTED
    assert station(kit.directory)(text, at + timedelta(minutes=10)).reason is (
        Reason.STALE_PRESENTATION
    )
    kit.revoke(serial=wallet.serial, now=NOW)
    assert station(kit.directory)(text, at).reason is Reason.REVOKED


def test_rotation_overlap_then_the_old_key_ends(kit: Kit, station: Station) -> None:
    old = _wallet(kit, valid_days=60)
    kit.rotate("union-2", overlap=timedelta(days=30), now=NOW)
    new = _wallet(kit)
    assert new.cert.kid == "union-2"
    assert old.cert.kid == "union-1"
    assert kit.trust().version == 2
    decide = station(kit.directory)
    assert decide(old.present(T)).reason is Reason.GRANTED  # overlap: both keys verify
    assert decide(new.present(T)).reason is Reason.GRANTED
    later = NOW + timedelta(days=31)
    t_later = int(later.timestamp())
    assert decide(old.present(t_later), later).reason is Reason.UNKNOWN_ISSUER
    assert decide(new.present(t_later), later).reason is Reason.EXPIRED  # 28 days, not the key


def test_retiring_a_leaked_key_refuses_its_codes_at_once(kit: Kit, station: Station) -> None:
    wallet = _wallet(kit)
    kit.rotate("union-2", now=NOW)
    kit.retire("union-1", now=NOW)
    assert [k.kid for k in kit.trust().keys] == ["union-2"]
    assert station(kit.directory)(wallet.present(T)).reason is Reason.UNKNOWN_ISSUER


def test_lists_with_a_bad_signature_or_an_older_version_are_refused(
    kit: Kit, tmp_path: Path, passphrase: Passphrase
) -> None:
    """Story: a replayed retained revocation list v1 must not un-revoke a member."""
    anchor = TrustStore(kit.directory).load_anchor()
    assert anchor is not None
    wallet = _wallet(kit)
    v1 = kit.revocations().to_bytes()
    _, v2 = kit.revoke(serial=wallet.serial, now=NOW)
    # Rollback: v1 after v2 is refused, the held v2 stays.
    with pytest.raises(ListError, match="version 1 <= held 2"):
        RevocationList.accept(v1, anchor, 2)
    # Bad signature: the same list signed by another union's anchor.
    other = Kit.init(tmp_path / "other", kid="o-1", passphrase=passphrase, now=NOW)
    foreign = other.reissue_revocations(NOW + timedelta(seconds=1)).to_bytes()
    with pytest.raises(ListError, match="signature"):
        RevocationList.accept(foreign, anchor, 2)
    tampered = kit.trust().model_copy(update={"version": 99}).to_bytes()  # sig of v1 kept
    with pytest.raises(ListError, match="signature"):
        TrustList.accept(tampered, anchor, 1)
    # Through a station's verifier: refused lists leave the revocation in force.
    verifier = AccessVerifier(
        anchor=anchor, policy=VerifyPolicy(),
        trust=kit.trust(), revocations=v2,
    )  # fmt: skip
    assert verifier.update_revocations(v1) is None
    assert verifier.update_revocations(foreign) is None
    assert verifier.revocation_version == 2
    held = verifier.snapshot  # what the station decides against
    decision = verify(wallet.present(T), issuers=held.issuers, revoked=held.revoked, now=NOW)
    assert decision.reason is Reason.REVOKED


@pytest.fixture(scope="module")
def fixed_material(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, TrustList]:
    kit = Kit.init(
        tmp_path_factory.mktemp("prop") / "kit", kid="p-1", passphrase=None, insecure=True, now=NOW
    )
    return _wallet(kit).present(T), kit.trust()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_and_mutated_presentations_get_a_decision_never_an_exception(
    fixed_material: tuple[str, TrustList], data: st.DataObject
) -> None:
    text, trust = fixed_material
    raw = base45.b45decode(text[4:])
    kind = data.draw(st.sampled_from(["text", "bytes", "mutate", "truncate", "splice"]))
    if kind == "text":
        candidate = data.draw(st.text(max_size=700))
    elif kind == "bytes":
        prefix = data.draw(st.sampled_from(["WS1:", "WS2:"]))
        candidate = prefix + base45.b45encode(data.draw(st.binary(max_size=400))).decode()
    elif kind == "mutate":
        mutated = bytearray(raw)
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(raw) - 1))
            mutated[i] = data.draw(st.integers(0, 255))
        candidate = "WS1:" + base45.b45encode(bytes(mutated)).decode()
    elif kind == "truncate":
        candidate = text[: data.draw(st.integers(0, len(text) - 1))]
    else:
        junk = data.draw(st.binary(min_size=1, max_size=80))
        at = data.draw(st.integers(0, len(raw)))
        candidate = "WS1:" + base45.b45encode(raw[:at] + junk + raw[at:]).decode()
    decision = verify(
        candidate,
        issuers=trust.issuers(),
        revoked=frozenset(),
        now=NOW,
        replay=ReplayCache(monotonic=lambda: 0.0, floor=NOW.timestamp),
    )
    assert isinstance(decision.reason, Reason)
    if candidate != text:
        assert not decision.granted
