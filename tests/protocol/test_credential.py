"""The member credential: layout, round trips, every reason code, tampering."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import base45
import pytest
import segno
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import credential as c
from protocol.credential import Reason
from protocol.trust import RevocationList

from .conftest import NOW, Kit


def test_presentation_round_trip_is_granted_and_sized_as_designed(kit: Kit) -> None:
    text = kit.present()
    assert text.startswith("WS1:")
    # DESIGN.md: binary ≈ 190 bytes, ≈ 290 characters, QR version 10 at ECC M, alphanumeric.
    assert 180 <= len(base45.b45decode(text[4:])) <= 200
    qr = segno.make(text, error="m", boost_error=False)
    assert (qr.version, qr.mode) == (10, "alphanumeric")
    decision = kit.verify(text)
    assert decision.granted
    assert decision.reason is Reason.GRANTED
    assert decision.serial == kit.serial.hex()
    assert decision.credential == "ws1"
    assert decision.kid == "union-26"
    assert decision.t == int(NOW.timestamp())


def test_certificate_parses_back_to_what_was_issued(kit: Kit) -> None:
    cert = c.parse_certificate(kit.cert)
    assert cert.serial == kit.serial
    assert cert.device_public == c.compress_public(kit.device.public_key())
    assert cert.valid_from == NOW.date() - timedelta(days=1)
    assert cert.raw == kit.cert


@pytest.mark.parametrize(
    "text",
    ["", "garbage", "WS1:", "WS1:%%%%", "WS1:" + "A" * 700, "WS3:ABC", "ws1:abc", "WS2:0000"],
)
def test_garbage_is_malformed(kit: Kit, text: str) -> None:
    decision = kit.verify(text)
    assert decision.reason is Reason.MALFORMED
    assert decision.detail


def test_truncated_and_padded_are_malformed(kit: Kit) -> None:
    raw = base45.b45decode(kit.present()[4:])
    for cut in (1, 10, 64, len(raw) - 1):
        short = "WS1:" + base45.b45encode(raw[:cut]).decode()
        assert kit.verify(short).reason is Reason.MALFORMED
    padded = "WS1:" + base45.b45encode(raw + b"\0").decode()
    assert kit.verify(padded).reason is Reason.MALFORMED


def test_every_single_byte_tamper_is_denied(kit: Kit) -> None:
    raw = bytearray(base45.b45decode(kit.present()[4:]))
    reasons = set()
    for i in range(len(raw)):
        tampered = bytearray(raw)
        tampered[i] ^= 0x01
        decision = kit.verify("WS1:" + base45.b45encode(bytes(tampered)).decode())
        assert not decision.granted, f"byte {i} flipped and still granted"
        reasons.add(decision.reason)
    # Flipping the kid bytes changes the issuer lookup; everything else breaks a signature or
    # the layout.
    assert reasons <= {Reason.BAD_SIGNATURE, Reason.MALFORMED, Reason.UNKNOWN_ISSUER}
    assert Reason.BAD_SIGNATURE in reasons


def test_forged_certificate_from_another_issuer_is_bad_signature(kit: Kit) -> None:
    rogue = ec.generate_private_key(ec.SECP256R1())
    cert = c.issue_certificate(
        rogue, kid="union-26", serial=kit.serial, device_public=kit.device.public_key(),
        valid_from=NOW.date(), valid_until=NOW.date(),
    )  # fmt: skip
    text = c.present(cert, kit.device, int(NOW.timestamp()))
    assert kit.verify(text).reason is Reason.BAD_SIGNATURE


def test_screenshot_presented_with_another_device_key_is_bad_signature(kit: Kit) -> None:
    thief = ec.generate_private_key(ec.SECP256R1())
    text = c.present(kit.cert, thief, int(NOW.timestamp()))
    decision = kit.verify(text)
    assert decision.reason is Reason.BAD_SIGNATURE
    assert "device" in decision.detail


def test_unknown_issuer(kit: Kit, make_cert) -> None:
    cert = make_cert(kit.issuer, kit.device, kit.serial, kid="other-kid")
    text = c.present(cert, kit.device, int(NOW.timestamp()))
    assert kit.verify(text).reason is Reason.UNKNOWN_ISSUER


def test_issuer_key_outside_its_validity_is_unknown_issuer(kit: Kit) -> None:
    later = NOW + timedelta(days=400)
    text = kit.present(later)
    assert kit.verify(text, now=later).reason is Reason.UNKNOWN_ISSUER


def test_expired_and_not_yet_valid(kit: Kit, make_cert) -> None:
    old = make_cert(kit.issuer, kit.device, kit.serial, days_from=-40, days_until=-1)
    assert kit.verify(c.present(old, kit.device, int(NOW.timestamp()))).reason is Reason.EXPIRED
    future = make_cert(kit.issuer, kit.device, kit.serial, days_from=1, days_until=30)
    decision = kit.verify(c.present(future, kit.device, int(NOW.timestamp())))
    assert decision.reason is Reason.NOT_YET_VALID


def test_last_valid_day_is_inclusive(kit: Kit, make_cert) -> None:
    cert = make_cert(kit.issuer, kit.device, kit.serial, days_from=-5, days_until=0)
    assert kit.verify(c.present(cert, kit.device, int(NOW.timestamp()))).granted


def test_revoked(kit: Kit, revocations: RevocationList) -> None:
    decision = kit.verify(kit.present(), revoked=revocations.revoked())
    assert decision.reason is Reason.REVOKED
    other = os.urandom(12)
    assert kit.verify(kit.present(), revoked=frozenset({other})).granted


@pytest.mark.parametrize(
    ("offset_s", "granted"), [(-30, True), (30, True), (-31, False), (31, False)]
)
def test_presentation_window(kit: Kit, offset_s: int, granted: bool) -> None:
    text = kit.present(NOW + timedelta(seconds=offset_s))
    decision = kit.verify(text)
    assert decision.granted is granted
    if not granted:
        assert decision.reason is Reason.STALE_PRESENTATION


def test_skew_allowance_widens_the_window(kit: Kit) -> None:
    text = kit.present(NOW - timedelta(seconds=40))
    assert kit.verify(text, policy=c.VerifyPolicy(window_s=30, skew_s=10)).granted


class SetReplay:
    """The smallest `Replay`: remembers keys forever (the station's real one is
    `edge.access.replay.ReplayCache`, which also forgets them when they can no longer be fresh)."""

    def __init__(self) -> None:
        self.seen: dict[c.ReplayKey, float] = {}

    def admit(self, key: c.ReplayKey, fresh_until: float) -> bool:
        if key in self.seen:
            return False
        self.seen[key] = fresh_until
        return True


def test_replay_at_same_station_is_denied_and_other_station_accepts(kit: Kit) -> None:
    text = kit.present()
    here, there = SetReplay(), SetReplay()
    assert kit.verify(text, replay=here).granted
    assert kit.verify(text, replay=here).reason is Reason.REPLAYED
    assert kit.verify(text, replay=there).granted
    # Kept until the code can no longer be fresh: t + window + skew.
    assert list(here.seen.values()) == [int(NOW.timestamp()) + 30]


def test_replay_cache_is_keyed_on_serial_and_time_not_signature_bytes(kit: Kit) -> None:
    """A copied code with the malleable signature (r, n−s) must still count as a replay."""
    text = kit.present()
    raw = bytearray(base45.b45decode(text[4:]))
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    s = int.from_bytes(raw[-32:], "big")
    raw[-32:] = (n - s).to_bytes(32, "big")
    twin = "WS1:" + base45.b45encode(bytes(raw)).decode()
    assert twin != text
    cache = SetReplay()
    assert kit.verify(text, replay=cache).granted
    assert kit.verify(twin, replay=cache).reason is Reason.REPLAYED


def test_a_refused_code_is_not_remembered(kit: Kit) -> None:
    cache = SetReplay()
    stale = kit.present(NOW - timedelta(seconds=31))
    assert kit.verify(stale, replay=cache).reason is Reason.STALE_PRESENTATION
    assert cache.seen == {}


@pytest.mark.parametrize(
    ("offset_s", "fresh"), [(-30.0, True), (30.0, True), (30.001, False), (-30.9, False)]
)
def test_ws1_window_is_exact_not_whole_seconds(kit: Kit, offset_s: float, fresh: bool) -> None:
    """Story: `now` was cut to whole seconds, so a code 30.9 s old passed a 30 s window."""
    text = kit.present()
    decision = kit.verify(text, now=NOW - timedelta(seconds=offset_s))
    assert decision.granted is fresh


def test_ws2_window_is_half_open_and_its_freshness_end_covers_it(kit: Kit) -> None:
    """Story: a 5-minute token was accepted at exactly its window end: windows overlapped."""
    start_min = int(NOW.timestamp()) // 60
    token = c.issue_token(kit.issuer, kid="union-26", serial=kit.serial, window_start_min=start_min)
    start = datetime.fromtimestamp(start_min * 60, UTC)
    assert kit.verify(token, now=start).granted
    assert kit.verify(token, now=start + timedelta(seconds=299.999)).granted
    end = start + timedelta(seconds=300)
    assert kit.verify(token, now=end).reason is Reason.STALE_PRESENTATION
    skewed = c.VerifyPolicy(skew_s=5)
    assert kit.verify(token, now=end + timedelta(seconds=4.9), policy=skewed).granted
    assert not kit.verify(token, now=end + timedelta(seconds=5), policy=skewed).granted
    item = c.parse_text(token)
    assert c.fresh_until(item, skewed) == start_min * 60 + 300 + 5


def test_not_permitted_without_required_flag(kit: Kit, make_cert) -> None:
    policy = c.VerifyPolicy(required=c.Flag.MOTHER_BABY)
    assert kit.verify(kit.present(), policy=policy).reason is Reason.NOT_PERMITTED
    cert = make_cert(kit.issuer, kit.device, kit.serial, flags=c.Flag.MOTHER_BABY)
    assert kit.verify(c.present(cert, kit.device, int(NOW.timestamp())), policy=policy).granted


def test_ws2_token_round_trip_and_window(kit: Kit) -> None:
    start = int(NOW.timestamp()) // 60 - 2
    token = c.issue_token(kit.issuer, kid="union-26", serial=kit.serial, window_start_min=start)
    assert token.startswith("WS2:")
    assert len(token) < 150
    decision = kit.verify(token)
    assert decision.granted
    assert decision.credential == "ws2"
    late = NOW + timedelta(minutes=10)
    assert kit.verify(token, now=late).reason is Reason.STALE_PRESENTATION
    rogue = ec.generate_private_key(ec.SECP256R1())
    forged = c.issue_token(rogue, kid="union-26", serial=kit.serial, window_start_min=start)
    assert kit.verify(forged).reason is Reason.BAD_SIGNATURE
    revoked = frozenset({kit.serial})
    assert kit.verify(token, revoked=revoked).reason is Reason.REVOKED


def test_issue_rejects_bad_inputs(kit: Kit) -> None:
    with pytest.raises(ValueError, match="kid"):
        c.issue_certificate(
            kit.issuer, kid="bad kid!", serial=kit.serial, device_public=kit.device.public_key(),
            valid_from=NOW.date(), valid_until=NOW.date(),
        )  # fmt: skip
    with pytest.raises(ValueError, match="serial"):
        c.issue_token(kit.issuer, kid="k", serial=b"short", window_start_min=0)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=400),
        st.binary(max_size=300).map(lambda b: "WS1:" + base45.b45encode(b).decode()),
    )
)
def test_random_input_always_gives_a_decision(text: str) -> None:
    issuers: dict[str, c.IssuerKey] = {}
    decision = c.verify(text, issuers=issuers, revoked=frozenset(), now=NOW)
    assert not decision.granted
    assert decision.reason in set(Reason)


# The kit is immutable, so sharing it across generated inputs is safe.
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mutated_presentations_never_raise_nor_grant(kit: Kit, data: st.DataObject) -> None:
    # Regression: drawing a replacement byte that depended on the (randomly signed) bytes made
    # Hypothesis report inconsistent data generation; XOR masks keep the draws independent.
    # Distinct positions, so two masks can never cancel out into the original code.
    raw = bytearray(base45.b45decode(kit.present()[4:]))
    positions = data.draw(st.lists(st.integers(0, len(raw) - 1), min_size=1, max_size=4,
                                   unique=True))  # fmt: skip
    for i in positions:
        raw[i] ^= data.draw(st.integers(1, 255))
    decision = kit.verify("WS1:" + base45.b45encode(bytes(raw)).decode())
    assert not decision.granted


def test_revocation_list_revoked_set(revocations: RevocationList, kit: Kit) -> None:
    assert revocations.revoked() == frozenset({kit.serial})
