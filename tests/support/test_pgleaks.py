"""A per-test PostgreSQL database is dropped with no connection left open to it."""

from __future__ import annotations

import gc
import warnings

from sqlalchemy import create_engine, text

from tests.conftest import pg_database


def test_a_connection_a_test_left_open_is_closed_before_its_database_is_dropped(
    pg_base_url: str,
) -> None:
    with pg_database(pg_base_url) as url:
        engine = create_engine(url)  # pooled, never disposed: what a leaking holder does
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        dbapi = engine.pool._pool.queue[0].dbapi_connection  # type: ignore[attr-defined]
        assert dbapi is not None
        assert not dbapi.closed
    # the database is gone; before, the pooled connection stayed open and its collection
    # later warned "deleted while still open" in whichever test ran the collector
    assert dbapi.closed
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del conn, dbapi, engine
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
