"""A union's member list (CSV) read and checked as a whole before anything is written.

A roster holds pseudonymous member ids and what the stations need to know about each
member, nothing more: `member_id` (required), and optional `branch`, `staff`, `mother_baby`
and `valid_until` (the membership's last day). Columns that look like personal data (names,
phone numbers, ID-card numbers) are refused by name, so a union's full export cannot slip in;
any other unknown column is refused too, rather than silently dropped. A member id that looks
like a mainland mobile or resident ID-card number is refused on its line.

Every problem is reported with its line (the header is line 1) and column, and the import
goes ahead only when there are none: all or nothing per file. Files are read by
`cloud.sheetfile` (UTF-8 with or without BOM, GBK/GB18030 as Excel on Chinese Windows saves).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

from cloud.credentials.models import MEMBER_ID_PATTERN
from cloud.sheetfile import ENCODING_NAMES, read_text
from protocol.credential import Flag

MAX_ERRORS_SHOWN = 20  # a file with thousands of bad lines is summed up, not printed whole
# Column names as union IT exports them: ours, and the Chinese ones an office would type.
COLUMNS = {
    "member_id": "member_id",
    "会员编号": "member_id",
    "会员号": "member_id",
    "branch": "branch",
    "分会": "branch",
    "基层工会": "branch",
    "staff": "staff",
    "驿站工作人员": "staff",
    "工作人员": "staff",
    "mother_baby": "mother_baby",
    "母婴室": "mother_baby",
    "valid_until": "valid_until",
    "有效期至": "valid_until",
}
# Header words that mean personal data: refused with a reason, whatever else is in the file.
_PERSONAL = (
    (re.compile(r"姓名|名字|真实|name", re.I), "a name"),
    (re.compile(r"手机|电话|联系方式|phone|mobile|tel|cell", re.I), "a phone number"),
    (re.compile(r"身份证|证件|护照|id_?card|id_?no|id_?number|passport|citizen", re.I),
     "an ID-card number"),
)  # fmt: skip
_MOBILE = re.compile(r"^(?:\+?86)?1[3-9]\d{9}$")
_ID_CARD = re.compile(r"^\d{17}[\dXx]$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_TRUE = {"1", "y", "yes", "true", "是", "√", "x"}
_FALSE = {"", "0", "n", "no", "false", "否"}
BRANCH_MAX = 60
FLAG_COLUMNS = (("staff", int(Flag.STAFF)), ("mother_baby", int(Flag.MOTHER_BABY)))


class RosterError(ValueError):
    """The file cannot be imported: `problems` are one line each, already numbered."""

    def __init__(self, problems: list[str], total: int | None = None) -> None:
        self.problems = problems
        self.total = total if total is not None else len(problems)
        shown = problems[:MAX_ERRORS_SHOWN]
        more = self.total - len(shown)
        super().__init__("\n".join(shown + ([f"… and {more} more"] if more > 0 else [])))


@dataclass(frozen=True, slots=True)
class Entry:
    """One member as the file gives it; `line` for messages."""

    line: int
    member_id: str
    branch: str
    flags: int
    valid_until: date | None


@dataclass(frozen=True, slots=True)
class Roster:
    entries: list[Entry]
    encoding: str  # as named to people: "UTF-8", "UTF-8 with BOM", "GBK/GB18030"
    columns: tuple[str, ...]  # our names of the columns the file has


def _id_card(value: str) -> bool:
    """A resident ID-card number: 18 characters whose check digit is right (ISO 7064)."""
    if not _ID_CARD.fullmatch(value):
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == value[17].upper()


def _check_id(value: str) -> str | None:
    if not value:
        return "empty"
    if not _MEMBER_ID.fullmatch(value):
        return f"{value[:40]!r} is not a member id (1-40 of A-Z a-z 0-9 . _ -)"
    if _MOBILE.fullmatch(value):
        return "looks like a mobile phone number: use the union app's pseudonymous member id"
    if _id_card(value):
        return "looks like an ID-card number: use the union app's pseudonymous member id"
    return None


_MEMBER_ID = re.compile(MEMBER_ID_PATTERN)
_YES = {v: True for v in _TRUE} | {v: False for v in _FALSE}
_DATE = re.compile(r"(\d{4})[-/.]?(\d{1,2})[-/.]?(\d{1,2})")


def _yes(value: str) -> bool | None:
    return _YES.get(value.lower())


@lru_cache(maxsize=4096)  # a roster has few distinct end dates: parse each once
def _date(value: str) -> date:
    """`2027-06-30`, `2027/6/30` (Excel), `2027.06.30` or `20270630`; ValueError otherwise."""
    found = _DATE.fullmatch(value)
    if found is None:
        raise ValueError(value)
    return date(*map(int, found.groups()))


def header(names: list[str]) -> tuple[str, ...]:
    """Our names of the file's columns; RosterError naming every refused column."""
    problems, ours = [], []
    for raw in names:
        name = raw.strip()
        known = COLUMNS.get(name.lower()) or COLUMNS.get(name)
        if known is not None:
            ours.append(known)
            continue
        what = next((w for pattern, w in _PERSONAL if pattern.search(name)), None)
        if what is not None:
            problems.append(
                f"line 1, column {name!r}: looks like {what}; the roster holds pseudonymous "
                "member ids only: remove the column"
            )
        else:
            problems.append(
                f"line 1, column {name!r}: unknown column (known: member_id, branch, staff, "
                "mother_baby, valid_until)"
            )
    for name in sorted({n for n in ours if ours.count(n) > 1}):
        problems.append(f"line 1, column {name!r}: given twice")
    if "member_id" not in ours and not problems:
        problems.append("line 1: no member_id column (the header must name it)")
    if problems:
        raise RosterError(problems)
    return tuple(ours)


def parse(text: str, encoding: str = "UTF-8") -> Roster:
    """Check every line of a roster's text; RosterError listing every problem."""
    rows = csv.reader(io.StringIO(text, newline=""))
    first = next(rows, None)
    if first is None:
        raise RosterError(["line 1: the file is empty (a header with member_id is needed)"])
    columns = header(first)
    width = len(columns)
    at = {name: i for i, name in enumerate(columns)}
    i_id = at["member_id"]
    i_branch, i_until = at.get("branch"), at.get("valid_until")
    flag_cols = [(n, at[n], f) for n, f in FLAG_COLUMNS if n in at]
    problems: list[str] = []
    entries: list[Entry] = []
    seen: dict[str, int] = {}
    for cells in rows:
        line = rows.line_num  # the physical line it ends on (a quoted cell may hold newlines)
        if len(cells) != width:
            if any(c.strip() for c in cells):  # blank lines (Excel leaves some at the end) pass
                problems.append(f"line {line}: {len(cells)} fields, the header has {width}")
            continue
        member_id = cells[i_id].strip()
        if (why := _check_id(member_id)) is not None:
            problems.append(f"line {line}, member_id: {why}")
            continue
        if member_id in seen:
            problems.append(
                f"line {line}, member_id: {member_id} is already on line {seen[member_id]}"
            )
            continue
        seen[member_id] = line
        flags = 0
        for name, i, flag in flag_cols:
            value = cells[i].strip()
            yes = _yes(value)
            if yes is None:
                problems.append(f"line {line}, {name}: {value[:20]!r} is not yes/no (1/0, 是/否)")
            elif yes:
                flags |= flag
        valid_until = None
        if i_until is not None and (until := cells[i_until].strip()):
            try:
                valid_until = _date(until)
            except ValueError:
                problems.append(
                    f"line {line}, valid_until: {until[:20]!r} is not a date (2027-06-30)"
                )
        branch = cells[i_branch].strip() if i_branch is not None else ""
        if len(branch) > BRANCH_MAX:
            problems.append(f"line {line}, branch: longer than {BRANCH_MAX} characters")
        entries.append(Entry(line, member_id, branch, flags, valid_until))
    if problems:
        raise RosterError(problems)
    if not entries:
        raise RosterError(["the file has a header but no members"])
    return Roster(entries, encoding, columns)


def read(path: Path) -> Roster:
    """Read and check a roster file (SheetError for a workbook or unreadable text)."""
    text, encoding = read_text(path)
    return parse(text, ENCODING_NAMES.get(encoding, encoding))
