"""A code's text for a person (charset, ECI) versus its exact data for the verifier."""

from __future__ import annotations

import numpy as np
import pytest
import segno

from edge.camera.cascade import CascadeDecoder
from edge.camera.charset import display_text
from edge.camera.qr import as_text


def image_of(qr: segno.QRCode) -> np.ndarray:
    """The code alone, 4 px a module with its quiet zone: nothing here tests the optics."""
    modules = np.array([list(row) for row in qr.matrix_iter(scale=1, border=4)], dtype=bool)
    return np.where(np.kron(modules, np.ones((4, 4), dtype=bool)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize(
    ("text", "how"),
    [
        ("駅のトイレはこちら", {"encoding": "shift_jis", "mode": "byte"}),
        ("户外劳动者服务站点", {"encoding": "gb18030", "mode": "byte"}),
        ("驿站", {"encoding": "gbk", "mode": "byte"}),
        ("驛站 戶外勞動者", {"encoding": "big5", "mode": "byte"}),
        ("驿站 饮水", {"encoding": "gb18030", "mode": "byte", "eci": True}),
        ("こんにちは", {"encoding": "shift_jis", "mode": "byte", "eci": True}),
        ("Situação", {"encoding": "latin-1", "eci": True}),
        ("Café Grüße", {"encoding": "latin-1"}),
        ("Grüße 驿站", {"encoding": "utf-8"}),
    ],
)
def test_text_is_the_true_text_and_data_the_exact_bytes(text: str, how: dict) -> None:
    qr = segno.make(text, micro=False, **how)
    codec = how.get("encoding", "utf-8")

    [code] = CascadeDecoder().read(image_of(qr))

    assert code.text == text
    assert code.data == as_text(text.encode(codec))  # what the verifier got before, unchanged


def test_member_codes_are_the_same_for_the_door_and_for_display() -> None:
    text = "WS1:" + "0123456789ABCDEF" * 16
    decoder = CascadeDecoder()
    [code] = decoder.read(image_of(segno.make_qr(text, error="m")))
    assert code.data == code.text == text
    assert decoder.decode(image_of(segno.make_qr(text, error="m"))) == [text]


def test_an_eci_wins_over_the_gb18030_guess() -> None:
    """Latin-1 bytes that also pair up as GB2312 characters: with an ECI saying Latin-1 they
    stay Latin-1; without one the station's likelier charset, GB18030, is shown."""
    data = "ÃÄ".encode("latin-1")
    assert display_text(data, "ÃÄ", has_eci=True) == "ÃÄ"
    assert display_text(data, "ÃÄ", has_eci=False) == data.decode("gb18030")


def test_shift_jis_and_utf8_guesses_stand() -> None:
    sjis = "こんにちは".encode("shift_jis")
    assert display_text(sjis, "こんにちは", has_eci=False) == "こんにちは"
    assert display_text("驿站".encode(), "驿站", has_eci=False) == "驿站"
    assert display_text(b"\xff\xfe\x00", "\xff\xfe\x00", has_eci=False) == "\xff\xfe\x00"
