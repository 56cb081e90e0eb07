from __future__ import annotations

import stat
from pathlib import Path

from firmware_sim.union import SimUnion
from firmware_sim.wallet import Wallet, qr_matrix


def test_present_is_a_ws1_text_of_qr_version_10(union: SimUnion) -> None:
    text = union.enroll("m").present(1_772_366_400)
    assert text.startswith("WS1:")
    assert 250 < len(text) < 330
    matrix = qr_matrix(text)
    assert matrix.dtype == bool
    assert matrix.shape == (65, 65)  # version 10 (57 modules) + 2 × 4 quiet zone
    assert not matrix[:4].any()
    assert not matrix[:, :4].any()


def test_save_and_load(union: SimUnion, tmp_path: Path) -> None:
    wallet = union.enroll("member-1")
    path = tmp_path / "wallet.json"
    wallet.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = Wallet.load(path)
    assert loaded.member_id == "member-1"
    assert loaded.certificate == wallet.certificate
    assert loaded.serial == wallet.serial
    assert loaded.device_key.private_numbers() == wallet.device_key.private_numbers()
