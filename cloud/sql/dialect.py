"""How ingest's bulk statements are spelled on each database: one `Dialect`, chosen once.

A batch is written with a handful of bulk statements: insert-or-ignore, newest-wins upsert,
plain insert and guarded update. PostgreSQL gets them as `pgbulk` statements that carry the
whole batch as one JSON parameter (the fast path; see docs/benchmarks.md, "Cloud ingest");
SQLite (tests, the demo, a small site) as SQLAlchemy executemany statements. The writer and
the acks ask `dialect_for(conn)` once per transaction and never look at the dialect's name
again. Both spellings change the same rows the same way; the ingest tests run on both.

Rows are dicts of column → value, complete for the columns they name, sorted by the caller in
key order (so two workers lock rows in the same order; see cloud.ingest.writer).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import orjson
from pydantic import BaseModel
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Table,
    bindparam,
    func,
    or_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from cloud.sql import pgbulk

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Guard:
    """Which stored rows an update may change: those where `stored.column op new.column`,
    or (`or_null`) where the stored value is still null."""

    column: str
    op: Literal["<", "<="]
    or_null: bool = False

    def sql(self) -> str:
        """The guard as SQL over `t` (the stored row) and `v` (the new values), for pgbulk."""
        cmp = f"t.{self.column} {self.op} v.{self.column}"
        return f"t.{self.column} IS NULL OR {cmp}" if self.or_null else cmp

    def clause(self, tbl: Table, new: BindParameter[Any]) -> ColumnElement[bool]:
        """The guard as a SQLAlchemy condition on `tbl` against the bound new value."""
        stored = tbl.c[self.column]
        cmp = stored < new if self.op == "<" else stored <= new
        return or_(stored.is_(None), cmp) if self.or_null else cmp


class Dialect(ABC):
    """The bulk statements of one database. Stateless: one shared instance per database."""

    name: ClassVar[str]

    @abstractmethod
    def insert(self, tbl: Table) -> postgresql.Insert | sqlite.Insert:
        """INSERT with the dialect's ON CONFLICT support (both spell it alike)."""

    def ensure(self, conn: Connection, tbl: Table, rows: list[Row], keys: Sequence[str]) -> None:
        """Insert the rows whose `keys` are not stored yet; the table's Python-side defaults
        fill the columns the rows leave out (so this is SQLAlchemy's insert on both)."""
        conn.execute(self.insert(tbl).on_conflict_do_nothing(index_elements=list(keys)), rows)

    @abstractmethod
    def insert_new(
        self,
        conn: Connection,
        tbl: Table,
        rows: list[Row],
        keys: Sequence[str],
        returning: Sequence[str] = (),
    ) -> Iterable[Any]:
        """Insert the rows whose `keys` are not stored yet; yields the `returning` columns
        (tuples) of the rows inserted, nothing useful when `returning` is empty."""

    @abstractmethod
    def upsert_newer(
        self,
        conn: Connection,
        tbl: Table,
        rows: list[Row],
        keys: Sequence[str],
        updated: Sequence[str],
        version: str,
    ) -> None:
        """Insert, or on a stored `keys` set the `updated` columns where the stored `version`
        is lower than the new one (newest wins). At most one row per key per call."""

    @abstractmethod
    def insert_all(self, conn: Connection, tbl: Table, rows: list[Row]) -> None:
        """Plain INSERT of every row."""

    @abstractmethod
    def json(self, model: BaseModel) -> Any:
        """A pydantic model as the value of a JSON column in `insert_all` rows."""

    @abstractmethod
    def update(
        self,
        conn: Connection,
        tbl: Table,
        rows: list[Row],
        *,
        key: str,
        guard: Guard,
        keep_if_null: frozenset[str] = frozenset(),
    ) -> None:
        """Set every other column of each row on the stored row with the same `key`, where
        `guard` holds; a column in `keep_if_null` keeps its stored value when the new one is
        null. Rows are applied in the order given."""


class SqliteDialect(Dialect):
    """SQLAlchemy constructs, executemany: one statement text, the rows as parameter sets."""

    name = "sqlite"

    def insert(self, tbl: Table) -> sqlite.Insert:
        return sqlite.insert(tbl)

    def insert_new(
        self,
        conn: Connection,
        tbl: Table,
        rows: list[Row],
        keys: Sequence[str],
        returning: Sequence[str] = (),
    ) -> Iterable[Any]:
        stmt = self.insert(tbl).on_conflict_do_nothing(index_elements=list(keys))
        if returning:
            stmt = stmt.returning(*(tbl.c[c] for c in returning))
        return conn.execute(stmt, rows)

    def upsert_newer(
        self,
        conn: Connection,
        tbl: Table,
        rows: list[Row],
        keys: Sequence[str],
        updated: Sequence[str],
        version: str,
    ) -> None:
        stmt = self.insert(tbl)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys),
            set_={c: stmt.excluded[c] for c in updated},
            where=tbl.c[version] < stmt.excluded[version],
        )
        conn.execute(stmt, rows)

    def insert_all(self, conn: Connection, tbl: Table, rows: list[Row]) -> None:
        conn.execute(tbl.insert(), rows)

    def json(self, model: BaseModel) -> Any:
        return model.model_dump(mode="json")

    def update(
        self,
        conn: Connection,
        tbl: Table,
        rows: list[Row],
        *,
        key: str,
        guard: Guard,
        keep_if_null: frozenset[str] = frozenset(),
    ) -> None:
        # SQLAlchemy reserves a column's own name for its SET value: parameters are b_<column>,
        # typed as the column (a datetime compared in the guard, JSON for a json column).
        params = {c: bindparam(f"b_{c}", type_=tbl.c[c].type) for c in rows[0]}
        values = {
            c: func.coalesce(p, tbl.c[c]) if c in keep_if_null else p
            for c, p in params.items()
            if c != key
        }
        stmt = (
            update(tbl)
            .where(tbl.c[key] == params[key], guard.clause(tbl, params[guard.column]))
            .values(values)
        )
        conn.execute(stmt, [{f"b_{c}": v for c, v in row.items()} for row in rows])


class PostgresDialect(Dialect):
    """`pgbulk`: one statement per call whatever the batch size, the rows one JSON value."""

    name = "postgresql"

    def insert(self, tbl: Table) -> postgresql.Insert:
        return postgresql.insert(tbl)

    def insert_new(
        self,
        conn: Connection,
        tbl: Table,
        rows: list[Row],
        keys: Sequence[str],
        returning: Sequence[str] = (),
    ) -> Iterable[Any]:
        conflict = f"({', '.join(keys)}) DO NOTHING"
        return pgbulk.insert(conn, tbl, rows, conflict, ", ".join(returning))

    def upsert_newer(
        self,
        conn: Connection,
        tbl: Table,
        rows: list[Row],
        keys: Sequence[str],
        updated: Sequence[str],
        version: str,
    ) -> None:
        sets = ", ".join(f"{c} = excluded.{c}" for c in updated)
        conflict = (
            f"({', '.join(keys)}) DO UPDATE SET {sets} "
            f"WHERE {tbl.name}.{version} < excluded.{version}"
        )
        pgbulk.insert(conn, tbl, rows, conflict)

    def insert_all(self, conn: Connection, tbl: Table, rows: list[Row]) -> None:
        pgbulk.insert(conn, tbl, rows)

    def json(self, model: BaseModel) -> Any:
        # the same JSON as SQLite's, serialised by pydantic in one call and passed through
        return orjson.Fragment(model.model_dump_json())

    def update(
        self,
        conn: Connection,
        tbl: Table,
        rows: list[Row],
        *,
        key: str,
        guard: Guard,
        keep_if_null: frozenset[str] = frozenset(),
    ) -> None:
        pgbulk.update(conn, tbl, rows, key=key, guard=guard.sql(), keep_if_null=keep_if_null)


_DIALECTS: dict[str, Dialect] = {d.name: d for d in (SqliteDialect(), PostgresDialect())}


def dialect_for(conn: Connection) -> Dialect:
    """The statements for `conn`'s database; ingest supports SQLite and PostgreSQL."""
    try:
        return _DIALECTS[conn.dialect.name]
    except KeyError:
        raise NotImplementedError(
            f"ingest supports sqlite and postgresql, not {conn.dialect.name}"
        ) from None
