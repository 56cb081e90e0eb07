"""Shared fixtures for cloud tests: a database per test on SQLite and PostgreSQL, a fake clock,
factories for stations and their state, and the forked/stock library classes (`cloud.forks`).

PostgreSQL comes from env WAYSTATION_TEST_PG (default: local trust auth). Each test gets its
own database, a copy of one migrated once per worker, dropped afterwards, so tests never share
state (tests/conftest.py `db_url`). Unreachable PostgreSQL skips those tests locally and fails
them when CI=true.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine

from cloud import forks
from cloud.db import init_db, make_engine, session
from cloud.ingest.acks import Ack
from cloud.models import Station, StationState, table

# A Monday, 10:00 in Shanghai: inside "Mo-Su 08:00-20:00", outside "Mo-Su 20:00-23:00".
T0 = datetime(2025, 6, 2, 2, 0, tzinfo=UTC)


def marks(acks: list[Ack]) -> list[tuple[str, int]]:
    """The (station, upto_seq) of each ack, for tests about where acks stand."""
    return [(a.sid, a.upto_seq) for a in acks]


class FakeClock:
    """A settable clock (aware UTC), callable like `cloud.clock.utcnow`."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    init_db(eng)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture(scope="module")
def module_engine(module_db_url: str) -> Iterator[Engine]:
    """A migrated database for a whole test module (migrating costs ~0.3 s per test)."""
    eng = make_engine(module_db_url)
    init_db(eng)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def db(module_engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that is rolled back after the test: the module's
    database stays empty for the next one. For tests of functions that work inside the
    caller's transaction."""
    with module_engine.connect() as conn:
        outer = conn.begin()
        try:
            yield conn
        finally:
            outer.rollback()


@pytest.fixture
def put_station(db: Connection) -> Callable[..., str]:
    """Register a station inside `db`'s transaction (default: central Shanghai); its id."""

    def put(sid: str = "st-001", **fields: Any) -> str:
        values: dict[str, Any] = {"name": f"Station {sid}", "lat": 31.2304, "lon": 121.4737}
        db.execute(
            table(Station).insert().values(Station(id=sid, **(values | fields)).model_dump())
        )
        db.execute(table(StationState).insert().values(station_id=sid))
        return sid

    return put


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def add_station(engine: Engine) -> Callable[..., Station]:
    """Register a station (default: central Shanghai, 24/7, water)."""

    def add(sid: str = "st-001", **fields: Any) -> Station:
        values: dict[str, Any] = {
            "name": f"Station {sid}",
            "lat": 31.2304,
            "lon": 121.4737,
            "amenities": ["water"],
        } | fields
        with session(engine) as s:
            station = Station(id=sid, **values)
            s.add(station)
        return station

    return add


@pytest.fixture
def set_state(engine: Engine) -> Callable[..., StationState]:
    """Write a station's live state directly (tests of readers, not of ingest)."""

    def put(sid: str = "st-001", **fields: Any) -> StationState:
        with session(engine) as s:
            state = s.get(StationState, sid) or StationState(station_id=sid)
            for key, value in fields.items():
                setattr(state, key, value)
            s.add(state)
        return state

    return put


@pytest.fixture(params=["forked", "stock"])
def library_classes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test twice: with our forks of paho/uvicorn/FastAPI classes, and with the stock
    classes (`WAYSTATION_STOCK_CLASSES=1`), which a mismatched library version falls back to.
    Put it first (`usefixtures`) so the switch is set before the app or worker is built;
    `-k stock` runs just the stock half."""
    if request.param == "stock":
        monkeypatch.setenv(forks.STOCK_ENV, "1")
    else:
        monkeypatch.delenv(forks.STOCK_ENV, raising=False)
    return str(request.param)
