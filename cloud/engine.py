"""The database engine with the per-dialect settings Waystation relies on. Below every
package: `cloud.db` (schema creation) imports every table module, so a process that only
needs an engine (the notifier, the jobs) imports this."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import create_engine

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
