"""Engine, schema creation and sessions; SQLite for the demo, PostgreSQL in production."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, Table, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, create_engine

from cloud import models
from cloud.alarms import models as alarm_models
from cloud.auth import models as auth_models
from cloud.commands import models as command_models
from cloud.credentials import models as credential_models
from cloud.feedback import models as feedback_models
from cloud.notify import models as notify_models
from cloud.stations import desired_config, holidays

# How long a SQLite writer waits for another writer's lock before failing (milliseconds). The
# ingest worker and the API share one file; a batch commit takes milliseconds, so 5 s only
# runs out when something is badly wrong.
SQLITE_BUSY_TIMEOUT_MS = 5_000


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url` with the per-dialect settings Waystation relies on.

    SQLite: WAL (readers never block the writer), busy timeout, foreign keys on (as PostgreSQL
    enforces them), usable from the ingest writer thread and the API threads. PostgreSQL:
    `pool_pre_ping` so a database restart costs one failed ping, not one failed request.
    Creating the engine does no I/O.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        memory = parsed.database in (None, "", ":memory:")
        engine_kwargs: dict[str, Any] = {
            "connect_args": {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        }
        if memory:  # one shared connection, or every thread would see its own empty database
            engine_kwargs["poolclass"] = StaticPool
        engine = create_engine(url, **engine_kwargs | kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, **{"pool_pre_ping": True} | kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # The busy timeout first: switching a brand-new file to WAL needs a lock that another
        # process starting at the same moment may hold.
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across application crashes in WAL mode; only an OS crash or power
        # cut can lose the last commits, which the edges then re-send (no ack was sent).
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def init_db(engine: Engine) -> None:
    """Migrate the schema to head (Alembic, `cloud/migrations`); safe on every start and when
    several processes start at once (see `cloud.migrate`).

    Table models that no migration creates yet (a feature in development) are then created
    plainly, so they work before their migration is written; their migration must tolerate
    finding the table already there in such development databases.
    """
    from cloud import migrate

    migrate.upgrade(engine, also_create=_unmigrated())


def migrated_tables() -> list[Table]:
    """Every table the Alembic migrations create; a feature adds its `TABLES` here."""
    return [
        *models.TABLES,
        *credential_models.TABLES,
        *alarm_models.TABLES,
        *auth_models.TABLES,
        *command_models.TABLES,
        *feedback_models.TABLES,
        *holidays.TABLES,
        *desired_config.TABLES,
        *notify_models.TABLES,
    ]


def _unmigrated() -> list[Table]:
    migrated = {t.name for t in migrated_tables()}
    return [t for t in SQLModel.metadata.sorted_tables if t.name not in migrated]


@contextmanager
def session(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error.

    `expire_on_commit=False` keeps loaded objects readable after the block, which is what
    callers returning ORM objects out of the block expect.
    """
    with Session(engine, expire_on_commit=False) as s:
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
