"""Issuer keys at rest: sealed with the passphrase, bound to their id, never printed."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cloud.credentials import keys as K  # noqa: N812
from cloud.credentials.kit import Kit, KitError

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def test_sealed_key_opens_only_with_its_passphrase_and_id() -> None:
    key = K.new_key()
    right = K.Passphrase("correct horse battery staple")
    sealed = K.seal(key, "union-1", right)
    assert K.unseal(sealed, right).private_numbers() == key.private_numbers()
    with pytest.raises(K.IssuerKeyError, match="wrong passphrase"):
        K.unseal(sealed, K.Passphrase("incorrect horse battery"))
    with pytest.raises(K.IssuerKeyError, match="is encrypted"):
        K.unseal(sealed, None)
    # The same ciphertext filed under another key id does not open (id is the GCM AAD).
    moved = sealed.model_copy(update={"kid": "union-2"})
    with pytest.raises(K.IssuerKeyError, match="wrong passphrase or damaged"):
        K.unseal(moved, right)


def test_passphrase_never_shows_in_repr_or_sealed_file(kit: Kit) -> None:
    secret = "test passphrase, not a secret"
    assert secret not in repr(K.Passphrase(secret))
    assert secret not in f"{K.Passphrase(secret)}"
    for path in kit.directory.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert secret not in text
            assert "PRIVATE KEY" not in text
    for path in (kit.directory / "keys").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_short_passphrase_is_refused() -> None:
    with pytest.raises(K.IssuerKeyError, match="shorter"):
        K.Passphrase("short")


def test_passphrase_from_file_beats_environment(tmp_path: Path) -> None:
    file = tmp_path / "pass"
    file.write_text("from the file, long enough\n")
    env = {K.PASSPHRASE_ENV: "from the environment, long"}
    assert K.load_passphrase(file, env).reveal() == b"from the file, long enough"
    assert K.load_passphrase(None, env).reveal() == b"from the environment, long"
    assert K.load_passphrase(None, {K.PASSPHRASE_FILE_ENV: str(file)}).reveal().startswith(b"from")
    assert K.load_passphrase(None, {}) is None
    with pytest.raises(K.IssuerKeyError, match="cannot read"):
        K.load_passphrase(tmp_path / "missing", {})


def test_kit_refuses_unencrypted_keys_unless_told(tmp_path: Path) -> None:
    with pytest.raises(KitError, match="refusing to write unencrypted"):
        Kit.init(tmp_path / "k", kid="u1", passphrase=None)
    assert not (tmp_path / "k" / "kit.json").exists()
    insecure = Kit.init(tmp_path / "k", kid="u1", passphrase=None, insecure=True)
    assert insecure.state.insecure
    assert insecure.private_key("u1")  # opens without a passphrase


def test_opening_with_the_wrong_passphrase_changes_nothing(kit: Kit) -> None:
    before = (kit.directory / "trust.json").read_bytes()
    wrong = Kit.open(kit.directory, K.Passphrase("not the passphrase at all"))
    with pytest.raises(K.IssuerKeyError):
        wrong.rotate("union-2", now=NOW)
    assert (kit.directory / "trust.json").read_bytes() == before
    assert [k.kid for k in Kit.open(kit.directory, None).state.keys] == ["union-1"]
    assert not (kit.directory / "keys" / "union-2.json").exists()


def test_signer_is_the_newest_started_key_and_trust_keeps_the_overlap() -> None:
    a, b = K.new_key(), K.new_key()
    keys = [K.key_info("a", a, NOW - timedelta(days=400), K.DEFAULT_KEY_LIFETIME)]
    rotation = K.plan_rotation(
        keys, "b", b, now=NOW, overlap=timedelta(days=30), activate_after=timedelta(hours=24)
    )
    keys.append(rotation.new)
    assert K.signer(keys, NOW).kid == "a"  # b is published but not signing yet
    assert K.signer(keys, NOW + timedelta(hours=25)).kid == "b"
    assert keys[0].not_after == NOW + timedelta(hours=24, days=30)
    assert [k.kid for k in K.trusted(keys, NOW + timedelta(days=30))] == ["a", "b"]
    assert [k.kid for k in K.trusted(keys, NOW + timedelta(days=32))] == ["b"]
    with pytest.raises(K.IssuerKeyError, match="never reused"):
        K.plan_rotation(keys, "a", K.new_key(), now=NOW, overlap=timedelta(0))
    K.retire(keys, "b", NOW)
    with pytest.raises(K.IssuerKeyError, match="no issuer key can sign"):
        K.signer(keys, NOW + timedelta(days=40))
