"""Spreadsheet files as Excel makes and opens them: text encodings in, UTF-8 with BOM out.

Why: Excel on Chinese Windows saves "CSV (逗号分隔)" in GBK (code page 936), "CSV UTF-8"
with a byte-order mark, and other tools write plain UTF-8; all three must import. Going out,
Excel shows a BOM-less UTF-8 CSV as mojibake, so every CSV written here starts with a BOM.
Workbooks (.xlsx, .xls) are refused with one line saying how to save a CSV instead: no
workbook library is a dependency of the cloud extra.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods", ".numbers", ".et")
_ZIP, _OLE = b"PK\x03\x04", b"\xd0\xcf\x11\xe0"  # .xlsx/.ods; .xls (and old .et)
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# How `decode`'s encodings are named to people.
ENCODING_NAMES = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 with BOM", "gb18030": "GBK/GB18030"}
SAVE_AS_CSV = 'save it in Excel as "CSV UTF-8 (逗号分隔)(*.csv)" (or WPS: CSV) and use that file'


class SheetError(ValueError):
    """A file refused as a whole (wrong kind, unreadable text): one line for the user."""


def refuse_workbook(path: Path, head: bytes = b"") -> None:
    """Raise SheetError if `path` is a workbook by name or by its first bytes."""
    if path.suffix.lower() in WORKBOOK_SUFFIXES or head.startswith((_ZIP, _OLE)):
        raise SheetError(f"{path.name} is a spreadsheet workbook, not CSV: {SAVE_AS_CSV}")


def _line_of(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, offset) + 1


def decode(raw: bytes) -> tuple[str, str]:
    """The file's text and the encoding it was read as: `utf-8-sig` after a UTF-8 BOM, else
    `utf-8` if the bytes are strict UTF-8, else `gb18030` (a superset of GBK and GB2312).

    A file that is mostly UTF-8 with a few broken bytes is refused with the line of the first
    one rather than read as GB18030, which would import every Chinese name as mojibake: in
    GBK text valid UTF-8 multi-byte sequences are rare (a pair is one by chance ~8 % of the
    time), in damaged UTF-8 they are the rule.
    """
    if raw.startswith(_UTF16_BOMS):
        raise SheetError(f"line 1: UTF-16 text (Excel's 'Unicode text'); {SAVE_AS_CSV}")
    bom = raw.startswith(b"\xef\xbb\xbf")
    try:
        return raw[3:].decode() if bom else raw.decode(), "utf-8-sig" if bom else "utf-8"
    except UnicodeDecodeError as exc:
        utf8_error = exc
    if bom or _mostly_utf8(raw):
        line = _line_of(raw, utf8_error.start + (3 if bom else 0))
        raise SheetError(f"line {line}: not valid UTF-8 ({utf8_error.reason})") from utf8_error
    try:
        return raw.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        line = _line_of(raw, exc.start)
        raise SheetError(f"line {line}: neither UTF-8 nor GBK/GB18030 text") from exc


def _mostly_utf8(raw: bytes) -> bool:
    """More well-formed non-ASCII UTF-8 characters than broken bytes."""
    text = raw.decode("utf-8", errors="replace")
    broken = text.count("\ufffd")
    good = sum(1 for ch in text if ord(ch) > 0x7F) - broken
    return good > broken


def read_text(path: Path) -> tuple[str, str]:
    """A CSV-like file's text and encoding; SheetError for workbooks and unreadable text."""
    raw = path.read_bytes()
    refuse_workbook(path, raw[:4])
    return decode(raw)


def check_writable(path: Path) -> None:
    """Refuse a workbook name or a folder that does not exist before any work is done."""
    if path.suffix.lower() in WORKBOOK_SUFFIXES:
        raise SheetError(
            f"cannot write {path.name}: workbooks are not written here; "
            f"name it {path.stem}.csv (Excel opens it, Chinese intact)"
        )
    folder = path.parent
    if not folder.is_dir():
        raise SheetError(f"cannot write {path}: folder {folder} does not exist")


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, str]]) -> None:
    """A CSV that Excel opens with Chinese intact: UTF-8 with BOM, CRLF line ends."""
    check_writable(path)
    with path.open("wb") as fh:
        write_csv_to(fh, columns, rows)


def write_csv_to(fh: IO[bytes], columns: Sequence[str], rows: Iterable[Mapping[str, str]]) -> None:
    """`write_csv` into a file the caller opened (e.g. a secret one, mode 0600)."""
    text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="")
    writer = csv.DictWriter(text, fieldnames=list(columns))
    writer.writeheader()
    writer.writerows(rows)
    text.flush()
    text.detach()  # the caller closes `fh`
