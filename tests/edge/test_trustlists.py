"""`edge.trustlists`: lists applied only if signed and newer, kept on disk only when applied;
the `no_trust_anchor` alarm raised while no anchor is held, remembered across a restart."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.access.trustfiles import TrustStore
from edge.access.verify import AccessVerifier
from edge.trustlists import AnchorWatch, TrustLists
from firmware_sim.union import SimUnion
from protocol.credential import VerifyPolicy
from protocol.trust import RevocationList, TrustList
from protocol.trustdir import ANCHOR_FILE, REVOCATIONS_FILE, TRUST_FILE

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SERIAL = "0123456789abcdef01234567"


def lists(directory: Path | None) -> TrustLists:
    store = TrustStore(directory) if directory is not None else None
    verifier = AccessVerifier(anchor=None, policy=VerifyPolicy())
    return TrustLists("sz-0001", verifier, store, Counter())


def trust_v(union: SimUnion, version: int) -> bytes:
    signed = TrustList(version=version, issued_at=NOW, keys=union.trust.keys).sign(union.anchor)
    return signed.to_bytes()


def revocations_v(union: SimUnion, version: int) -> bytes:
    signed = RevocationList(version=version, issued_at=NOW, serials=[SERIAL])
    return signed.sign(union.anchor).to_bytes()


def test_load_reads_the_anchor_and_the_last_applied_lists(trust_dir: Path) -> None:
    tl = lists(trust_dir)
    assert tl.has_anchor is False
    tl.load()
    assert tl.has_anchor is True
    assert (tl.verifier.trust_version, tl.verifier.revocation_version) == (1, 1)


def test_without_a_trust_directory_every_member_is_refused() -> None:
    tl = lists(None)
    tl.load()
    assert tl.has_anchor is False
    assert tl.reload_if_anchor_changed() is False


def test_a_newer_signed_list_is_applied_and_kept_for_the_next_boot(
    trust_dir: Path, union: SimUnion
) -> None:
    tl = lists(trust_dir)
    tl.load()
    tl.on_trust(trust_v(union, 2))
    tl.on_revocations(revocations_v(union, 5))
    assert (tl.verifier.trust_version, tl.verifier.revocation_version) == (2, 5)
    rebooted = lists(trust_dir)
    rebooted.load()
    assert (rebooted.verifier.trust_version, rebooted.verifier.revocation_version) == (2, 5)
    assert tl.stats == Counter()


def test_an_old_replayed_or_foreign_list_is_neither_applied_nor_written(
    trust_dir: Path, union: SimUnion
) -> None:
    tl = lists(trust_dir)
    tl.load()
    tl.on_trust(trust_v(union, 3))
    on_disk = (trust_dir / TRUST_FILE).read_bytes(), (trust_dir / REVOCATIONS_FILE).read_bytes()
    stranger = SimUnion.create(99, now=NOW)
    for raw in (trust_v(union, 3), trust_v(union, 2), trust_v(stranger, 9), b"{not json"):
        tl.on_trust(raw)
    for raw in (revocations_v(union, 1), revocations_v(stranger, 9), b""):
        tl.on_revocations(raw)
    assert (tl.verifier.trust_version, tl.verifier.revocation_version) == (3, 1)
    assert ((trust_dir / TRUST_FILE).read_bytes(), (trust_dir / REVOCATIONS_FILE).read_bytes()) == (
        on_disk
    )


def test_a_list_that_cannot_be_kept_is_still_applied_and_counted(
    trust_dir: Path, union: SimUnion, monkeypatch: pytest.MonkeyPatch
) -> None:
    tl = lists(trust_dir)
    tl.load()

    def full(self: TrustStore, raw: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(TrustStore, "save_trust", full)
    monkeypatch.setattr(TrustStore, "save_revocations", full)
    tl.on_trust(trust_v(union, 2))
    tl.on_revocations(revocations_v(union, 2))
    assert (tl.verifier.trust_version, tl.verifier.revocation_version) == (2, 2)
    assert tl.stats["store_errors"] == 2


def test_an_anchor_copied_in_while_running_is_picked_up(tmp_path: Path, union: SimUnion) -> None:
    directory = tmp_path / "trust"
    directory.mkdir()
    tl = lists(directory)
    tl.load()
    assert tl.reload_if_anchor_changed() is False  # still missing
    union.write_trust_dir(directory)  # the installer copies the directory in
    assert tl.reload_if_anchor_changed() is True
    assert tl.verifier.trust_version == 1


def test_a_bad_anchor_file_is_tried_once_until_it_changes(
    tmp_path: Path, union: SimUnion, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "trust"
    directory.mkdir()
    (directory / ANCHOR_FILE).write_bytes(b"not a key")
    tl = lists(directory)
    loads = []
    real = TrustLists.load
    monkeypatch.setattr(TrustLists, "load", lambda self: (loads.append(1), real(self)))
    assert tl.reload_if_anchor_changed() is False
    assert tl.reload_if_anchor_changed() is False
    assert len(loads) == 1  # one stat() per call, no reload (and no log) while unchanged
    (directory / ANCHOR_FILE).write_bytes(union.anchor_pem())  # another size: changed
    assert tl.reload_if_anchor_changed() is True
    assert len(loads) == 2


def test_the_alarm_is_raised_while_no_anchor_is_held_and_cleared_when_one_is(
    tmp_path: Path, union: SimUnion
) -> None:
    directory = tmp_path / "trust"
    directory.mkdir()
    marker = tmp_path / "no-anchor.raised"
    watch = AnchorWatch(lists(directory), marker)
    assert watch.check() == "raised"
    assert marker.exists()
    assert watch.check() is None  # raised once, not every housekeeping tick
    union.write_trust_dir(directory)
    assert watch.check() == "cleared"
    assert not marker.exists()
    assert watch.check() is None


def test_a_restart_clears_what_the_last_run_raised(tmp_path: Path, trust_dir: Path) -> None:
    marker = tmp_path / "no-anchor.raised"
    marker.write_bytes(b"")  # the previous run raised the alarm, then the anchor was copied in
    tl = lists(trust_dir)
    tl.load()
    assert AnchorWatch(tl, marker).check() == "cleared"
    assert not marker.exists()
    # a run that never raised it has nothing to clear
    assert AnchorWatch(tl, marker).check() is None


def test_a_marker_that_cannot_be_written_still_raises(tmp_path: Path) -> None:
    directory = tmp_path / "trust"
    directory.mkdir()
    tl = lists(directory)
    watch = AnchorWatch(tl, tmp_path / "missing-dir" / "no-anchor.raised")
    assert watch.check() == "raised"
    assert tl.stats["store_errors"] == 1
    assert watch.check() is None


def test_versions_of_the_lists_only_go_up(trust_dir: Path, union: SimUnion) -> None:
    """The rollback rule end to end: v2 after v3 is refused even across a reboot."""
    tl = lists(trust_dir)
    tl.load()
    tl.on_trust(trust_v(union, 3))
    rebooted = lists(trust_dir)
    rebooted.load()
    rebooted.on_trust(trust_v(union, 2))
    assert rebooted.verifier.trust_version == 3
