from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import StatementError
from sqlmodel import Session

from cloud.db import init_db, session
from cloud.engine import make_engine
from cloud.models import TABLES, Station, StationState


def test_init_db_creates_every_table_and_is_idempotent(engine: Engine) -> None:
    init_db(engine)  # a second time: no error, nothing lost
    names = set(inspect(engine).get_table_names())
    assert {t.name for t in TABLES} <= names


def test_timestamps_come_back_aware_utc(engine: Engine) -> None:
    """SQLite returns naive datetimes; they must read back as the same aware UTC instant."""
    local = datetime(2025, 6, 2, 10, 0, tzinfo=timezone(timedelta(hours=8)))
    with session(engine) as s:
        s.add(Station(id="st-001", name="A", lat=31.0, lon=121.0))
        s.add(StationState(station_id="st-001", status="online", last_seen=local))
    with session(engine) as s:
        state = s.get(StationState, "st-001")
        assert state is not None
        assert state.last_seen == local
        assert state.last_seen.tzinfo is UTC


def test_naive_timestamps_are_refused(engine: Engine) -> None:
    with session(engine) as s:
        s.add(Station(id="st-001", name="A", lat=31.0, lon=121.0))
    with Session(engine) as s:
        s.add(StationState(station_id="st-001", last_seen=datetime(2025, 1, 1)))
        with pytest.raises(StatementError, match="naive datetime"):
            s.commit()


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path: Path) -> None:
    eng = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with eng.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000
    finally:
        eng.dispose()


def test_in_memory_sqlite_is_one_database_across_threads() -> None:
    eng = make_engine("sqlite://")
    try:
        init_db(eng)
        with session(eng) as s:
            s.add(Station(id="st-001", name="A", lat=31.0, lon=121.0))
        with session(eng) as s:
            assert s.get(Station, "st-001") is not None
    finally:
        eng.dispose()


def test_session_rolls_back_on_error(engine: Engine) -> None:
    def fail() -> None:
        with session(engine) as s:
            s.add(Station(id="st-001", name="A", lat=31.0, lon=121.0))
            s.flush()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail()
    with session(engine) as s:
        assert s.get(Station, "st-001") is None
