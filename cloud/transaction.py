"""One unit of work on the database: a session that commits on success and rolls back on
error. Below every package (`cloud.db` imports every table module to create the schema, so a
library module that only needs a transaction imports it from here)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlmodel import Session


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
