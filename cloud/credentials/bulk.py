"""Bulk enrolment: a checked roster into the member registry in one transaction.

Why its own module: `cloud.credentials.members` works member by member through the ORM,
which takes minutes for a city union's 300,000 members. Here rows go in as batches on a Core
`Connection`: `executemany` on SQLite (its C loop binds a row in ~1 µs), and on PostgreSQL
one statement per batch carrying the rows as JSON (`cloud.sql.pgbulk`, the ingest
writer's way), so the server does the per-row work. See docs/benchmarks.md "Member import".

The rules are the registry's own: codes come from `members.make_codes` and are stored as
`members.code_hash`, spent by `POST /api/v1/members/enroll` exactly like one made by the
admin API. Re-importing a file is idempotent: members whose fields are as in the file are
left alone and get no new code; a changed branch, flag or end date is updated, with no new
code either. The caller commits (or rolls back) the connection, so a file goes in whole or
not at all, and audits it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import Connection, Table, TextClause, bindparam, select, text, update

from cloud.credentials.members import code_hash, make_codes
from cloud.credentials.models import CertificateRow, MemberRow
from cloud.credentials.roster import Entry, Roster
from cloud.sql import pgbulk

# Rows per statement: 50,000 ids per look-up (one JSON parameter of ~0.6 MB); 10,000-row
# write batches keep PostgreSQL's JSON parameter a few MB and give the progress bar 30 steps
# for 300,000 members.
LOOKUP_CHUNK = 50_000
WRITE_CHUNK = 10_000
DEFAULT_CODE_DAYS = 30  # paper goes out through union offices: weeks, not the API's 7 days
MAX_CODE_DAYS = 90

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class Issued:
    """A one-time enrolment code as it must reach the member (shown once, never stored)."""

    member_id: str
    code: str


@dataclass
class ImportResult:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    codes: list[Issued] = field(default_factory=list)
    codes_expire: datetime | None = None

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.codes)


@dataclass(frozen=True, slots=True)
class _Held:
    branch: str
    flags: int
    valid_until: date | None
    status: str


def _table(model: type[Any]) -> Table:
    return model.__table__  # type: ignore[no-any-return]


MEMBER, CERTIFICATE = _table(MemberRow), _table(CertificateRow)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _in_ids(conn: Connection) -> TextClause:
    """`member_id IN (the ids)`, the ids bound as one JSON array: a statement with one parameter
    whatever the count, so neither the driver nor SQLAlchemy work per id (an expanding IN of
    5,000 ids cost ~30 µs an id to compile, 10 s for 300,000)."""
    if conn.dialect.name == "postgresql":
        return text("member_id IN (SELECT json_array_elements_text(CAST(:ids AS json)))")
    return text("member_id IN (SELECT value FROM json_each(:ids))")


def _held(conn: Connection, ids: list[str]) -> dict[str, _Held]:
    """The registry's view of the members the file names."""
    out: dict[str, _Held] = {}
    c = MEMBER.c
    stmt = select(c.member_id, c.branch, c.flags, c.valid_until, c.status).where(_in_ids(conn))
    for part in _chunks(ids, LOOKUP_CHUNK):
        for row in conn.execute(stmt, {"ids": orjson.dumps(list(part)).decode()}):
            out[row.member_id] = _Held(row.branch, row.flags, row.valid_until, row.status)
    return out


def _enrolled(conn: Connection, ids: list[str]) -> set[str]:
    """Which of `ids` have a phone certificate (revoked or not): they need no code."""
    c = CERTIFICATE.c
    stmt = select(c.member_id).where(_in_ids(conn), c.kind == "device").distinct()
    out: set[str] = set()
    for part in _chunks(ids, LOOKUP_CHUNK):
        out.update(conn.execute(stmt, {"ids": orjson.dumps(list(part)).decode()}).scalars())
    return out


def _insert(conn: Connection, rows: list[dict[str, Any]], progress: Progress) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        for part in _chunks(rows, WRITE_CHUNK):
            pgbulk.insert(conn, MEMBER, list(part))
            progress(len(part))
        return
    cols = list(rows[0])
    marks = ", ".join("?" * len(cols))
    sql = f"INSERT INTO {MEMBER.name} ({', '.join(cols)}) VALUES ({marks})"  # noqa: S608 - our names
    bind = _binders(conn, cols)
    for part in _chunks(rows, WRITE_CHUNK):
        conn.exec_driver_sql(sql, [tuple(f(r[c]) for c, f in bind) for r in part])
        progress(len(part))


def _binders(conn: Connection, cols: list[str]) -> list[tuple[str, Callable[[Any], Any]]]:
    """Each column's value as the driver gets it, by the column type's own bind processor
    (so dates and UTC timestamps are stored exactly as the ORM stores them), remembered per
    distinct value: an import has a handful of distinct timestamps and dates, and SQLAlchemy's
    per-row processing of them was 60 % of a 300,000-row SQLite import."""
    out: list[tuple[str, Callable[[Any], Any]]] = []
    for c in cols:
        proc = MEMBER.c[c].type.bind_processor(conn.dialect)
        if proc is None:
            out.append((c, _same))
        else:
            out.append((c, lru_cache(maxsize=1024)(proc)))
    return out


def _same(value: Any) -> Any:
    return value


def _update(conn: Connection, rows: list[dict[str, Any]], progress: Progress) -> None:
    """Set the given columns by member_id (every row has the same columns)."""
    if not rows:
        return
    cols = [k for k in rows[0] if k != "member_id"]
    if conn.dialect.name != "postgresql":
        stmt = (
            update(MEMBER)
            .where(MEMBER.c.member_id == bindparam("b_member_id"))
            .values({k: bindparam(f"b_{k}") for k in cols})
        )
    for part in _chunks(rows, WRITE_CHUNK):
        if conn.dialect.name == "postgresql":
            pgbulk.update(conn, MEMBER, list(part), key="member_id", guard="true")
        else:
            conn.execute(stmt, [{f"b_{k}": v for k, v in r.items()} for r in part])
        progress(len(part))


def plan_size(roster: Roster) -> int:
    """How many progress steps `import_roster` reports: one per row written or checked."""
    return len(roster.entries)


def import_roster(
    conn: Connection,
    roster: Roster,
    *,
    now: datetime,
    code_days: int = DEFAULT_CODE_DAYS,
    codes: bool = True,
    reissue: bool = False,
    progress: Progress = lambda _n: None,
) -> ImportResult:
    """Create the roster's new members (with a one-time code each unless `codes` is False),
    update changed ones; with `reissue`, new codes also for listed active members who have
    not enrolled a phone yet (the paper got lost, the codes ran out). No commit here."""
    ids = [e.member_id for e in roster.entries]
    held = _held(conn, ids)
    result = ImportResult(rows=len(ids))
    expires = now + timedelta(days=code_days)
    new: list[Entry] = []
    changed: list[dict[str, Any]] = []
    for e in roster.entries:
        h = held.get(e.member_id)
        if h is None:
            new.append(e)
        elif (h.branch, h.flags, h.valid_until) != (e.branch, e.flags, e.valid_until):
            changed.append(
                {"member_id": e.member_id, "branch": e.branch, "flags": e.flags,
                 "valid_until": e.valid_until}
            )  # fmt: skip
    fresh = make_codes(len(new)) if codes else [None] * len(new)
    rows = [
        {
            "member_id": e.member_id, "branch": e.branch, "status": "active",
            "flags": e.flags, "valid_until": e.valid_until,
            "enrol_code_hash": code_hash(code) if code else None,
            "enrol_code_expires": expires if code else None, "created_at": now,
        }
        for e, code in zip(new, fresh, strict=True)
    ]  # fmt: skip
    _insert(conn, rows, progress)
    _update(conn, changed, progress)
    result.codes = [Issued(e.member_id, c) for e, c in zip(new, fresh, strict=True) if c]
    if reissue and codes:
        active = [m for m in ids if m in held and held[m].status == "active"]
        enrolled = _enrolled(conn, active)
        again = [m for m in active if m not in enrolled]  # in the file's order
        extra = make_codes(len(again))
        _update(
            conn,
            [
                {"member_id": m, "enrol_code_hash": code_hash(c), "enrol_code_expires": expires}
                for m, c in zip(again, extra, strict=True)
            ],
            lambda _n: None,
        )
        result.codes += [Issued(m, c) for m, c in zip(again, extra, strict=True)]
    progress(len(ids) - len(new) - len(changed))
    result.created, result.updated = len(new), len(changed)
    result.unchanged = len(ids) - len(new) - len(changed)
    result.codes_expire = expires if result.codes else None
    return result
