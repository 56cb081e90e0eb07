"""`waystation cloud users …`: bootstrap the first admin, list, disable, issue a token; the
token then works against the API and every change is in the audit log."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import Session
from typer.testing import CliRunner

from cloud.auth.models import AuditEntry
from waystation.cli import app

from .conftest import PASSWORD


def _users(runner: CliRunner, db_url: str, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, ["cloud", "users", *args, "--db", db_url], input=stdin)
    return result.exit_code, result.output


def test_bootstrap_an_admin_then_manage_with_the_cli(
    db_url: str, engine: Engine, client: TestClient
) -> None:
    runner = CliRunner()
    code, out = _users(runner, db_url, "add", "Root", "--role", "admin", "--password-stdin",
                       stdin=PASSWORD + "\n")  # fmt: skip
    assert code == 0, out
    assert "created root (admin)" in out
    code, out = _users(runner, db_url, "add", "ops1", "--role", "operator", "--password-stdin",
                       stdin=PASSWORD + "\n")  # fmt: skip
    assert code == 0, out
    r = client.post("/api/v1/ops/auth/login", json={"username": "root", "password": PASSWORD})
    assert r.status_code == 200

    code, out = _users(runner, db_url, "token", "ops1", "--name", "unlock-bot")
    assert code == 0, out
    token = out.strip().removeprefix("token: ")
    assert token.startswith("wst_")
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/ops/auth/me", headers=auth).json()["username"] == "ops1"

    code, out = _users(runner, db_url, "list")
    assert code == 0
    lines = out.strip().splitlines()
    assert [line.split("\t")[:3] for line in lines] == [
        ["ops1", "operator", "enabled"],
        ["root", "admin", "enabled"],
    ]
    assert "last login never" in lines[0]
    assert "last login 20" in lines[1]

    code, out = _users(runner, db_url, "disable", "ops1")
    assert code == 0, out
    assert client.get("/api/v1/ops/auth/me", headers=auth).status_code == 401
    code, out = _users(runner, db_url, "disable", "root")
    assert code == 2
    assert "last enabled admin" in out

    with Session(engine) as s:
        log = [(e.action, e.target) for e in s.execute(select(AuditEntry)).scalars()]  # type: ignore[arg-type]
        users = {e.username for e in s.execute(select(AuditEntry)).scalars()}  # type: ignore[arg-type]
    assert ("user.create", "root") in log
    assert ("token.create", "ops1") in log
    assert ("user.disable", "ops1") in log
    assert any(u.startswith("cli:") for u in users)


def test_weak_empty_duplicate_and_bad_names_are_refused(db_url: str, engine: Engine) -> None:
    runner = CliRunner()
    for password in ("", "short", "aaaaaaaaaaaaaa", "password1", "xx-alice-xx-long"):
        code, out = _users(runner, db_url, "add", "alice", "--password-stdin",
                           stdin=password + "\n")  # fmt: skip
        assert code == 2, password
        assert "password" in out
    code, out = _users(runner, db_url, "add", "bad name!", "--password-stdin", stdin=PASSWORD)
    assert code == 2
    assert "username" in out
    code, _ = _users(runner, db_url, "add", "alice", "--role", "root", "--password-stdin",
                     stdin=PASSWORD)  # fmt: skip
    assert code != 0
    code, out = _users(runner, db_url, "add", "alice", "--password-stdin", stdin=PASSWORD)
    assert code == 0, out
    code, out = _users(runner, db_url, "add", "ALICE", "--password-stdin", stdin=PASSWORD)
    assert code == 2
    assert "exists" in out
    code, out = _users(runner, db_url, "token", "nobody")
    assert code == 2
    assert "no user" in out


def test_prompted_password_must_be_confirmed(db_url: str, engine: Engine) -> None:
    runner = CliRunner()
    code, out = _users(runner, db_url, "add", "bob", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert code == 0, out
    code, out = _users(runner, db_url, "list")
    assert out.startswith("bob\tviewer\tenabled")


def test_scoped_accounts_from_the_cli(db_url: str, engine: Engine, client: TestClient) -> None:
    """`users add … --operator … --city …` (repeatable), `users scope`, `users list`."""
    runner = CliRunner()
    code, out = _users(runner, db_url, "add", "binzhou-ccb", "--role", "operator",
                       "--operator", "建设银行", "--operator", "邮政", "--city", "滨州",
                       "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    assert code == 0, out
    assert "scope operator=建设银行,邮政 city=滨州" in out
    code, out = _users(runner, db_url, "token", "binzhou-ccb")
    auth = {"Authorization": f"Bearer {out.strip().removeprefix('token: ')}"}
    scope = client.get("/api/v1/ops/auth/me", headers=auth).json()["scope"]
    assert scope == {"everything": False, "operators": ["建设银行", "邮政"], "cities": ["滨州"]}

    code, out = _users(runner, db_url, "scope", "binzhou-ccb", "--city", "济南")
    assert code == 0, out
    assert client.get("/api/v1/ops/auth/me", headers=auth).json()["scope"]["cities"] == ["济南"]
    code, out = _users(runner, db_url, "list")
    assert out.strip().split("\t")[-1] == "scope city=济南"
    code, out = _users(runner, db_url, "scope", "binzhou-ccb")  # neither a limit nor --all
    assert code == 2
    code, out = _users(runner, db_url, "scope", "binzhou-ccb", "--all")
    assert code == 0, out
    assert client.get("/api/v1/ops/auth/me", headers=auth).json()["scope"]["everything"]

    code, out = _users(runner, db_url, "add", "boss", "--role", "admin", "--city", "滨州",
                       "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    assert code == 2
    assert "union-wide" in out
    code, out = _users(runner, db_url, "scope", "binzhou-ccb", "--operator", " ")
    assert code == 2
    assert "empty operator" in out
    with Session(engine) as s:
        log = [(e.action, e.detail) for e in s.execute(select(AuditEntry)).scalars()]  # type: ignore[arg-type]
    assert ("user.scope", {"from": "city=济南", "to": "all"}) in log
