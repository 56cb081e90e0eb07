"""Schema migrations to head at start-up, safe when several processes start at once.

`upgrade(engine)` is what `cloud.db.init_db` runs. The whole upgrade is one transaction
holding a lock (PostgreSQL: an advisory lock keyed on the current schema; SQLite: the write
lock), so two workers starting together run it once: the second waits, then finds the schema
at head. A database created by
the foundation's `create_all` (tables but no `alembic_version`) is stamped at the first
revision, which is that schema, and upgraded from there.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, Table, inspect, text
from sqlmodel import SQLModel

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001"  # the foundation's schema, as `create_all` made it before migrations
LOCK_NAMESPACE = "waystation-migrate:"


def target_metadata() -> MetaData:
    """Every cloud table model, for autogenerate (import models first so they register)."""
    import cloud.models  # noqa: F401

    return SQLModel.metadata


def config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _lock(conn: Connection) -> None:
    """Serialise concurrent upgrades: an advisory lock on PostgreSQL, the write lock on SQLite
    (taken up front, so DDL and the version row commit together or not at all)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:ns || current_schema()))"),
            {"ns": LOCK_NAMESPACE},
        )


def upgrade(engine: Engine, revision: str = "head", *, also_create: Sequence[Table] = ()) -> None:
    """Bring the schema to `revision` (default head); a no-op when it is there already.

    `also_create`: tables no migration makes yet, created under the same lock afterwards."""
    with engine.begin() as conn:
        _lock(conn)
        cfg = config(conn)
        names = set(inspect(conn).get_table_names())
        if "alembic_version" not in names and "station" in names:
            command.stamp(cfg, BASELINE)
        command.upgrade(cfg, revision)
        if also_create:
            SQLModel.metadata.create_all(conn, tables=list(also_create))


def current(engine: Engine) -> str | None:
    """The revision the database is at, None before the first migration."""
    with engine.connect() as conn:
        if "alembic_version" not in inspect(conn).get_table_names():
            return None
        return conn.scalar(text("SELECT version_num FROM alembic_version"))


@functools.cache
def head() -> str:
    """The newest revision in `cloud/migrations` (read once per process: files don't change
    under a running one)."""
    found = ScriptDirectory.from_config(config()).get_current_head()
    if found is None:  # pragma: no cover - the package ships its migrations
        raise RuntimeError(f"no migrations in {MIGRATIONS}")
    return found


def off_head(engine: Engine) -> str | None:
    """None when the database is at head; else what it is at against head, in words."""
    at = current(engine)
    if at == head():
        return None
    return f"database at {at or 'no revision (empty or unmigrated)'}, head is {head()}"
