"""Psycopg connections the tests open, so a per-test database is dropped with none left open.

`tests/conftest.py`'s `pg_database` drops each test's PostgreSQL database `WITH (FORCE)`,
which ends the server side of any connection still open to it, but not the Python object:
when that object is collected later, psycopg warns "connection … was deleted while still
open" (a `ResourceWarning`), and the suite turns warnings into errors, so an unrelated test
that happens to run the collector fails. CI saw this twice (an IDLE connection to a dropped
`ws_test_…` database, caught in `tests/security/test_sec_login_abuse.py`), about one run in
six. Two runs that listed, after each test, every connection still open to a dropped
database found none: the leak did not happen in them, so its holder is still unknown (most
likely something alive past its test's teardown, such as a thread that ends later).

`track()` wraps `psycopg.connect` (what SQLAlchemy's psycopg dialect calls) to remember
each connection and the test that opened it, weakly; `close_left_open(dbname)` closes the
ones still open to a database about to be dropped and says which tests opened them, so the
drop leaves nothing for the collector to warn about and the opener is still named.
"""

from __future__ import annotations

import os
import weakref
from typing import Any

import psycopg

_opened: weakref.WeakKeyDictionary[psycopg.Connection[Any], str] = weakref.WeakKeyDictionary()
_stock_connect = psycopg.connect


def _connect(*args: Any, **kwargs: Any) -> psycopg.Connection[Any]:
    conn = _stock_connect(*args, **kwargs)
    _opened[conn] = os.environ.get("PYTEST_CURRENT_TEST", "?")
    return conn


def track() -> None:
    """Remember every connection opened from now on (idempotent)."""
    psycopg.connect = _connect  # type: ignore[assignment]


def close_left_open(dbname: str) -> list[str]:
    """Close the tracked connections still open to `dbname`; the tests that opened them."""
    openers: list[str] = []
    for conn, opener in list(_opened.items()):
        if conn.closed or conn.info.dbname != dbname:
            continue
        openers.append(opener)
        conn.close()
    return openers
