"""Cleaning of free text sent by the public: what is stored is plain text, one form only.

Unicode is NFC-normalised; line breaks become `\n`; other control characters and the
bidirectional overrides (which can make text read differently from what it holds) are
refused rather than silently dropped, so the sender learns why. Markup is not interpreted or
stripped: `<b>` stays the four characters it is, and every reader inserts it as text.
"""

from __future__ import annotations

import re
import unicodedata

_NEWLINES = re.compile(r"\r\n?|[\u0085\u2028\u2029]")
# C0 controls except tab and newline, DEL, C1 controls, bidi embeddings/overrides/isolates.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x84\x86-\x9f\u202a-\u202e\u2066-\u2069]")
_BLANK_RUNS = re.compile(r"\n{3,}")


def clean(value: str, *, max_chars: int) -> str:
    """`value` as stored: normalised, trimmed, at most two blank lines in a row.

    ValueError when it holds control characters or is longer than `max_chars` characters
    after cleaning (the message is shown to the sender after the field's name)."""
    text = unicodedata.normalize("NFC", _NEWLINES.sub("\n", value))
    bad = _FORBIDDEN.search(text)
    if bad is not None:
        raise ValueError(f"holds a control character (U+{ord(bad.group()):04X})")
    text = _BLANK_RUNS.sub("\n\n", text.strip())
    if len(text) > max_chars:
        raise ValueError(f"{len(text)} characters is too long; at most {max_chars}")
    return text
