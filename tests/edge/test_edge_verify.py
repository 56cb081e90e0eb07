"""The lists a station holds (edge/access/verify.py), exercised through the door decision."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from edge.access.decide import AccessDecider
from edge.access.schedule import DoorMode, DoorSchedule
from edge.access.timeguard import TimeGuard
from edge.access.trustfiles import TrustStore
from edge.access.verify import AccessVerifier
from firmware_sim.clock import SimClock
from firmware_sim.union import SimUnion
from protocol.credential import Decision, Reason, VerifyPolicy
from protocol.trust import RevocationList, TrustList
from protocol.trustdir import TRUST_FILE


class Gate:
    """An `AccessVerifier` behind the station's decision, on a trusted clock, members mode."""

    def __init__(self, verifier: AccessVerifier, clock: SimClock) -> None:
        self.verifier = verifier
        self.decider = AccessDecider(
            verifier=verifier,
            time_guard=TimeGuard(clock, None, probe=lambda: True),
            schedule=DoorSchedule(free=None, members="24/7", timezone="UTC"),
            max_entries=1000,
        )
        self.update_trust = verifier.update_trust
        self.update_revocations = verifier.update_revocations

    def decide(self, text: str) -> Decision:
        return self.decider.decide(text, DoorMode.MEMBERS).decision

    @property
    def trust_version(self) -> int | None:
        return self.verifier.trust_version

    @property
    def revocation_version(self) -> int | None:
        return self.verifier.revocation_version


def make_verifier(union: SimUnion, clock: SimClock) -> Gate:
    verifier = AccessVerifier(
        anchor=union.anchor_public,
        policy=VerifyPolicy(window_s=30, skew_s=5),
        trust=union.trust,
        revocations=union.revocations,
    )
    return Gate(verifier, clock)


def test_granted_then_replayed(union: SimUnion, clock: SimClock) -> None:
    verifier = make_verifier(union, clock)
    wallet = union.enroll("m1")
    text = wallet.present(clock.timestamp())
    first = verifier.decide(text)
    assert first.reason is Reason.GRANTED
    assert first.serial == wallet.serial
    assert verifier.decide(text).reason is Reason.REPLAYED


def test_stale_and_garbage(union: SimUnion, clock: SimClock) -> None:
    verifier = make_verifier(union, clock)
    text = union.enroll("m1").present(clock.timestamp() - 60)
    assert verifier.decide(text).reason is Reason.STALE_PRESENTATION
    assert verifier.decide("hello").reason is Reason.MALFORMED
    assert verifier.decide("WS1:\ufffd\ufffd").reason is Reason.MALFORMED


def test_expired_and_unknown_issuer(union: SimUnion, clock: SimClock) -> None:
    verifier = make_verifier(union, clock)
    t = clock.timestamp()
    assert verifier.decide(union.enroll_expired("old").present(t)).reason is Reason.EXPIRED
    stranger = SimUnion.create(99, kid="other", now=clock.now()).enroll("x")
    assert verifier.decide(stranger.present(t)).reason is Reason.UNKNOWN_ISSUER


def test_no_trust_list_denies_everyone(union: SimUnion, clock: SimClock) -> None:
    verifier = Gate(AccessVerifier(anchor=None, policy=VerifyPolicy()), clock)
    text = union.enroll("m1").present(clock.timestamp())
    assert verifier.decide(text).reason is Reason.UNKNOWN_ISSUER
    assert verifier.update_trust(union.trust.to_bytes()) is None  # no anchor, no updates


def test_trust_update_rejects_bad_signature_and_rollback(union: SimUnion, clock: SimClock) -> None:
    verifier = make_verifier(union, clock)
    newer = union.trust.model_copy(update={"version": 2, "sig": None})
    forged = newer.sign(SimUnion.create(5).anchor)  # signed by someone else's anchor
    assert verifier.update_trust(forged.to_bytes()) is None
    assert verifier.update_trust(b"{not json") is None
    assert verifier.trust_version == 1
    assert verifier.update_trust(newer.sign(union.anchor).to_bytes()) is not None
    assert verifier.trust_version == 2
    assert verifier.update_trust(union.trust.to_bytes()) is None  # v1 again: a rollback
    assert verifier.trust_version == 2


def test_trust_update_replaces_issuers(union: SimUnion, clock: SimClock) -> None:
    verifier = make_verifier(union, clock)
    text = union.enroll("m1").present(clock.timestamp())
    emptied = TrustList(version=2, issued_at=clock.now(), keys=[]).sign(union.anchor)
    assert verifier.update_trust(emptied.to_bytes()) is not None
    assert verifier.decide(text).reason is Reason.UNKNOWN_ISSUER


def test_revocation_update_applies(union: SimUnion, clock: SimClock) -> None:
    verifier = make_verifier(union, clock)
    wallet = union.enroll("m1")
    assert verifier.decide(wallet.present(clock.timestamp())).granted
    revocations = union.revoke(wallet.serial)
    assert verifier.update_revocations(revocations.to_bytes()) is not None
    assert verifier.revocation_version == 2
    assert verifier.decide(wallet.present(clock.timestamp() + 1)).reason is Reason.REVOKED
    # An old list replayed from the broker cannot un-revoke the member.
    old = RevocationList(version=1, issued_at=datetime.now(UTC), serials=[]).sign(union.anchor)
    assert verifier.update_revocations(old.to_bytes()) is None
    assert verifier.decide(wallet.present(clock.timestamp() + 2)).reason is Reason.REVOKED


def test_store_round_trip(union: SimUnion, tmp_path: Path) -> None:
    directory = union.write_trust_dir(tmp_path / "trust")
    store = TrustStore(directory)
    anchor = store.load_anchor()
    assert anchor is not None
    trust = store.load_trust(anchor)
    revocations = store.load_revocations(anchor)
    assert trust is not None
    assert trust.version == 1
    assert revocations is not None
    assert revocations.serials == []


def test_store_ignores_tampered_and_missing_files(union: SimUnion, tmp_path: Path) -> None:
    directory = union.write_trust_dir(tmp_path / "trust")
    raw = (directory / TRUST_FILE).read_text().replace('"version":1', '"version":9')
    (directory / TRUST_FILE).write_text(raw)
    store = TrustStore(directory)
    assert store.load_trust(store.load_anchor()) is None
    empty = TrustStore(tmp_path / "nowhere")
    assert empty.load_anchor() is None
    assert empty.load_trust(None) is None
