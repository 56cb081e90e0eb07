"""The text a person should see for a QR code's bytes: ECI honoured, Chinese charsets guessed.

Why: a QR code's byte segments carry no charset unless an ECI designator names one; the spec's
default is ISO-8859-1, phones write UTF-8, Japanese codes Shift-JIS and many Chinese ones
GBK/GB18030. zxing-cpp honours an ECI and guesses UTF-8, Shift-JIS or ISO-8859-1 otherwise,
which shows GBK text as mojibake ("驿站" comes out as "趾ﾕｾ" or "æäÕ¾"). This module corrects
that one guess for display. The verifier never sees this text: it gets the exact bytes
(`edge.camera.qr.QrCode.data`), so no guess here can open or close the door.
"""

from __future__ import annotations

# zxing-cpp's Shift-JIS guess of GBK or Big5 bytes is full of half-width katakana
# (U+FF61–U+FF9F), which real Japanese text almost never uses; its Latin-1 guess of them is
# runs of accented capitals. Without an ECI, GB18030 is believed when every double byte lies in
# GB2312's rows (lead 0xA1–0xF7, trail 0xA1–0xFE: the 6,763 everyday characters, which
# Shift-JIS kana/kanji and isolated Latin-1 accents essentially never form); GB18030, then Big5,
# when zxing-cpp's guess shows half-width katakana and the candidate decodes to assigned,
# non-private characters. Trade-off: a Latin-1 text whose accented letters all pair up into
# GB2312 characters (rare outside Portuguese) would show as Chinese.
_HALFWIDTH_KATAKANA = range(0xFF61, 0xFFA0)
_PRIVATE_USE = range(0xE000, 0xF900)
_FALLBACKS = ("gb18030", "big5")


def _decodes(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        return None


def display_text(data: bytes, reader_text: str, *, has_eci: bool) -> str:
    """The code's true text from its payload `data` and the reader's own decoding.

    `reader_text` is what the reader made of the bytes (zxing-cpp's `text`: ECI honoured,
    UTF-8/Shift-JIS/ISO-8859-1 guessed); `has_eci` whether the code names its charset.
    """
    if has_eci or data.isascii() or _decodes(data, "utf-8") is not None:
        return reader_text
    if _decodes(data, "gb2312") is not None:
        return data.decode("gb18030")  # a superset: same characters, same result
    if any(ord(ch) in _HALFWIDTH_KATAKANA for ch in reader_text):
        for codec in _FALLBACKS:
            text = _decodes(data, codec)
            if text is not None and not any(ord(ch) in _PRIVATE_USE for ch in text):
                return text
    return reader_text
