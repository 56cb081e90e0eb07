"""`cloud.sheetfile`: which bytes are read as which text, and what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud.sheetfile import SheetError, check_writable, decode, read_text

TEXT = "id,name\nsz-1,福田驿站\n"


@pytest.mark.parametrize(
    ("text", "raw", "codec"),
    [
        pytest.param(TEXT, TEXT.encode(), "utf-8", id="utf-8"),
        pytest.param(TEXT, b"\xef\xbb\xbf" + TEXT.encode(), "utf-8-sig", id="bom"),
        pytest.param(TEXT, TEXT.encode("gbk"), "gb18030", id="gbk"),
        pytest.param(TEXT + "𠀀\n", (TEXT + "𠀀\n").encode("gb18030"), "gb18030", id="4-byte"),
        pytest.param("id\nplain\n", b"id\nplain\n", "utf-8", id="ascii"),
    ],
)
def test_excel_encodings_read_back_the_same_text(text: str, raw: bytes, codec: str) -> None:
    assert decode(raw) == (text, codec)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param("\ufeffid\n".encode("utf-16-le"), "line 1: UTF-16", id="utf-16"),
        pytest.param(b"\xef\xbb\xbfid\n\xff\n", "line 2: not valid UTF-8", id="bom-then-junk"),
        pytest.param(b"id\nok\n\x80\xff\n", "line 3: neither UTF-8 nor GBK", id="junk"),
    ],
)
def test_unreadable_text_is_refused_with_its_line(raw: bytes, message: str) -> None:
    with pytest.raises(SheetError, match=message):
        decode(raw)


def test_a_workbook_is_refused_by_name_or_by_content(tmp_path: Path) -> None:
    renamed = tmp_path / "stations.csv"
    renamed.write_bytes(b"\xd0\xcf\x11\xe0 an old .xls saved under a .csv name")
    with pytest.raises(SheetError, match="workbook"):
        read_text(renamed)
    with pytest.raises(SheetError, match=r"out\.csv"):
        check_writable(tmp_path / "out.xlsx")
    with pytest.raises(SheetError, match="does not exist"):
        check_writable(tmp_path / "nope" / "out.csv")
    check_writable(tmp_path / "out.csv")
