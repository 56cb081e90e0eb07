"""Role order, password rules, the audit helper on every kind of handle, and migration 0005
adopting tables a development database created before it existed."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, MetaData, inspect, select
from sqlmodel import Session

from cloud import migrate
from cloud.auth import TABLES, Principal, Role, audit, create_user, issue_token, passwords
from cloud.auth.models import AuditEntry, OpsUser
from cloud.db import init_db, make_engine


def test_roles_compare_by_rank_not_spelling() -> None:
    assert Role.VIEWER < Role.OPERATOR < Role.ADMIN
    assert Role.ADMIN >= Role.OPERATOR
    assert not Role.ADMIN < Role.VIEWER  # as strings, "admin" < "viewer"
    assert sorted([Role.ADMIN, Role.VIEWER, Role.OPERATOR]) == list(Role)
    assert Role.OPERATOR.at_least(Role.VIEWER)
    assert not Role.OPERATOR.at_least(Role.ADMIN)
    assert Role("operator") is Role.OPERATOR


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("correct horse battery", True),
        ("Tr0ub4dor&3x", True),
        ("short1!", False),
        ("x" * 300, False),
        ("abababababab", False),
        ("Password1", False),
        ("administrator", False),
        ("my-name-is-alice", False),
    ],
)
def test_password_strength_rule(password: str, ok: bool) -> None:
    assert (passwords.weakness(password, "alice") is None) is ok


def test_hashes_are_argon2id_and_a_broken_hash_is_a_mismatch() -> None:
    h = passwords.hash_password("correct horse battery")
    assert h.startswith("$argon2id$")
    assert passwords.verify_password(h, "correct horse battery")
    assert not passwords.verify_password(h, "correct horse batterY")
    assert not passwords.verify_password("not a hash", "x")
    assert passwords.needs_rehash("not a hash")


def test_audit_joins_the_callers_transaction_or_commits_alone(engine: Engine) -> None:
    who = Principal("op", Role.OPERATOR, "session", "192.0.2.1")
    with Session(engine) as s:
        audit(s, who, "alarm.ack", "st-1", {"alarm": 7})
        s.rollback()  # the action failed: its record goes too
    with engine.begin() as conn:
        audit(conn, who, "door.unlock", "st-2", {"seconds": 5})
    audit(engine, who, "config.change", "st-3", {"version": 4})
    with Session(engine) as s:
        rows = list(s.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars())  # type: ignore[arg-type]
    assert [(r.action, r.target, r.detail, r.ip, r.role) for r in rows] == [
        ("door.unlock", "st-2", {"seconds": 5}, "192.0.2.1", "operator"),
        ("config.change", "st-3", {"version": 4}, "192.0.2.1", "operator"),
    ]
    assert all(r.at.tzinfo is not None for r in rows)


def test_helpers_store_only_hashes(engine: Engine) -> None:
    create_user(engine, "Helper", Role.OPERATOR, "pw")  # tests may use any non-empty password
    token = issue_token(engine, "helper")
    with Session(engine) as s:
        user = s.get(OpsUser, "helper")
        assert user is not None
        assert "pw" not in user.password_hash
    with engine.connect() as conn:
        dump = " ".join(str(row) for t in TABLES for row in conn.execute(t.select()))
    assert token not in dump
    assert token.removeprefix("wst_") not in dump


@pytest.mark.empty_db
def test_tables_made_before_migration_0005_are_adopted(db_url: str) -> None:
    eng = make_engine(db_url)
    try:
        migrate.upgrade(eng, "0004")
        with eng.begin() as conn:
            early = {"ops_user", "ops_session", "api_token", "audit_log", "login_throttle"}
            MetaData().create_all(conn, tables=[t for t in TABLES if t.name in early])
        create_user(eng, "early", Role.ADMIN, "pw")
        init_db(eng)
        assert (migrate.current(eng) or "") >= "0005"
        assert {"ops_user", "ops_session", "api_token", "audit_log", "login_throttle"} <= set(
            inspect(eng).get_table_names()
        )
        with Session(eng) as s:
            assert s.get(OpsUser, "early") is not None
    finally:
        eng.dispose()


@pytest.mark.empty_db
def test_migration_0005_downgrades_cleanly(db_url: str) -> None:
    eng = make_engine(db_url)
    try:
        init_db(eng)
        from alembic import command

        with eng.begin() as conn:
            command.downgrade(migrate.config(conn), "0004")
        assert "ops_user" not in inspect(eng).get_table_names()
    finally:
        eng.dispose()
