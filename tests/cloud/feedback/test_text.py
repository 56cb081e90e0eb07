"""`cloud.feedback.text.clean`: one plain-text form stored; control characters and bidi
overrides refused with the code point named; markup kept as the characters it is."""

from __future__ import annotations

import re

import pytest

from cloud.feedback.text import clean


def test_text_is_trimmed_and_line_breaks_become_newlines() -> None:
    assert clean("  水龙头坏了\r\n请修理\r第二行\u2028第三行\u0085end  ", max_chars=100) == (
        "水龙头坏了\n请修理\n第二行\n第三行\nend"
    )


def test_unicode_is_nfc_normalised() -> None:
    assert clean("Cafe\u0301", max_chars=10) == "Caf\u00e9"


def test_runs_of_blank_lines_shrink_to_one_blank_line() -> None:
    assert clean("a\n\n\n\n\nb\n\nc", max_chars=100) == "a\n\nb\n\nc"


def test_tabs_and_markup_are_kept_as_text() -> None:
    assert clean("<b>门</b>\tok & <script>", max_chars=100) == "<b>门</b>\tok & <script>"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("nul\x00", "U+0000"),
        ("bell\x07", "U+0007"),
        ("esc\x1b[31m", "U+001B"),
        ("del\x7f", "U+007F"),
        ("c1\x9b", "U+009B"),
        ("abc\u202edcba", "U+202E"),  # right-to-left override: reads differently than it is
        ("iso\u2066x\u2069", "U+2066"),
    ],
)
def test_control_and_bidi_characters_are_refused_by_name(text: str, code: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"({code})")):
        clean(text, max_chars=100)


def test_the_length_limit_counts_the_cleaned_text() -> None:
    assert clean("  " + "字" * 10 + "  \n\n\n", max_chars=10) == "字" * 10  # exactly the limit
    with pytest.raises(ValueError, match="11 characters is too long; at most 10"):
        clean("字" * 11, max_chars=10)


def test_empty_and_blank_text_clean_to_empty() -> None:
    assert clean("", max_chars=10) == ""
    assert clean(" \r\n\t ", max_chars=10) == ""
