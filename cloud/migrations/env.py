"""Alembic environment: runs on the connection `cloud.migrate` hands over in `attributes`,
or on `sqlalchemy.url` when invoked from the `alembic` command line."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from cloud.migrate import target_metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///waystation.db")
    with engine.begin() as conn:
        _migrate(conn)
    engine.dispose()


def _migrate(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata(),
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
