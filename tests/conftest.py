"""Fixtures shared by every test package: a real Mosquitto per test, and the CI rule.

A real part that is missing skips the test on a developer's machine but fails it in CI
(`CI=true`), so a green CI never hides a test that did not run.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tests.support import pgleaks
from waystation.mosquitto import MosquittoProcess, find_binary

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
pgleaks.track()  # so `pg_database` can close what a test left open before it drops


def _loggers() -> list[logging.Logger]:
    known = logging.Logger.manager.loggerDict.values()
    return [logging.getLogger(), *(lg for lg in known if isinstance(lg, logging.Logger))]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """CLI commands configure the process's logging (`waystation.logs`, Alembic's
    fileConfig): put it back after each test, in every directory, so one test's level,
    format or handler never leaks into a test elsewhere that reads a command's output."""
    saved = {id(lg): (lg.level, list(lg.handlers), lg.propagate) for lg in _loggers()}
    yield
    for lg in _loggers():
        level, handlers, propagate = saved.get(id(lg), (logging.NOTSET, [], True))
        lg.setLevel(level)
        lg.handlers[:] = handlers
        lg.propagate = propagate


def require(reason: str) -> None:
    """Skip locally, fail in CI."""
    if IN_CI:
        pytest.fail(f"{reason} (CI must run every test)")
    pytest.skip(reason)


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoProcess]:
    """A private anonymous Mosquitto on a free port, without persistence."""
    _need_mosquitto()
    broker = MosquittoProcess(tmp_path / "mosquitto", persistence=False).start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def secure_mosquitto(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], MosquittoProcess]]:
    """Start a Mosquitto with the project's ACL and these users' passwords (persistence on)."""
    _need_mosquitto()
    started: list[MosquittoProcess] = []

    def start(users: dict[str, str]) -> MosquittoProcess:
        broker = MosquittoProcess(tmp_path / f"secure-mosquitto-{len(started)}", users=users)
        started.append(broker.start())
        return broker

    try:
        yield start
    finally:
        for broker in started:
            broker.stop()


@pytest.fixture
def need_mosquitto() -> None:
    """For tests that start Mosquitto themselves: skip (fail in CI) unless it is installed."""
    _need_mosquitto()


@pytest.fixture
def need_espeak() -> None:
    """For tests that render the door's voice prompts: skip (fail in CI) unless espeak-ng is
    installed (scripts/test installs it)."""
    if shutil.which("espeak-ng") is None:
        require("espeak-ng is not installed (apt-get install espeak-ng)")


def _need_mosquitto() -> None:
    try:
        find_binary()
        find_binary("mosquitto_passwd")
    except FileNotFoundError as exc:
        require(str(exc))


@pytest.fixture(scope="session")
def systemd_analyze() -> str:
    """systemd's own unit-file checker (Debian package `systemd`)."""
    path = shutil.which("systemd-analyze")
    if path is None:
        require("systemd-analyze is not installed (apt-get install systemd)")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def pg_base_url() -> str:
    url = os.environ.get("WAYSTATION_TEST_PG", PG_DEFAULT)
    probe = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 3})
    try:
        with probe.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        message = f"PostgreSQL not reachable at {make_url(url)!r}: {type(exc).__name__}"
        require(message)
    finally:
        probe.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to a database of its own, a tmp SQLite file or a fresh PostgreSQL database,
    already migrated to head (copied from a template migrated once per worker: migrating
    costs 0.1–0.4 s, ~1,500 tests ask). `@pytest.mark.empty_db`: an empty one instead, for
    tests of migrating itself."""
    empty = request.node.get_closest_marker("empty_db") is not None
    if request.param == "sqlite":
        path = tmp_path / "waystation.db"
        if not empty:
            shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    base = request.getfixturevalue("pg_base_url")
    if empty:
        with pg_schema(base) as url:
            yield url
        return
    with pg_database(base, template=request.getfixturevalue("_pg_template")) as url:
        yield url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`db_url` shared by a test module, migrated; its tests must leave it as they found it
    (`tests/cloud/conftest.py`'s `db` rolls each test back)."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "waystation.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    base = request.getfixturevalue("pg_base_url")
    with pg_database(base, template=request.getfixturevalue("_pg_template")) as url:
        yield url


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head, copied by `db_url` (one per worker)."""
    from cloud.db import init_db, make_engine

    path = tmp_path_factory.mktemp("template") / "migrated.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        init_db(engine)
    finally:
        engine.dispose()
    return path


@pytest.fixture(scope="session")
def _pg_template(pg_base_url: str) -> Iterator[str]:
    """A PostgreSQL database migrated to head, the template of `db_url`'s (one per worker;
    `CREATE DATABASE … TEMPLATE` copies it in ~40 ms). Its name."""
    from cloud.db import init_db, make_engine

    with pg_database(pg_base_url) as url:
        engine = make_engine(url)
        try:
            init_db(engine)
        finally:
            engine.dispose()  # a template must have no connections when it is copied
        yield make_url(url).database or ""


@pytest.fixture
def pg_url(pg_base_url: str) -> Iterator[str]:
    """A URL to a fresh PostgreSQL schema of its own (tests that need PostgreSQL only)."""
    with pg_schema(pg_base_url) as url:
        yield url


@contextmanager
def pg_database(base: str, template: str | None = None) -> Iterator[str]:
    """A new database on `base`'s server for the block (a copy of `template`, else empty),
    dropped after it, even with connections left open; its URL."""
    name = f"ws_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        copy = f' TEMPLATE "{template}" STRATEGY WAL_LOG' if template else ""
        conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        left = pgleaks.close_left_open(name)
        if left:  # shown with the test's output: the holder to look for (tests.support.pgleaks)
            print(f"pg_database: closed connections to {name} left open by {sorted(set(left))}")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def pg_schema(base: str) -> Iterator[str]:
    """A new schema in the test database for the block, dropped after it; its URL."""
    schema = f"ws_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, poolclass=NullPool)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield (
            make_url(base)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
