"""`cloud.sql.types.UTCDateTime`: aware UTC in and out on SQLite and PostgreSQL alike; a naive
timestamp is refused, not guessed at."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import StatementError

from cloud.models import StatusChange, table
from cloud.sql.types import UTCDateTime

SHANGHAI = timezone(timedelta(hours=8))
HISTORY = table(StatusChange)


def test_sqlite_gets_naive_utc_and_postgresql_aware_utc() -> None:
    t = UTCDateTime()
    local = datetime(2026, 3, 1, 20, 0, tzinfo=SHANGHAI)
    assert t.process_bind_param(local, sqlite.dialect()) == datetime(2026, 3, 1, 12, 0)
    stored = t.process_bind_param(local, postgresql.dialect())
    assert stored == local
    assert stored.tzinfo is UTC
    assert t.process_bind_param(None, sqlite.dialect()) is None


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        UTCDateTime().process_bind_param(datetime(2026, 3, 1, 12, 0), sqlite.dialect())


def test_values_read_back_are_aware_utc() -> None:
    t = UTCDateTime()
    assert t.process_result_value(datetime(2026, 3, 1, 12, 0), sqlite.dialect()) == datetime(
        2026, 3, 1, 12, 0, tzinfo=UTC
    )
    back = t.process_result_value(
        datetime(2026, 3, 1, 20, 0, tzinfo=SHANGHAI), postgresql.dialect()
    )
    assert back == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert back is not None
    assert back.tzinfo is UTC
    assert t.process_result_value(None, sqlite.dialect()) is None


def test_a_round_trip_through_the_database(db: Connection, put_station: Callable[..., str]) -> None:
    sid = put_station()
    local = datetime(2026, 3, 1, 20, 0, 0, 123456, tzinfo=SHANGHAI)
    db.execute(HISTORY.insert().values(station_id=sid, at=local, status="online", source="report"))
    at = db.execute(select(HISTORY.c.at)).scalar_one()
    assert at == local  # the same instant, microseconds kept
    assert at.tzinfo is UTC
    # compared in the database as instants: an aware bound in another zone matches
    found = db.execute(select(HISTORY.c.status).where(HISTORY.c.at == local.astimezone(UTC)))
    assert found.scalar_one() == "online"


def test_a_naive_value_never_reaches_the_database(
    db: Connection, put_station: Callable[..., str]
) -> None:
    sid = put_station()
    with pytest.raises(StatementError, match="naive datetime"):
        db.execute(
            HISTORY.insert().values(
                station_id=sid, at=datetime(2026, 3, 1, 12, 0), status="online", source="report"
            )
        )
