"""PostgreSQL statements that carry a whole batch as one JSON parameter.

The rows travel as one text value serialised by orjson in C, and the server types every
column from the table's own row type (`json_populate_recordset(NULL::table, …)`). Each
statement has a constant text whatever the batch size, so psycopg prepares it once. They
replaced one array per column (`unnest`), whose per-element dumping in Python was ~10 % of a
worker's CPU at full rate, and executemany UPDATEs, one statement (and a poll) per station
per batch. See docs/benchmarks.md, "Cloud ingest".

Values must be JSON-able as the table expects them: aware datetimes, plain str/int/bool.
Identifiers come from our table metadata and the fixed strings of the callers; values are
always the one bound parameter.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection, CursorResult, Table, text


def _recordset(tbl: Table) -> str:
    return f"json_populate_recordset(NULL::{tbl.name}, CAST(:rows AS json))"


def insert(
    conn: Connection,
    tbl: Table,
    rows: list[dict[str, Any]],
    conflict: str = "",
    returning: str = "",
) -> CursorResult[Any]:
    """`INSERT INTO tbl (columns of rows[0]) … [ON CONFLICT {conflict}] [RETURNING …]`.

    A value may be an `orjson.Fragment`: JSON already serialised (e.g. by pydantic), for a
    json column."""
    cols = ", ".join(rows[0])
    sql = (
        f"INSERT INTO {tbl.name} ({cols}) SELECT {cols} FROM {_recordset(tbl)}"  # noqa: S608
        f"{' ON CONFLICT ' + conflict if conflict else ''}"
        f"{' RETURNING ' + returning if returning else ''}"
    )
    return conn.execute(text(sql), {"rows": orjson.dumps(rows).decode()})


def update(
    conn: Connection,
    tbl: Table,
    rows: list[dict[str, Any]],
    *,
    key: str,
    guard: str,
    keep_if_null: frozenset[str] = frozenset(),
) -> None:
    """Set every other column of `rows` on the row with the same `key`, where `guard` holds
    (SQL over `t`, the stored row, and `v`, the new values); a column in `keep_if_null`
    keeps its stored value when the new one is null.

    Rows are joined in key order so two workers updating the same stations lock them in the
    same order (see cloud.ingest.writer)."""
    assign = ", ".join(
        f"{c} = coalesce(v.{c}, t.{c})" if c in keep_if_null else f"{c} = v.{c}"
        for c in rows[0]
        if c != key
    )
    sql = (
        f"UPDATE {tbl.name} AS t SET {assign} "  # noqa: S608
        f"FROM (SELECT * FROM {_recordset(tbl)} ORDER BY {key}) AS v "
        f"WHERE t.{key} = v.{key} AND ({guard})"
    )
    conn.execute(text(sql), {"rows": orjson.dumps(rows).decode()})
