"""Alembic migrations: head matches the models, old databases upgrade, concurrent starts."""

from __future__ import annotations

import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, inspect, text

from cloud import migrate
from cloud.credentials.models import TABLES as CREDENTIAL_TABLES
from cloud.db import init_db, make_engine, migrated_tables, session
from cloud.models import Station


def _head() -> str:
    head = ScriptDirectory.from_config(migrate.config()).get_current_head()
    assert head is not None
    return head


def test_head_schema_matches_the_models(engine: Engine) -> None:
    ours = MetaData()
    for t in migrated_tables():
        t.to_metadata(ours)
    names = set(ours.tables) | {"alembic_version"}

    def ours_only(_obj: object, name: str | None, type_: str, *_: object) -> bool:
        return type_ != "table" or name in names  # other features' tables have own tests

    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": ours_only})
        diffs = compare_metadata(ctx, ours)
    assert diffs == []
    assert migrate.current(engine) == _head()


def test_init_db_twice_is_a_no_op(engine: Engine) -> None:
    init_db(engine)
    assert migrate.current(engine) == _head()


@pytest.mark.empty_db
def test_a_database_from_before_migrations_is_stamped_and_upgraded(db_url: str) -> None:
    """Story: foundation databases were made by create_all and have no alembic_version."""
    eng = make_engine(db_url)
    try:
        migrate.upgrade(eng, "0001")
        with eng.begin() as conn:
            conn.execute(text("DROP TABLE alembic_version"))
        with eng.begin() as conn:  # the columns of 0001 (the model has more by now)
            conn.execute(
                text(
                    "INSERT INTO station (id, name, lat, lon, amenities, opening_hours, "
                    "operator, address, city, tz, maintenance, created_at, updated_at) "
                    "VALUES ('old-1', 'Old', 31.0, 121.0, '[]', '24/7', '', '', '', "
                    "'Asia/Shanghai', false, '2025-01-01 00:00:00+00:00', "
                    "'2025-01-01 00:00:00+00:00')"
                )
            )
        assert migrate.current(eng) is None
        init_db(eng)
        assert migrate.current(eng) == _head()
        tables = set(inspect(eng).get_table_names())
        assert {"footfall_hour", "footfall_day"} <= tables
        with session(eng) as s:
            assert s.get(Station, "old-1") is not None
    finally:
        eng.dispose()


@pytest.mark.empty_db
def test_two_processes_starting_at_once_migrate_once(db_url: str) -> None:
    engines = [make_engine(db_url) for _ in range(3)]
    # The file exists (and is in WAL mode) first: racing to create it is not what this tests.
    with engines[0].connect():
        pass
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(engines))

    def start(eng: Engine) -> None:
        try:
            barrier.wait()
            init_db(eng)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert errors == []
        assert migrate.current(engines[0]) == _head()
        with session(engines[0]) as s:
            s.add(Station(id="after", name="After", lat=1.0, lon=2.0))
            s.flush()
            assert s.get(Station, "after") is not None
    finally:
        for e in engines:
            e.dispose()


@pytest.mark.empty_db
def test_credential_tables_made_before_their_migration_are_adopted(db_url: str) -> None:
    """Story: member-credential tables were created plainly (no migration yet) in development
    databases; migration 0003 must take them over instead of failing on CREATE TABLE."""
    eng = make_engine(db_url)
    try:
        migrate.upgrade(eng, "0002")
        with eng.begin() as conn:
            MetaData().create_all(conn, tables=CREDENTIAL_TABLES)
        init_db(eng)
        assert migrate.current(eng) == _head()
        assert {"issuer_key", "member", "member_certificate", "signed_list"} <= set(
            inspect(eng).get_table_names()
        )
    finally:
        eng.dispose()
