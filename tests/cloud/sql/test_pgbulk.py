"""`cloud.sql.pgbulk` (PostgreSQL only): a whole batch as one JSON parameter, typed by the
table's own row type, in a statement whose text does not depend on the batch size."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import Connection, event, select

from cloud.models import ReceivedSeq, StationState, Telemetry, table
from cloud.sql import pgbulk

# the module's database is PostgreSQL only (`module_db_url` is parametrized over both)
pytestmark = pytest.mark.parametrize("module_db_url", ["postgresql"], indirect=True, scope="module")

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RECEIVED = table(ReceivedSeq)
STATE = table(StationState)
TELEMETRY = table(Telemetry)


@pytest.fixture
def statements(db: Connection) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(db, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db, "before_cursor_execute", record)


def seqs(sid: str, *numbers: int) -> list[dict[str, Any]]:
    return [{"station_id": sid, "seq": n, "kind": "events", "received_at": T0} for n in numbers]


def test_the_statement_text_is_the_same_for_any_batch_size(
    db: Connection, statements: list[str]
) -> None:
    pgbulk.insert(db, RECEIVED, seqs("st-1", 1))
    pgbulk.insert(db, RECEIVED, seqs("st-1", *range(2, 502)))
    assert len(statements) == 2
    assert statements[0] == statements[1]  # prepared once by psycopg
    assert db.execute(select(RECEIVED.c.seq).order_by(RECEIVED.c.seq.desc())).first() == (501,)


def test_conflict_and_returning_clauses(db: Connection) -> None:
    pgbulk.insert(db, RECEIVED, seqs("st-1", 1, 2))
    result = pgbulk.insert(
        db, RECEIVED, seqs("st-1", 2, 3), "(station_id, seq) DO NOTHING", "station_id, seq"
    )
    assert [tuple(r) for r in result] == [("st-1", 3)]


def test_values_are_typed_by_the_table_and_json_passes_through(
    db: Connection, put_station: Callable[..., str]
) -> None:
    sid = put_station("st-1")
    local = datetime(2026, 3, 1, 20, 0, tzinfo=UTC).astimezone()  # any offset: an instant
    row = {
        "station_id": sid,
        "ts": local,
        "received_at": T0,
        "uptime_s": 5.5,
        "interval_s": 30,
        "door": "closed",
        "lock": "locked",
        "journal_backlog": 0,
        "payload": orjson.Fragment(b'{"sensors":{"fridge_c":4.5},"note":"\\u95e8"}'),
    }
    pgbulk.insert(db, TELEMETRY, [row])
    stored = db.execute(select(TELEMETRY)).one()
    assert stored.ts == local
    assert stored.uptime_s == 5.5
    assert stored.payload == {"sensors": {"fridge_c": 4.5}, "note": "门"}
    assert stored.occupancy is None  # a column the rows leave out


def test_update_sets_the_other_columns_where_the_guard_holds(
    db: Connection, put_station: Callable[..., str]
) -> None:
    for sid in ("st-1", "st-2"):
        put_station(sid)
    db.execute(STATE.update().values(last_seen=T0, config_version=3))
    rows = [
        {"station_id": "st-2", "last_seen": T0 + timedelta(seconds=5), "config_version": None},
        {"station_id": "st-1", "last_seen": T0 - timedelta(seconds=5), "config_version": 9},
    ]
    pgbulk.update(
        db,
        STATE,
        rows,
        key="station_id",
        guard="t.last_seen < v.last_seen",
        keep_if_null=frozenset({"config_version"}),
    )
    got = {
        r.station_id: (r.last_seen, r.config_version)
        for r in db.execute(select(STATE.c.station_id, STATE.c.last_seen, STATE.c.config_version))
    }
    assert got == {
        "st-1": (T0, 3),  # older: the guard refused it
        "st-2": (T0 + timedelta(seconds=5), 3),  # newer; a null version keeps the stored one
    }
